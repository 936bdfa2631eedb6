"""`mcp-browsa demo`: serve a small page on loopback and scrape it through the real engine and browser.

Works offline, so the quickstart proves the install on any machine. Only the demo's own
host:port is exempted from the private-network block.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import Settings
from mcp_browsa.engine.requests import ScrapeRequest

__all__ = ["DEMO_PAGE", "run_demo"]

DEMO_PAGE = b"""<!doctype html><html><head><title>Browsa demo shop</title></head><body>
<h1>Wireless earbuds</h1>
<p>Rendered by a real Chromium: <span id="js">this line is replaced by JavaScript</span></p>
<ul><li><a href="/p/1">Earbuds X</a> &mdash; $39.99</li><li><a href="/p/2">Earbuds Pro</a> &mdash; $89.00</li></ul>
<script>document.getElementById('js').textContent = 'JavaScript ran in the browser.';</script>
</body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(DEMO_PAGE)))
        self.end_headers()
        self.wfile.write(DEMO_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def run_demo(settings: Settings, *, as_json: bool = False) -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exempt = ",".join(x for x in (settings.allow_private_network, f"127.0.0.1:{port}") if x)
    settings = settings.with_overrides(allow_private_network=exempt)
    url = f"http://127.0.0.1:{port}/"
    print(f"Scraping the demo page {url} in a real browser…", file=sys.stderr)
    try:
        async with Browsa(settings).running() as app:
            job = await app.scrape(Caller(), ScrapeRequest(url=url, formats=["markdown", "links"]), wait=60)
    finally:
        server.shutdown()
        server.server_close()
    if as_json:
        print(json.dumps(job.model_dump(mode="json", exclude_none=True), indent=2))
    elif job.status == "completed" and job.result:
        print(job.result["markdown"])
        print(f"\n{len(job.result['links'])} links · job {job.id} · {job.credits_charged} credit(s)")
        print("Next: add mcp-browsa to your MCP client (see README), or try `mcp-browsa scrape https://example.com`.")
    else:
        print(f"demo failed: {job.error_code}: {job.error_message}", file=sys.stderr)
    return 0 if job.status == "completed" else 1
