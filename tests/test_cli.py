"""The terminal commands, run as a user runs them: the installed `mcp-browsa` entry point in a subprocess.

All commands share one data dir, so what `scrape` did is what `jobs`, `job` and `credits` show.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcp_browsa.storage.db import LATEST_VERSION
from tests.support.mcp_server import free_port, installed_script, run_cli, server_env
from tests.support.pages import SLOW, add_pages
from tests.support.sites import Site, serve_site

ARTICLE = "/foundation/article.html"


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        yield site


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(home, *args, BROWSA_ALLOW_PRIVATE_NETWORK="1")


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


@dataclass
class TtyRun:
    returncode: int
    stdout: str  # a pipe, as when the output is redirected to a file
    terminal: str  # what stderr, a terminal, displayed


def on_terminal(home: Path, *args: str) -> TtyRun:
    """Run `mcp-browsa ARGS` with stderr on a pseudo-terminal, as at an interactive shell; stdout stays a pipe."""
    leader, follower = pty.openpty()
    shown: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # every writer has closed the terminal
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        with subprocess.Popen(
            [str(installed_script()), *args],
            env=server_env(home, BROWSA_ALLOW_PRIVATE_NETWORK="1"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
        ) as proc:
            os.close(follower)
            follower = -1
            out, _ = proc.communicate(timeout=180)
        reader.join(30)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    return TtyRun(proc.returncode, out.decode(), b"".join(shown).decode(errors="replace"))


@pytest.fixture(scope="module")
def batched(home: Path, pages: Site) -> TtyRun:
    """A batch of three pages that take a second each, one at a time, run at a terminal."""
    urls = [pages.url(f"{SLOW}?s=1&cli={n}") for n in range(3)]
    return on_terminal(home, "--max-burners", "1", "batch", *urls)


@pytest.fixture(scope="module")
def scraped(home: Path, pages: Site) -> dict[str, Any]:
    """One scrape through the CLI, in JSON; later tests read it back through the other commands."""
    job: dict[str, Any] = as_json(cli(home, "--json", "scrape", pages.url(ARTICLE), "--format", "links"))
    return job


def test_doctor_reports_the_browser_the_data_dir_and_the_schema_version(home: Path) -> None:
    report = as_json(cli(home, "doctor", "--json"))
    assert report["data_dir"] == str(home)
    assert "MISSING" not in report["browser"]
    assert report["browser_version"] and "FAILED" not in report["browser_version"]
    assert report["schema_version"] == LATEST_VERSION
    assert report["integrity"] == "ok"


def test_scrape_prints_the_page_as_markdown(home: Path, pages: Site) -> None:
    proc = cli(home, "scrape", pages.url(ARTICLE))
    assert proc.returncode == 0, proc.stderr
    assert "# Field notes on headless browsers" in proc.stdout
    assert "| Starter | $9 |" in proc.stdout
    assert proc.stdout.startswith("job ")


def test_scrape_json_is_the_job(scraped: dict[str, Any], pages: Site) -> None:
    assert scraped["status"] == "completed"
    assert scraped["kind"] == "scrape"
    assert pages.url("/foundation/details.html") in [link["url"] for link in scraped["result"]["links"]]


def test_json_flag_is_accepted_after_the_subcommand(home: Path, scraped: dict[str, Any]) -> None:
    listing = as_json(cli(home, "jobs", "--json"))
    assert scraped["id"] in [j["id"] for j in listing["jobs"]]
    assert as_json(cli(home, "credits", "--json"))["balance"] > 0


def test_jobs_lists_and_job_shows_one(home: Path, scraped: dict[str, Any]) -> None:
    listing = as_json(cli(home, "--json", "jobs", "--status", "completed", "--limit", "5"))
    assert {j["status"] for j in listing["jobs"]} == {"completed"}
    assert scraped["id"] in [j["id"] for j in listing["jobs"]]

    job = as_json(cli(home, "--json", "job", scraped["id"]))
    assert job["result"] == scraped["result"]
    shown = cli(home, "job", scraped["id"])
    assert shown.returncode == 0
    assert f"job {scraped['id']}  scrape  completed" in shown.stdout


def test_job_with_a_bad_or_unknown_id_says_so_without_a_traceback(home: Path) -> None:
    bad = cli(home, "job", "nope")
    assert bad.returncode == 1
    assert "error: BAD_REQUEST: job_id 'nope' is not a job id" in bad.stderr
    no_traceback(bad)
    unknown = cli(home, "job", str(uuid.uuid4()))
    assert unknown.returncode == 1
    assert "error: NOT_FOUND" in unknown.stderr
    no_traceback(unknown)


def test_credits_shows_the_ledger_and_credits_add_tops_up(home: Path, scraped: dict[str, Any]) -> None:
    before = as_json(cli(home, "--json", "credits"))
    assert before["ledger"][-1]["kind"] == "grant" or len(before["ledger"]) == 10
    charged = [row for row in before["ledger"] if row.get("job_id") == scraped["id"]]
    assert charged and charged[0]["kind"] == "charge"

    added = cli(home, "credits", "add", "25")
    assert added.returncode == 0, added.stderr
    assert f"balance: {before['balance'] + 25} credits" in added.stdout
    after = as_json(cli(home, "--json", "credits", "--limit", "1"))
    assert after["balance"] == before["balance"] + 25
    [top_up] = after["ledger"]
    assert top_up["kind"] == "topup" and top_up["amount"] == 25 and top_up["balance_after"] == after["balance"]


def test_credits_add_zero_is_a_usage_error_not_a_traceback(home: Path) -> None:
    proc = cli(home, "credits", "add", "0")
    assert proc.returncode == 2
    assert "usage: mcp-browsa credits add N" in proc.stderr
    no_traceback(proc)


def test_scrape_of_a_bad_url_exits_1_with_the_reason(home: Path) -> None:
    proc = cli(home, "scrape", "file:///etc/passwd")
    assert proc.returncode == 1
    assert "error: BAD_REQUEST: url uses the file: scheme" in proc.stderr
    no_traceback(proc)


def test_scrape_of_an_unreachable_host_exits_1_with_the_failure(home: Path) -> None:
    proc = cli(home, "scrape", f"http://127.0.0.1:{free_port()}/")
    assert proc.returncode == 1
    assert "failed" in proc.stdout
    assert "error: UPSTREAM_UNAVAILABLE" in proc.stdout
    assert "blocked" not in proc.stdout


def test_batch_at_a_terminal_shows_a_progress_bar_on_stderr_and_the_result_on_stdout(batched: TtyRun) -> None:
    assert batched.returncode == 0, batched.terminal
    bar = batched.terminal
    assert "\r" in bar  # redrawn in place
    for shown in ("1/3", "2/3", "3/3"):
        assert shown in bar, bar
    assert "completed  [" + "█" * 30 + "] 3/3" in bar
    assert "Traceback" not in bar
    assert batched.stdout.startswith("job ") and "  batch  completed" in batched.stdout.splitlines()[0]
    assert batched.stdout.count(" completed http://") == 3
    assert "█" not in batched.stdout  # the bar never lands in redirected output


def test_jobs_filters_by_kind(home: Path, batched: TtyRun, scraped: dict[str, Any]) -> None:
    batch_id = batched.stdout.split()[1]
    batches = as_json(cli(home, "--json", "jobs", "--kind", "batch"))["jobs"]
    assert [j["id"] for j in batches] == [batch_id]
    scrapes = as_json(cli(home, "--json", "jobs", "--kind", "scrape", "--limit", "200"))["jobs"]
    assert scraped["id"] in [j["id"] for j in scrapes]
    assert {j["kind"] for j in scrapes} == {"scrape"}
    shown = cli(home, "jobs", "--kind", "batch")
    header, row = shown.stdout.splitlines()
    assert header.split() == ["ID", "KIND", "STATUS", "AGE", "CREDITS", "URL", "/", "TASK"]
    job_id, kind, status, age, credits, *target = row.split()
    assert (job_id, kind, status, target) == (batch_id, "batch", "completed", ["3", "URLs"])
    assert age[:-1].isdigit() and age[-1] in "smhd" and int(credits) >= 3
    bad = cli(home, "jobs", "--kind", "nonsense")
    assert bad.returncode == 2 and "invalid choice: 'nonsense'" in bad.stderr


def test_demo_prints_the_demo_page_as_markdown(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "demo")  # no private-network exemption given: the demo makes its own, for its page only
    assert proc.returncode == 0, proc.stderr
    assert "# Wireless earbuds" in proc.stdout
    assert "JavaScript ran in the browser." in proc.stdout  # rendered, not the source
    assert "[Earbuds X](http://127.0.0.1:" in proc.stdout
    assert "2 links" in proc.stdout
    no_traceback(proc)


def test_install_browser_with_one_present_says_what_it_found(home: Path) -> None:
    proc = cli(home, "install-browser")
    assert proc.returncode == 0, proc.stderr
    assert "already installed" in proc.stderr
    assert proc.stdout.startswith("browser: ")


def test_jobs_shows_the_url_age_and_credits_of_each_job(home: Path, scraped: dict[str, Any], pages: Site) -> None:
    shown = cli(home, "jobs", "--kind", "scrape", "--limit", "200")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].split()[:5] == ["ID", "KIND", "STATUS", "AGE", "CREDITS"]
    row = next(line for line in shown.stdout.splitlines() if line.startswith(scraped["id"]))
    assert row.split()[1:3] == ["scrape", "completed"]
    assert row.split()[4] == str(scraped["credits_charged"]) and row.endswith(pages.url(ARTICLE))


def test_scrape_and_batch_say_when_a_page_answered_with_an_error(home: Path, pages: Site) -> None:
    missing = pages.url("/foundation/no-such-page.html")
    scraped = cli(home, "scrape", missing)
    assert scraped.returncode == 0, scraped.stderr
    assert "  completed  " in scraped.stdout.splitlines()[0] and "HTTP 404" in scraped.stdout.splitlines()[0]
    fine = cli(home, "scrape", pages.url(ARTICLE))
    assert "HTTP " not in fine.stdout.splitlines()[0]  # a 200 page says nothing about its status
    batched = cli(home, "batch", pages.url(ARTICLE), missing)
    rows = [line for line in batched.stdout.splitlines() if line.startswith("  [")]
    assert "HTTP" not in rows[0] and "NO_TARGET" in rows[1] and "HTTP 404" in rows[1], rows
