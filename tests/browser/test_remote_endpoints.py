"""BROWSA_BROWSER_WS and BROWSA_EGRESS_LISTEN as an operator writes them: what is taken, and what stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_browsa.cli import main
from mcp_browsa.config import load_settings
from mcp_browsa.remote_endpoints import parse_browser_endpoints, parse_listen


def test_each_kind_of_endpoint_is_recognised_in_a_comma_list() -> None:
    raw = (
        "ws://browsers.internal:3000/, http://10.0.0.7:9222,"
        "ws://10.0.0.8:9222/devtools/browser/6a1e0c9e-5f7a,wss://farm.example.com/pw?token=abc"
    )
    endpoints = parse_browser_endpoints(raw)
    assert [(e.kind, e.name) for e in endpoints] == [
        ("playwright", "ws://browsers.internal:3000/"),
        ("cdp", "http://10.0.0.7:9222"),
        ("cdp", "ws://10.0.0.8:9222/devtools/browser/6a1e0c9e-5f7a"),
        ("playwright", "wss://farm.example.com/pw"),  # the token stays out of logs and doctor
    ]
    assert endpoints[3].url == "wss://farm.example.com/pw?token=abc"


def test_launch_options_in_a_playwright_server_url_keep_their_commas_and_leave_the_url() -> None:
    raw = 'ws://127.0.0.1:3000/?launch-options={"executablePath":"/usr/bin/chromium","headless":true},http://h:9222'
    first, second = parse_browser_endpoints(raw)
    assert first.launch_options == {"executablePath": "/usr/bin/chromium", "headless": True}
    assert first.url == "ws://127.0.0.1:3000/"
    assert second.kind == "cdp"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("browsers.internal:3000", "is not a ws(s)://"),
        ("ftp://h:21/", "is not a ws(s)://"),
        ("ws://h:3000/,ws://h:3000/", "listed twice"),
        ("ws://h:port/", "bad port"),
        ("ws://h:3000/?launch-options={nope", "not JSON"),
        ("ws://h:3000/?launch-options=[1]", "JSON object"),
    ],
)
def test_a_bad_endpoint_list_is_refused_naming_the_entry(raw: str, says: str) -> None:
    with pytest.raises(ValueError, match="BROWSA_BROWSER_WS") as err:
        parse_browser_endpoints(raw)
    assert says in str(err.value)


def test_the_listen_address_is_one_interface_and_a_port() -> None:
    assert parse_listen("10.0.0.5:3128") == ("10.0.0.5", 3128)
    assert parse_listen("browsa.internal:3128") == ("browsa.internal", 3128)
    assert parse_listen("[fd00::5]:3128") == ("fd00::5", 3128)
    for bad in ("10.0.0.5", "10.0.0.5:0", "10.0.0.5:99999", ":3128", "fd00::5:3128"):
        with pytest.raises(ValueError, match="BROWSA_EGRESS_LISTEN"):
            parse_listen(bad)
    for wildcard in ("0.0.0.0:3128", "[::]:3128", "*:3128"):
        with pytest.raises(ValueError, match="every interface"):
            parse_listen(wildcard)


def test_a_listen_address_without_remote_browsers_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="set BROWSA_BROWSER_WS too"):
        load_settings({"BROWSA_HOME": str(tmp_path), "BROWSA_EGRESS_LISTEN": "10.0.0.5:3128"})
    settings = load_settings(
        {"BROWSA_HOME": str(tmp_path), "BROWSA_EGRESS_LISTEN": "10.0.0.5:3128", "BROWSA_BROWSER_WS": "ws://h:3000/"}
    )
    assert (settings.browser_ws, settings.egress_listen) == ("ws://h:3000/", "10.0.0.5:3128")


def test_the_command_line_names_a_bad_setting_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROWSA_HOME", str(tmp_path))
    assert main(["--browser-ws", "browsers.internal:3000", "jobs"]) == 2
    assert "BROWSA_BROWSER_WS" in capsys.readouterr().err
    monkeypatch.setenv("BROWSA_EGRESS_LISTEN", "0.0.0.0:3128")
    assert main(["--browser-ws", "ws://h:3000/", "jobs"]) == 2
    assert "every interface" in capsys.readouterr().err
