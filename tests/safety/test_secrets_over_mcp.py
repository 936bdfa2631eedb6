"""Vaulted credentials end to end: set at the terminal, used by `login` and by an agent task over stdio, seen by no one.

The values must reach the login site and nothing else: not the fake LLM vendor (every request body it received is
scanned), not a tool result, not job events, not a webhook delivery, not the server's DEBUG log, and not the SQLite
file or its WAL in clear.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.safety.conftest import PASSWORD, USERNAME, Stack
from tests.support.fake_llm import PolicyReply, PolicyRequest, find_index
from tests.support.mcp_server import call, finished, ok, server_env
from tests.support.sites import Site
from tests.support.vault_server import vault_set

pytestmark = pytest.mark.anyio

CODE = "ZX-48151623"  # the secret answer a human gives through respond_to_job(secret=true)
SECRETS = (USERNAME, PASSWORD, CODE)


def spellings(value: str) -> list[str]:
    return [value, quote_plus(value), quote(value, safe=""), json.dumps(value)[1:-1]]


def assert_absent(where: str, text: str) -> None:
    for value in SECRETS:
        for spelling in spellings(value):
            assert spelling not in text, f"{spelling!r} found in {where}"


class Agent:
    """The fake model's side of the task: log in with placeholders, ask for the code, type it, finish."""

    def __call__(self, request: PolicyRequest) -> PolicyReply:
        # The vendor's own check, on every call: a failure here fails the test when the fake server stops.
        assert_absent("a request the LLM vendor received", json.dumps(request.body))
        obs = request.observation
        answer = re.search(r"\{\{secret:(_job\.[^}]+)\}\}", obs)
        if find_index(obs, "type=password") is not None:
            if "filled" not in obs and "typed" not in obs:
                user = find_index(obs, "type=email") or find_index(obs, "name=username")
                return PolicyReply.tool("type", index=user, text="{{secret:site_username}}")
            return PolicyReply.tool(
                "type", index=find_index(obs, "type=password"), text="{{secret:site_password}}", submit=True
            )
        if "Verified" in obs or "TITLE: Welcome" in obs:
            return PolicyReply.tool("done", result="signed in")
        if answer is None:
            return PolicyReply.tool("ask_human", question="What is the verification code you received?")
        return PolicyReply.tool("type", index=find_index(obs, "name=code"), text=answer.group(0), submit=True)


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Stack:
    stack.fake.reset(Agent())
    hook = ok(await call(stack.client, "create_webhook", {"url": stack.hooks.url, "events": ["job.completed"]}))
    stack.hooks.secret = hook["secret"]
    return stack


async def test_login_fills_the_vaulted_credentials_and_reveals_neither(env: Stack, public: Site) -> None:
    result = await call(env.client, "login", {"service": "site", "url": public.url("/login")})
    job = ok(result)
    assert job["status"] == "completed", job
    assert job["result"]["logged_in"] is True
    assert job["result"]["title"] == "Account of ••••"
    assert ("/login", {"email": USERNAME, "password": PASSWORD}) in env.logins.posts
    assert_absent("the login tool's result", json.dumps([c.model_dump() for c in result.content]))


def test_the_vault_command_never_prints_a_value(env: Stack) -> None:
    done = vault_set(env.home, "spare_password", CODE)
    assert "stored spare_password" in done.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "mcp_browsa", "vault", "list", "--json"],
        env=server_env(env.home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = [s["name"] for s in json.loads(listed.stdout)["secrets"]]
    assert names == ["site_password", "site_username", "spare_password"]
    assert_absent("the vault commands' output", done.stdout + done.stderr + listed.stdout + listed.stderr)


async def test_login_refuses_to_send_credentials_to_another_host(env: Stack, public: Site, cdn: Site) -> None:
    cdn.requests.clear()
    for page in ("/exfil", "/exfil?method=get"):
        result = await call(env.client, "login", {"service": "site", "url": public.url(page)})
        body = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert result.is_error and body["code"] == "FORBIDDEN", body
        assert body["job_error_code"] == "BLOCKED" and "allowed_domains" in body["error"]
        assert_absent("the login tool's error", json.dumps(body))
    assert cdn.requests == []


async def test_a_missing_secret_is_named_and_no_job_starts(env: Stack, public: Site) -> None:
    result = await call(env.client, "login", {"service": "bank", "url": public.url("/login")})
    assert result.is_error
    body = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert body["code"] == "NOT_FOUND"
    assert "bank_username, bank_password" in body["error"]


async def test_an_agent_task_types_secrets_it_never_sees_and_a_secret_answer_stays_sealed(
    env: Stack, public: Site
) -> None:
    task = "Sign in with {{secret:site_username}} and {{secret:site_password}}, then verify the device."
    job = ok(await call(env.client, "run_task", {"task": task, "initial_url": public.url("/login"), "max_steps": 8}))
    waiting = ok(await call(env.client, "get_job", {"job_id": job["id"], "wait": 60}))
    assert waiting["status"] == "input_required", waiting
    answered = await call(env.client, "respond_to_job", {"job_id": job["id"], "answer": CODE, "secret": True})
    assert not answered.is_error, answered.content
    assert_absent("respond_to_job's result", json.dumps(answered.structured_content))
    done = await finished(env.client, job["id"])
    assert done["status"] == "completed", done
    assert ("/login", {"email": USERNAME, "password": PASSWORD}) in env.logins.posts
    assert ("/verify", {"code": CODE}) in env.logins.posts
    assert_absent("the task's result", json.dumps(done))
    # The vendor saw placeholders and masks only, in every request it got.
    env.fake.check()
    bodies = json.dumps([r["body"] for r in env.fake.requests])
    assert "{{secret:site_password}}" in bodies
    assert_absent("what the LLM vendor received", bodies)


async def test_values_a_get_form_puts_in_the_url_stay_out_of_the_tasks_record(env: Stack, public: Site) -> None:
    task = "Sign in with {{secret:site_username}} and {{secret:site_password}}."
    args = {"task": task, "initial_url": public.url("/get-login"), "max_steps": 5}
    job = ok(await call(env.client, "run_task", {**args, "screenshots": {"mode": "every_step"}}))
    done = await finished(env.client, job["id"])
    assert done["status"] == "completed", done
    assert ("/welcome", {"username": USERNAME, "password": PASSWORD}) in env.logins.posts
    assert "password=••••" in done["result"]["final_url"]
    assert_absent("the task's result", json.dumps(done))
    env.fake.check()
    assert_absent("what the LLM vendor received", json.dumps([r["body"] for r in env.fake.requests]))


async def test_nothing_reaches_webhooks_events_the_log_or_the_database_file(env: Stack) -> None:
    # The two tasks are announced; a synchronous login is not (only async work fires webhooks).
    env.hooks.wait_for(lambda ds: sum(d.event["type"] == "job.completed" for d in ds) >= 2)
    assert_absent("webhook deliveries", "".join(d.body.decode() for d in env.hooks.deliveries))
    db = env.home / "browsa.db"
    conn = sqlite3.connect(db)
    try:
        rows: list[Any] = conn.execute("SELECT type, data FROM job_events").fetchall()
        rows += conn.execute("SELECT params, result, error_message, question, answer, last_action FROM jobs").fetchall()
    finally:
        conn.close()
    assert any(r[0] == "human.answered" for r in rows)
    assert_absent("job events and job rows", json.dumps(rows))
    raw = b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
    assert_absent("the SQLite file and its WAL", raw.decode("latin-1"))
    logged = env.log.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in logged  # the log is as verbose as it gets, and still clean
    assert_absent("the server's log", logged)
