"""What pages do on their own during a session, over stdio MCP: dialogs held for the caller, uploads from the
operator's directory only, downloads saved and reported, new tabs followed; extract and screenshot on a session;
the idle timeout; a browser that dies is reported and a new session opens.
"""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path

import anyio
import pytest

from tests.sessions.conftest import REPORT, Stack
from tests.sessions.test_drive_over_mcp import act, index_of, open_session
from tests.support.mcp_server import call, envelope, finished, ok
from tests.support.procs import processes_naming, wait_gone
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def test_dialogs_wait_for_the_callers_answer(stack: Stack, site: Site) -> None:
    client = stack.client
    sid = (await open_session(client, initial_url=site.url("/sessions/dialogs.html")))["session_id"]
    page = ok(await call(client, "observe", {"session_id": sid}))["observation"]

    asked = await act(client, sid, "click", index=index_of(page, r"Delete draft"))
    assert asked["dialog"] == "confirm 'Delete the draft?'" and "DIALOG (open)" in asked["observation"]
    busy = envelope(await call(client, "act", {"session_id": sid, "action": "scroll", "direction": "down"}))
    assert busy["code"] == "BAD_REQUEST" and "accept_dialog" in busy["error"]
    dismissed = await act(client, sid, "dismiss_dialog")
    assert dismissed["outcome"].startswith("dismissed confirm") and "kept" in dismissed["observation"]

    await act(client, sid, "click", index=index_of(page, r"Delete draft"))
    assert "deleted" in (await act(client, sid, "accept_dialog"))["observation"]

    prompted = await act(client, sid, "click", index=index_of(page, r"Greet"))
    assert prompted["dialog"].startswith("prompt 'Your name?'")
    assert "hello Grace" in (await act(client, sid, "accept_dialog", text="Grace"))["observation"]
    nothing = envelope(await call(client, "act", {"session_id": sid, "action": "accept_dialog"}))
    assert nothing["code"] == "BAD_REQUEST" and "no dialog" in nothing["error"]
    ok(await call(client, "close_session", {"session_id": sid}))


async def test_uploads_come_only_from_the_upload_dir(stack: Stack, site: Site, tmp_path: Path) -> None:
    client = stack.client
    sid = (await open_session(client, initial_url=site.url("/sessions/files.html")))["session_id"]
    page = ok(await call(client, "observe", {"session_id": sid}))["observation"]
    field = index_of(page, r"type=file")
    outside = tmp_path / "private.key"
    outside.write_text("not for upload")
    for path in ("../" * 8 + str(outside).lstrip("/"), str(outside), "missing.txt"):
        refused = envelope(
            await call(client, "act", {"session_id": sid, "action": "upload", "index": field, "path": path})
        )
        assert refused["code"] == "BAD_REQUEST", path
    assert "cv.txt" in refused["error"]  # a missing file names what the directory holds
    chosen = await act(client, sid, "upload", index=field, path="cv.txt")
    assert "picked cv.txt (22 bytes)" in chosen["observation"]
    ok(await call(client, "close_session", {"session_id": sid}))


async def test_downloads_are_saved_and_new_tabs_followed(stack: Stack, site: Site) -> None:
    client = stack.client
    sid = (await open_session(client, initial_url=site.url("/sessions/files.html")))["session_id"]
    page = ok(await call(client, "observe", {"session_id": sid}))["observation"]

    got = await act(client, sid, "click", index=index_of(page, r"Download the report"))
    [saved] = got["downloads"]
    assert saved["name"] == "visits.csv" and saved["bytes"] == len(REPORT)
    assert await anyio.Path(saved["path"]).read_bytes() == REPORT
    assert Path(saved["path"]).is_relative_to(stack.home)
    assert f"downloaded visits.csv ({len(REPORT)} bytes)" in got["outcome"]

    tab = await act(client, sid, "click", index=index_of(page, r"new tab"))
    assert tab["tabs"] == 2 and "new tab 1" in tab["outcome"] and "TABS: 2 (active 1)" in tab["observation"]
    assert "Wireless Earbuds Pro" in tab["observation"]
    back = await act(client, sid, "switch_tab", tab=0)
    assert back["url"].endswith("/sessions/files.html")
    ok(await call(client, "close_session", {"session_id": sid}))


async def test_extract_and_screenshot_work_on_a_session(stack: Stack, site: Site) -> None:
    client = stack.client
    sid = (await open_session(client, initial_url=site.url("/agent/product.html?id=101")))["session_id"]
    extracted = await call(client, "extract", {"session_id": sid, "prompt": "the price"})
    job = ok(extracted)
    assert job["id"] == sid and job["kind"] == "session" and "Price: $39.99" in job["result"]["content"]
    assert job["result"]["prompt"] == "the price" and "Price: $39.99" in extracted.content[0].text  # type: ignore[union-attr]

    shot = await call(client, "screenshot", {"session_id": sid, "full_page": False})
    assert ok(shot)["screenshots"] == [f"browsa://jobs/{sid}/screenshots/1"]
    [image] = [c for c in shot.content if c.type == "image"]
    assert base64.b64decode(image.data).startswith(b"\x89PNG")  # type: ignore[union-attr]

    both = envelope(await call(client, "screenshot", {"session_id": sid, "url": site.url("/")}))
    assert both["code"] == "BAD_REQUEST"
    ok(await call(client, "close_session", {"session_id": sid}))
    ended = envelope(await call(client, "extract", {"session_id": sid, "prompt": "x"}))
    assert ended["code"] == "AGENT_NOT_RUNNING"


async def test_a_session_nobody_calls_ends_at_its_idle_timeout(stack: Stack, site: Site) -> None:
    client = stack.client
    opened = await open_session(client, initial_url=site.url("/agent/cart.html"), idle_timeout="10s")
    assert opened["idle_timeout_seconds"] == 10
    job = await finished(client, opened["session_id"], timeout=60)
    assert job["status"] == "completed" and "idle timeout" in job["result"]["ended"]
    gone = envelope(await call(client, "observe", {"session_id": opened["session_id"]}))
    assert gone["code"] == "AGENT_NOT_RUNNING" and "idle timeout" in gone["error"]


async def test_a_session_whose_browser_died_says_so_and_a_new_one_opens(stack: Stack, site: Site) -> None:
    client = stack.client
    opened = await open_session(client, initial_url=site.url("/agent/cart.html"), cdp=True)
    sid = opened["session_id"]
    assert opened["cdp_url"].startswith("ws://127.0.0.1:")
    browser = [p for p in processes_naming(f"browsa-agent-{sid}") if "--type=" not in p.cmdline]
    assert len(browser) == 1
    os.kill(browser[0].pid, signal.SIGKILL)
    assert not wait_gone(browser, timeout=20)
    job = await finished(client, sid, timeout=60)
    assert job["status"] == "failed" and job["error_code"] == "INTERRUPTED"
    dead = envelope(await call(client, "observe", {"session_id": sid}))
    assert dead["code"] == "AGENT_NOT_RUNNING" and "browser closed unexpectedly" in dead["error"]
    again = await open_session(client, initial_url=site.url("/agent/cart.html"))
    assert "Your cart" in again["observation"]
    ok(await call(client, "close_session", {"session_id": again["session_id"]}))
