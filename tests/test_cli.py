"""The terminal commands, run as a user runs them: the installed `mcp-browsa` entry point in a subprocess.

All commands share one data dir, so what `scrape` did is what `jobs`, `job` and `credits` show.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_browsa.storage.db import LATEST_VERSION
from tests.support.mcp_server import free_port, run_cli
from tests.support.sites import Site, serve_site

ARTICLE = "/foundation/article.html"


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
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


def test_install_browser_with_one_present_says_what_it_found(home: Path) -> None:
    proc = cli(home, "install-browser")
    assert proc.returncode == 0, proc.stderr
    assert "already installed" in proc.stderr
    assert proc.stdout.startswith("browser: ")
