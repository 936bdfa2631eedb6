"""Hostile arguments for every MCP tool, generated with hypothesis from each tool's own input schema.

Values mix what the schema asks for with what it does not: wrong types, huge strings, deep JSON, unicode
(control characters, right-to-left, emoji, NUL), path-like and URL-like values. URLs only ever name hosts that
cannot leave the machine (literal private, loopback and reserved addresses; with `dns_names`, names under
.invalid and .test, for servers that run where nothing but loopback exists).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.from_thread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp_types import CallToolResult, Tool

__all__ = ["FUZZ_ENV", "FuzzReport", "arguments_for", "fuzz_tools", "release_identities"]

# Every code the error envelope may carry (DESIGN.md, "MCP surface").
CODES = {
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "INSUFFICIENT_CREDIT",
    "AGENT_NOT_RUNNING",
    "TOO_MANY_REQUESTS",
    "IDEMPOTENCY_CONFLICT",
    "UPSTREAM_UNAVAILABLE",
    "INTERNAL_ERROR",
}
_CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port: a model call fails at once, locally
# The server's environment: no private address exempt from the URL guard, model endpoints pointing nowhere.
FUZZ_ENV = {
    "BROWSA_ALLOW_PRIVATE_NETWORK": "",
    "BROWSA_INITIAL_CREDITS": "1000000",
    "BROWSA_MAX_BURNERS": "3",
    "BROWSA_NAV_TIMEOUT_MS": "5000",
    "ANTHROPIC_BASE_URL": _CLOSED,
    "OPENAI_BASE_URL": _CLOSED + "/v1",
    "ANTHROPIC_API_KEY": "",
    "OPENAI_API_KEY": "",
}
CALL_TIMEOUT = 60.0  # a call the server does not answer in this long counts as a hang
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

PATHS = [
    "../../../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "~/.ssh/id_rsa",
    "C:\\Windows\\System32\\config\\SAM",
    "\\\\server\\share\\file",
    "/proc/self/environ",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "browsa.db",
    "../browsa.db",
    "/dev/zero",
    "NUL",
    "CON:",
    "screenshots/../../browsa.db",
]
HOSTS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "10.0.0.1",
    "169.254.169.254",
    "192.168.0.1",
    "100.64.0.1",
    "0.0.0.0",
    "[fe80::1]",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "[64:ff9b::a00:1]",
    "224.0.0.1",
    "[fc00::1]",
    "[::]",
]
NAMES = ["example.invalid", "a.b.test", "xn--nxasmq6b.invalid", "x" * 63 + ".invalid", "localhost.invalid"]
SCHEMES = ["http", "https", "ftp", "file", "javascript", "data", "chrome", "gopher", "ws", "HTTP", "hTtPs"]
ODD_URLS = [
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://",
    "//evil.invalid/x",
    "http:\\\\10.0.0.1\\x",
    "http://user:pass@10.0.0.1:80@evil.invalid/",
    "http://10.0.0.1#@evil.invalid/",
    "http://10.0.0.1%2f@evil.invalid",
    "http://[::1",
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "view-source:http://10.0.0.1/",
    "about:blank",
    "blob:http://10.0.0.1/uuid",
    "http://\u0000.invalid/",
    "http://exa\u202emple.invalid/",
]


def _unicode(max_size: int = 64) -> st.SearchStrategy[str]:
    # Lone surrogates cannot be encoded as UTF-8 JSON at all: the client would refuse to send them.
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size)


def url_like(dns_names: bool) -> st.SearchStrategy[str]:
    hosts = HOSTS + (NAMES if dns_names else [])
    built = st.builds(
        lambda scheme, auth, host, port, path: f"{scheme}://{auth}{host}{port}{path}",
        st.sampled_from(SCHEMES),
        st.sampled_from(["", "user@", "user:pass@", "a%40b:c@"]),
        st.sampled_from(hosts),
        st.sampled_from(["", ":0", ":1", ":22", ":80", ":65535", ":65536", ":99999", ":-1", ":x"]),
        st.one_of(st.sampled_from(["/", "/a?b=c#d", "/%00", "/..%2f..%2f", "/" + "a" * 5000]), _unicode(40)),
    )
    return st.one_of(built, st.sampled_from(ODD_URLS))


def huge_string() -> st.SearchStrategy[str]:
    return st.builds(
        lambda n, c: c * n, st.integers(5_000, 400_000), st.sampled_from(["x", "é", "\u202e", "🦀", "\x00"])
    )


def deep_json() -> st.SearchStrategy[Any]:
    """Nested lists and objects, some deeper than the server's parser reads (it must still answer)."""

    def nest(depth: int, as_dict: bool) -> Any:
        value: Any = "bottom"
        for _ in range(depth):
            value = {"k": value} if as_dict else [value]
        return value

    return st.builds(nest, st.integers(20, 240), st.booleans())


def anything(dns_names: bool) -> st.SearchStrategy[Any]:
    """Any JSON value a client could send in place of the right one."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        _unicode(),
        st.sampled_from(PATHS),
        url_like(dns_names),
    )
    nested = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_unicode(12), inner, max_size=4),
        max_leaves=12,
    )
    return st.one_of(nested, huge_string(), deep_json(), st.builds(lambda n: ["x"] * n, st.integers(1000, 20_000)))


# Arguments that make a correct server legitimately wait (a long `wait`, a slow page's timeout): kept small so
# that a slow answer means a hang, not a patient server.
_SMALL = {"wait": (0, 1.5), "timeout_seconds": (0, 12), "ttl_seconds": (0, 120), "max_steps": (0, 3), "fanout": (0, 2)}


def _typed(
    schema: dict[str, Any],
    defs: dict[str, Any],
    name: str,
    dns_names: bool,
    depth: int = 0,
    known: list[str] | None = None,
) -> Any:
    """A strategy for values the schema accepts (roughly: bounds are honoured where they are easy).

    Fields named like ids also get the ids of things earlier calls created (`known`, filled as the run goes), so
    get_job, cancel_job, respond_to_job and the rest meet real jobs, webhooks and identities too.
    """
    if depth > 4:
        return anything(dns_names)
    if known is not None and (name == "id" or name.endswith("_id")) and schema.get("type") != "array":
        plain = _typed(schema, defs, name, dns_names, depth)
        real = st.integers(0, 10**6).map(lambda i: known[i % len(known)] if known else "none-yet")
        return st.one_of(plain, real)
    if "$ref" in schema:
        return _typed(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, name, dns_names, depth + 1)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    if "anyOf" in schema:
        return st.one_of([_typed(s, defs, name, dns_names, depth + 1) for s in schema["anyOf"]])
    kind = schema.get("type")
    if name in _SMALL and kind in ("number", "integer"):
        low = max(_SMALL[name][0], schema.get("minimum", 0))
        high = max(low, min(_SMALL[name][1], schema.get("maximum", _SMALL[name][1])))
        return st.integers(int(low), int(high)) if kind == "integer" else st.floats(low, high)
    if kind == "string":
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 200), 200)
        if "url" in name or name in ("initial_url",):
            return url_like(dns_names)
        return st.one_of(_unicode(high).filter(lambda s: len(s) >= low), st.sampled_from(PATHS), url_like(dns_names))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("minimum", -1e9), schema.get("maximum", 1e9), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = _typed(schema.get("items", {}), defs, name, dns_names, depth + 1)
        return st.lists(items, max_size=min(schema.get("maxItems", 5), 5))
    if kind == "object":
        props = schema.get("properties")
        if props:
            return _object(schema, defs, dns_names, depth + 1)
        return st.dictionaries(_unicode(16), anything(dns_names), max_size=4)
    return anything(dns_names)


def _object(
    schema: dict[str, Any], defs: dict[str, Any], dns_names: bool, depth: int = 0, known: list[str] | None = None
) -> Any:
    """Two calls in three are well-formed (each value of the type asked for, so they reach the work behind the
    tool); the third takes any value anywhere, an unknown key, or leaves a required one out."""
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    typed = {k: _typed(v, defs, k, dns_names, depth, known) for k, v in props.items()}
    wild = {k: st.one_of(t, anything(dns_names)) for k, t in typed.items()}

    def shape(values: dict[str, Any]) -> Any:
        return st.fixed_dictionaries(
            {k: v for k, v in values.items() if k in required},
            optional={k: v for k, v in values.items() if k not in required},
        )

    def spoil(args: dict[str, Any], more: dict[str, Any], drop: str | None) -> dict[str, Any]:
        out = {**args, **more}
        if drop is not None:
            out.pop(drop, None)
        return out

    extra = st.dictionaries(_unicode(20), anything(dns_names), max_size=2)
    drop = st.one_of(st.none(), st.sampled_from(sorted(required))) if required else st.none()
    return st.one_of(shape(typed), shape(typed), st.builds(spoil, shape(wild), extra, drop))


def arguments_for(tool: Tool, *, dns_names: bool, known: list[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    schema = tool.input_schema
    return _object(schema, schema.get("$defs", {}), dns_names, 0, known)  # type: ignore[no-any-return]


@dataclass
class FuzzReport:
    calls: int = 0
    unsendable: int = 0  # arguments the client itself could not encode (nested past its own limit)
    errors_by_code: dict[str, int] = field(default_factory=dict)
    ok_by_tool: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # hangs, dead server, non-envelope errors, internal errors
    slowest: float = 0.0
    slow_calls: list[tuple[float, str]] = field(default_factory=list)  # (seconds, call) of the five slowest
    created: set[str] = field(default_factory=set)  # ids of what successful calls returned (jobs among them)
    known: list[str] = field(default_factory=list)  # the same, for the strategies to draw from
    seconds: float = 0.0
    bad: list[str] = field(default_factory=list)


def _ids(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("id", "job_id", "webhook_id", "agent_id") and isinstance(v, str):
                found.add(v)
            _ids(v, found)
    elif isinstance(value, list):
        for v in value:
            _ids(v, found)
    elif isinstance(value, str) and _UUID.match(value):
        found.add(value)


def _judge(report: FuzzReport, tool: str, args: dict[str, Any], result: CallToolResult, took: float) -> None:
    report.calls += 1
    report.slowest = max(report.slowest, took)
    shown = json.dumps(args, ensure_ascii=True, default=str)[:300]
    report.slow_calls = sorted([*report.slow_calls, (round(took, 2), f"{tool} {shown}")], reverse=True)[:5]
    if not result.is_error:
        report.ok_by_tool[tool] = report.ok_by_tool.get(tool, 0) + 1
        if not isinstance(result.structured_content, dict):
            report.problems.append(f"{tool}: success without structured content for {shown}")
        _ids(result.structured_content, report.created)
        report.known[:] = sorted(report.created)
        return
    try:
        body = json.loads(result.content[0].text)  # type: ignore[union-attr]
    except (ValueError, IndexError, AttributeError):
        report.problems.append(f"{tool}: an error that is not the envelope for {shown}: {result.content!r:.300}")
        return
    code = body.get("code") if isinstance(body, dict) else None
    if code not in CODES or not body.get("error") or not str(body.get("request_id", "")).startswith("req_"):
        report.problems.append(f"{tool}: malformed envelope {body!r:.300} for {shown}")
        return
    report.errors_by_code[code] = report.errors_by_code.get(code, 0) + 1
    if code == "BAD_REQUEST":
        report.bad.append(tool + ": " + re.sub(r"[0-9]+|'[^']*'", "#", body["error"])[:90])
    if code == "INTERNAL_ERROR":
        report.problems.append(f"{tool}: INTERNAL_ERROR ({body['error'][:200]}) for {shown}")


async def release_identities(client: Client) -> None:
    """Destroy every running identity and close every open session. Each holds a burner slot until its TTL (or
    idle timeout): left alone, what one tool's examples opened would make the next tools' jobs queue behind them."""
    listed = await client.call_tool("list_identities", {"status": "running", "limit": 200})
    for agent in (listed.structured_content or {}).get("agents", []):
        await client.call_tool("destroy_identity", {"identity_id": agent["id"]})
    sessions = await client.call_tool("list_sessions", {})
    for session in (sessions.structured_content or {}).get("sessions", []):
        await client.call_tool("close_session", {"session_id": session["session_id"]})


async def fuzz_tools(
    client: Client,
    *,
    examples: int,
    dns_names: bool,
    derandomize: bool = True,
    alive: Callable[[], bool] = lambda: True,
) -> FuzzReport:
    """Call every tool `examples` times with generated arguments; record how each call was answered."""
    report = FuzzReport()
    tools = (await client.list_tools()).tools
    t0 = time.monotonic()

    async def one(tool: str, args: dict[str, Any]) -> None:
        try:
            json.dumps(args)
        except ValueError:
            report.unsendable += 1
            return
        started = time.monotonic()
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                result = await client.call_tool(tool, args)
        except TimeoutError:
            report.problems.append(f"{tool}: no answer in {CALL_TIMEOUT:g} s for {json.dumps(args)[:300]}")
            return
        except ValueError as exc:
            if "depth exceeded" in str(exc):  # the client's own JSON encoder gave up: nothing was sent
                report.unsendable += 1
                return
            raise
        _judge(report, tool, args, result, time.monotonic() - started)

    def run(tool: Tool, count: int) -> None:
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            derandomize=derandomize,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
        @given(args=arguments_for(tool, dns_names=dns_names, known=report.known))
        def check(args: dict[str, Any]) -> None:
            anyio.from_thread.run(one, tool.name, args)
            assert alive(), f"the server died on {tool.name} {json.dumps(args)[:300]}"

        check()

    # Two rounds: in the second, tools that take an id meet what the first round's calls created.
    for count in (examples - examples // 2, examples // 2):
        for tool in tools:
            await anyio.to_thread.run_sync(run, tool, count)
            await release_identities(client)
    report.seconds = round(time.monotonic() - t0, 1)
    return report
