"""A small docs site served from routes: a tree of Sphinx-like pages, robots.txt, a sitemap, and traps for a crawler.

Page i links to pages 2i+1 and 2i+2 (so depth is log2), back to the index, to itself with a fragment, to a
robots-disallowed page, to an external site and to an image; /docs/alias.html names page 1 as its canonical URL;
/docs/orphan.html is only in the sitemap. Pages from `gate_from` on wait for `gate` before they answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler

from tests.support.sites import Route, Site, respond

__all__ = ["DocsSite", "add_docs_site"]


@dataclass
class DocsSite:
    site: Site
    pages: int
    gate: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.site.url(path)

    def fetched(self, path: str) -> int:
        """How often `path` (exactly, query included) was requested."""
        return sum(1 for _method, p in self.site.requests if p == path)


def _page(i: int, pages: int, canonical: str | None = None) -> bytes:
    kids = "".join(f'<li><a href="/docs/p{k}.html">Chapter {k}</a></li>' for k in (2 * i + 1, 2 * i + 2) if k < pages)
    alias = '<p>See also the <a href="/docs/alias.html">alias of chapter 1</a>.</p>' if i == 3 else ""
    canon = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Chapter {i} — Docs</title>{canon}</head>
<body><div class="related" role="navigation"><a href="/docs/p0.html">index</a> | <a href="#top">top</a></div>
<div class="body" role="main"><h1>Chapter {i}</h1>
<p>Chapter {i} explains one part of the system in enough words for a reader to find it worth the visit.
It goes on for a while, so that an extractor sees a real article here and not a stub of a page.</p>
<ul>{kids}</ul>{alias}
<p>Read <a href="/docs/p{i}.html#details">the details</a>, the <a href="/docs/private/secret.html">private
notes</a>, <a href="https://example.org/elsewhere">another site</a> or the <a href="/static/logo.png">logo</a>.</p>
</div></body></html>""".encode()


def add_docs_site(site: Site, pages: int = 12, gate_from: int | None = None) -> DocsSite:
    docs = DocsSite(site, pages)

    def page(i: int, canonical: str | None = None) -> Route:
        def handle(handler: SimpleHTTPRequestHandler) -> None:
            if gate_from is not None and i >= gate_from:
                docs.gate.wait(60)
            respond(handler, _page(i, pages, canonical))

        return handle

    def text(body: str, kind: str) -> Route:
        return lambda handler: respond(handler, body.encode(), kind)

    for i in range(pages):
        site.routes[f"/docs/p{i}.html"] = page(i)
    site.routes["/docs/alias.html"] = page(1, site.url("/docs/p1.html"))
    site.routes["/docs/orphan.html"] = lambda h: respond(h, b"<title>Orphan</title><h1>Orphan</h1><p>Only listed.</p>")
    site.routes["/docs/private/secret.html"] = lambda h: respond(h, b"<title>Secret</title><p>Disallowed.</p>")
    site.routes["/robots.txt"] = text(
        f"User-agent: *\nDisallow: /docs/private/\n\nSitemap: {site.url('/sitemap.xml')}\n", "text/plain"
    )
    locs = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in ("/docs/p0.html", "/docs/orphan.html"))
    site.routes["/sitemap.xml"] = text(
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>',
        "application/xml",
    )
    return docs
