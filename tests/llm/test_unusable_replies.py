"""A model server that does not speak the vendor's API: each such reply is LLM_ERROR quoting what came back.

Driven through the real `openai` and `anthropic` SDKs against the local fake vendor, told to answer garbage.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_browsa.llm import LLMError, Message, RetryPolicy, make_chat_model, parse_llm_spec
from mcp_browsa.llm.replies import QUOTE_CHARS
from tests.support.fake_llm import FakeLLM

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdefSECRET"
FAST = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)
LOGIN_PAGE = "<!doctype html><html><head><title>Sign in</title></head><body>" + "<p>Please sign in</p>" * 40
OTHER_JSON = '{"status": "ok", "data": {"items": [1, 2, 3]}, "note": "' + "x" * 300 + '"}'


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeLLM) -> FakeLLM:
    return fake_server.reset()


def spec_for(vendor: str, fake: FakeLLM) -> str:
    base = fake.openai_base_url if vendor == "openai" else fake.anthropic_base_url
    return f"{vendor}:some-model@{base}"


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (LOGIN_PAGE, "text/html; charset=utf-8", 200),
        (OTHER_JSON, "application/json", 200),
        ('{"choices": "none here", "content": 7}', "application/json", 200),
        ("[1, 2, 3]", "application/json", 200),
        ("not json at all " + KEY, "application/json", 200),
        (LOGIN_PAGE, "text/html", 502),
    ],
    ids=["html", "other-json", "wrong-shapes", "json-list", "broken-json", "html-error-page"],
)
async def test_a_reply_in_another_format_is_llm_error_quoting_it(
    fake: FakeLLM, vendor: str, body: str, content_type: str, status: int
) -> None:
    fake.answer_garbage(body, content_type=content_type, status=status, times=3)
    model = make_chat_model(parse_llm_spec(spec_for(vendor, fake)), KEY, retry=FAST)
    try:
        with pytest.raises(LLMError) as caught:
            await model.ainvoke([Message.user("hello")], [], system="be brief")
    finally:
        await model.aclose()
    error = caught.value
    assert error.code == "LLM_ERROR"
    quoted = " ".join(body.replace(KEY, "***").split())[:40]
    assert quoted in error.message, error.message
    assert KEY not in error.message and KEY not in str(error) and KEY not in repr(error)
    # A quote, not the page: the start of it and no more.
    assert len(error.message) < QUOTE_CHARS + 200, error.message
    assert "<p>Please sign in</p>" * 20 not in error.message
