"""List prices of the hosted models in USD per million tokens, and the cost of one call.

Models we have no price for (local, OpenAI-compatible servers, brand-new ids) cost 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mcp_browsa.llm.base import Usage

__all__ = ["PRICES", "Price", "cost_usd", "price_for"]


@dataclass(frozen=True)
class Price:
    """USD per 1,000,000 tokens."""

    input: float
    output: float


PRICES: Mapping[str, Price] = MappingProxyType(
    {
        # Anthropic
        "claude-haiku-4-5": Price(1.00, 5.00),
        "claude-sonnet-4-5": Price(3.00, 15.00),
        "claude-sonnet-4": Price(3.00, 15.00),
        "claude-opus-4-5": Price(5.00, 25.00),
        "claude-opus-4-1": Price(15.00, 75.00),
        "claude-opus-4": Price(15.00, 75.00),
        "claude-3-5-haiku": Price(0.80, 4.00),
        # OpenAI
        "gpt-4.1": Price(2.00, 8.00),
        "gpt-4.1-mini": Price(0.40, 1.60),
        "gpt-4.1-nano": Price(0.10, 0.40),
        "gpt-4o": Price(2.50, 10.00),
        "gpt-4o-mini": Price(0.15, 0.60),
        "gpt-5": Price(1.25, 10.00),
        "gpt-5-mini": Price(0.25, 2.00),
        "gpt-5-nano": Price(0.05, 0.40),
    }
)


def price_for(model: str) -> Price | None:
    """The price of `model`, matching dated ids (`gpt-4.1-mini-2025-04-14`) to their family.

    The longest family that is the whole id or a `-`-separated prefix of it wins, so
    `gpt-4o-mini-…` is never billed as `gpt-4o`, and `gpt-4.10` would not match `gpt-4.1`.
    """
    name = model.strip().lower()
    best: str | None = None
    for family in PRICES:
        if (name == family or name.startswith(family + "-")) and (best is None or len(family) > len(best)):
            best = family
    return PRICES[best] if best is not None else None


def cost_usd(model: str, usage: Usage) -> float:
    price = price_for(model)
    if price is None:
        return 0.0
    return (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000
