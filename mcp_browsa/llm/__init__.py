"""Language models behind one protocol: neutral types, the `llm=` spec, prices, and the vendor adapters.

Vendor SDKs are imported only by `anthropic.py` / `openai.py`, which `make_chat_model` loads on demand.
"""

from __future__ import annotations

from mcp_browsa.llm.base import (
    ChatModel,
    ClosableChatModel,
    Completion,
    LLMError,
    LLMErrorCode,
    Message,
    Role,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
)
from mcp_browsa.llm.pricing import PRICES, Price, cost_usd, price_for
from mcp_browsa.llm.retry import RetryPolicy
from mcp_browsa.llm.spec import (
    DEFAULT_TIMEOUT,
    KEYLESS_PLACEHOLDER,
    LLMSpec,
    Provider,
    make_chat_model,
    parse_llm_spec,
    resolve_api_key,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "KEYLESS_PLACEHOLDER",
    "PRICES",
    "ChatModel",
    "ClosableChatModel",
    "Completion",
    "LLMError",
    "LLMErrorCode",
    "LLMSpec",
    "Message",
    "Price",
    "Provider",
    "RetryPolicy",
    "Role",
    "ToolCall",
    "ToolChoice",
    "ToolSpec",
    "Usage",
    "cost_usd",
    "make_chat_model",
    "parse_llm_spec",
    "price_for",
    "resolve_api_key",
]
