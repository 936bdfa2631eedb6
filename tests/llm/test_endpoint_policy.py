"""The operator's side of the model-server rule: what BROWSA_ALLOW_PRIVATE_NETWORK, BROWSA_LLM_ENDPOINTS and
BROWSA_LLM lift, read from the environment as the server reads it. No request is made here: these are the
decisions the tool call takes before any job exists (tests/safety/test_llm_endpoint_over_mcp.py drives them
end to end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_browsa.config import load_settings
from mcp_browsa.llm import parse_llm_spec
from mcp_browsa.llm.endpoint import EndpointPolicy, EndpointRefused

pytestmark = pytest.mark.anyio


def policy(tmp_path: Path, **env: str) -> EndpointPolicy:
    settings = load_settings(env={"BROWSA_HOME": str(tmp_path), **env})
    return EndpointPolicy.from_settings(settings.allow_private_network, settings.llm_endpoints, env.get("BROWSA_LLM"))


async def refusal(p: EndpointPolicy, llm: str, *, local: bool = False) -> str | None:
    try:
        await p.precheck(parse_llm_spec(llm), local=local)
    except EndpointRefused as exc:
        return exc.rule
    return None


async def test_the_browsers_exemption_lifts_that_port_and_no_other(tmp_path: Path) -> None:
    p = policy(tmp_path, BROWSA_ALLOW_PRIVATE_NETWORK="127.0.0.1:8720")
    assert await refusal(p, "openai:m@http://127.0.0.1:8720/v1") is None
    assert await refusal(p, "openai:m@http://127.0.0.1:8724/v1") == "ssrf:loopback"
    assert await refusal(p, "openai:m@http://[::1]:8720/v1") == "ssrf:loopback"  # another address


async def test_listed_endpoints_by_url_name_or_address(tmp_path: Path) -> None:
    p = policy(tmp_path, BROWSA_LLM_ENDPOINTS="http://localhost:11434/v1, 10.0.0.5:8000, [fd00::7]")
    assert await refusal(p, "openai:llama3@http://localhost:11434/v1") is None
    assert await refusal(p, "openai:llama3@http://localhost:11435/v1") == "ssrf:loopback"
    assert await refusal(p, "openai:qwen@http://10.0.0.5:8000/v1") is None
    assert await refusal(p, "openai:qwen@http://0x0a000005:8000/v1") is None  # the same address, spelt otherwise
    assert await refusal(p, "openai:qwen@http://10.0.0.6:8000/v1") == "ssrf:private"
    assert await refusal(p, "openai:m@http://[fd00::7]:9/v1") is None  # no port listed: any port


async def test_the_servers_own_model_is_trusted_however_it_is_spelt(tmp_path: Path) -> None:
    p = policy(tmp_path, BROWSA_LLM="openai:llama3@http://127.0.0.1:80/v1/")
    assert await refusal(p, "openai:other-model@http://127.0.0.1/v1") is None
    assert await refusal(p, "openai:llama3@http://127.0.0.1:81/v1") == "ssrf:loopback"


async def test_over_stdio_only_link_local_is_refused(tmp_path: Path) -> None:
    p = policy(tmp_path)
    for llm in ("openai:m@http://127.0.0.1:11434/v1", "openai:m@http://192.168.1.20/v1", "openai:m@http://[::1]:1/v1"):
        assert await refusal(p, llm, local=True) is None
    assert await refusal(p, "openai:m@http://169.254.169.254/v1", local=True) == "ssrf:link-local"
    assert await refusal(p, "openai:m@http://[::ffff:a9fe:a9fe]/v1", local=True) == "ssrf:link-local"


@pytest.mark.parametrize("bad", ["http://[::1", "ftp://models.internal/v1", "host:99999", "10.0.0.0/33"])
def test_a_typo_in_the_list_stops_the_server_at_start(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="BROWSA_LLM_ENDPOINTS"):
        load_settings(env={"BROWSA_HOME": str(tmp_path), "BROWSA_LLM_ENDPOINTS": bad})
