"""Measuring an identity in its own browser: the trust report and the read-back fingerprint, and warm-up visits.

Measurements run on a page the browser itself renders from a route-fulfilled https document, so they need no
network, pass no proxy, and see a secure context (where client hints are exposed) like any real site would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio
from playwright.async_api import BrowserContext, Page, Route
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.fingerprint import Fingerprint, fingerprint_page
from mcp_browsa.browser.trust import TrustReport, read_fingerprint, trust_report
from mcp_browsa.errors import UpstreamUnavailable
from mcp_browsa.identities.models import WarmupVisit

__all__ = ["PROBE_URL", "Measurement", "measure", "warm_up"]

log = logging.getLogger(__name__)

# .invalid never resolves (RFC 2606): should the route ever miss, the request fails instead of leaving the machine.
PROBE_URL = "https://probe.mcp-browsa.invalid/"
_PROBE_PAGE = "<!doctype html><html><head><meta charset=utf-8><title>mcp-browsa</title></head><body><p>probe</p>"


@dataclass(frozen=True)
class Measurement:
    report: TrustReport | None
    fingerprint: dict[str, Any] | None


async def _fulfil(route: Route) -> None:
    await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=_PROBE_PAGE)


async def measure(
    context: BrowserContext,
    fp: Fingerprint,
    *,
    trust: bool = True,
    fingerprint: bool = False,
    timeout: float = 30.0,
) -> Measurement:
    """Open a probe page in `context`, run the detection harness and/or read the fingerprint back, close it."""
    page: Page | None = None
    try:
        with anyio.fail_after(timeout):
            page = await context.new_page()
            # A page route wins over the context's guard route, and fulfilling never touches the network.
            await page.route(PROBE_URL + "**", _fulfil)
            await fingerprint_page(page)  # pool contexts: overrides before the first request (a no-op elsewhere)
            await page.goto(PROBE_URL, wait_until="load")
            report = await trust_report(page, expected=fp) if trust else None
            read = await read_fingerprint(page) if fingerprint else None
            return Measurement(report, read)
    except (PlaywrightError, TimeoutError) as exc:
        raise UpstreamUnavailable(f"could not measure the identity's browser: {str(exc).splitlines()[0]}") from exc
    finally:
        if page is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await page.close()
                except PlaywrightError:
                    pass


async def warm_up(page: Page, urls: tuple[str, ...], *, timeout_ms: int) -> list[WarmupVisit]:
    """Visit each URL in order; a failed visit is recorded, never fatal (the guard may refuse one, a site may be down)."""
    visits: list[WarmupVisit] = []
    for url in urls:
        try:
            response = await page.goto(url, wait_until="load", timeout=timeout_ms)
        except PlaywrightError as exc:
            visits.append(WarmupVisit(url=url, ok=False, error=str(exc).splitlines()[0][:300]))
            continue
        status = response.status if response is not None else None
        visits.append(WarmupVisit(url=url, ok=status is None or status < 400, status=status))
    return visits
