"""The smart router: which requests take the scrape path and which go to the agent, and why; URL extraction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_browsa.engine.router import MAX_WORDS, extract_urls, route

# (request, URL the scrape reads, formats)
SCRAPES: list[tuple[str, str, list[str]]] = [
    ("https://example.com", "https://example.com", ["markdown"]),
    ("  https://example.com/a/b?c=1  ", "https://example.com/a/b?c=1", ["markdown"]),
    ("open https://example.com", "https://example.com", ["markdown"]),
    ("Summarize https://news.ycombinator.com", "https://news.ycombinator.com", ["markdown"]),
    ("summarise this page: https://blog.example/post/1.", "https://blog.example/post/1", ["markdown"]),
    ("Please read https://docs.example/guide", "https://docs.example/guide", ["markdown"]),
    ("Can you fetch https://example.com/pricing for me?", "https://example.com/pricing", ["markdown"]),
    ("scrape https://example.com/", "https://example.com/", ["markdown"]),
    ("grab the markdown of https://example.com", "https://example.com", ["markdown"]),
    ("markdown of https://example.com/readme", "https://example.com/readme", ["markdown"]),
    ("get the price from https://shop.example/p/1", "https://shop.example/p/1", ["markdown"]),
    ("Extract the product name and price from https://shop.example/p/42", "https://shop.example/p/42", ["markdown"]),
    ("What does https://example.com/about say?", "https://example.com/about", ["markdown"]),
    ("https://example.com — what does it say?", "https://example.com", ["markdown"]),
    ("Tell me what https://example.com says", "https://example.com", ["markdown"]),
    ("what's on https://example.com?", "https://example.com", ["markdown"]),
    ("What is https://example.com/whitepaper about?", "https://example.com/whitepaper", ["markdown"]),
    ("tl;dr https://example.com/essay", "https://example.com/essay", ["markdown"]),
    ("give me the gist of https://example.com/essay", "https://example.com/essay", ["markdown"]),
    ("show me https://example.com", "https://example.com", ["markdown"]),
    ("take a screenshot of https://example.com", "https://example.com", ["screenshot"]),
    ("Screenshot https://example.com", "https://example.com", ["screenshot"]),
    ("summarize https://x.example and take a screenshot", "https://x.example", ["markdown", "screenshot"]),
    ("get the title and a screenshot of https://x.example", "https://x.example", ["markdown", "screenshot"]),
    ("links on https://example.com", "https://example.com", ["links"]),
    ("get all the links on https://example.com/blog.", "https://example.com/blog", ["links"]),
    ("Get the html source of https://example.com", "https://example.com", ["html"]),
    ("get https://example.com as plain text", "https://example.com", ["text"]),
    ("list the headings on https://example.com/doc", "https://example.com/doc", ["markdown"]),
    ("download https://example.com/report.pdf", "https://example.com/report.pdf", ["markdown"]),
    # Nouns that look like verbs, and URLs that hold interactive words, stay reads.
    ("scrape the login page of https://x.example/login", "https://x.example/login", ["markdown"]),
    ("Get https://x.example/login?next=/checkout", "https://x.example/login?next=/checkout", ["markdown"]),
    ("summarize the press release at https://x.example/pr", "https://x.example/pr", ["markdown"]),
    ("read the book review at https://reviews.example/b/1", "https://reviews.example/b/1", ["markdown"]),
    ("Summarize this blog post: https://blog.example/p (it's long)", "https://blog.example/p", ["markdown"]),
    ("Get the opening hours from https://shop.example/contact", "https://shop.example/contact", ["markdown"]),
    ("summarize https://example.com/post using bullet points", "https://example.com/post", ["markdown"]),
    ("go to https://example.com and summarize it", "https://example.com", ["markdown"]),
    # The fetch verbs: go to, visit, fetch, return, extract, read, navigate to, open.
    ("Go to https://example.com and return the h1 text.", "https://example.com", ["markdown"]),
    ("Return the h1 of https://example.com", "https://example.com", ["markdown"]),
    ("Visit https://example.com for its title", "https://example.com", ["markdown"]),
    ("navigate to example.com and read the h1", "https://example.com", ["markdown"]),
    ("Open https://example.com, the pricing table", "https://example.com", ["markdown"]),
    ("Go to https://example.com. Return the h1 text.", "https://example.com", ["markdown"]),
    ("Summarize https://x.example. Thanks!", "https://x.example", ["markdown"]),
    ("Read the docs at https://docs.example; what do they say about auth?", "https://docs.example", ["markdown"]),
    # A bare host is a URL too.
    ("Summarize example.com", "https://example.com", ["markdown"]),
    ("Grab the pricing table from www.example.com/pricing", "https://www.example.com/pricing", ["markdown"]),
    (
        "extract the table from https://en.wikipedia.org/wiki/Python_(programming_language)",
        "https://en.wikipedia.org/wiki/Python_(programming_language)",
        ["markdown"],
    ),
]

# (request, words the reason must contain)
TASKS: list[tuple[str, str]] = [
    ("", "empty"),
    ("Book me a flight to Lisbon next Friday", "no URL"),
    ("What are the top stories on Hacker News?", "no URL"),
    ("read https://x.example/a and https://x.example/b", "2 URLs"),
    ("https://x.example/a https://x.example/b", "2 URLs"),
    ("read https://x.example/a,https://x.example/b", "2 URLs"),
    ("Get https://example.com, then example.org", "2 URLs"),
    ("read file:///etc/passwd", "non-web"),
    ("scrape the login page of https://x.example and sign in", "'sign in'"),
    ("Log in to https://app.example and download my invoices", "'log in'"),
    ("Sign up at https://x.example", "'sign up'"),
    ("Read my inbox at https://mail.example", "'my inbox'"),
    ("Fill out the contact form at https://x.example/contact", "'fill'"),
    ("click the first result on https://x.example/search?q=a", "'click'"),
    ("Add the red shoes to the cart on https://shop.example/p/9", "to the cart"),
    ("Buy the cheapest https://shop.example/p/1", "'buy'"),
    ("Order pizza from https://pizza.example", "'order'"),
    ("book a table at https://resto.example", "'book'"),
    ("press the button on https://x.example", "'press'"),
    ("Post a summary of https://x.example to Slack", "'post'"),
    ("Summarize https://x.example and post it on twitter", "'post'"),
    ("scrape https://x.example and email it to bob@corp.example", "'email'"),
    ("subscribe to the newsletter at https://x.example", "'subscribe'"),
    ("get me a ticket at https://tickets.example", "ticket"),
    ("download the latest release from https://github.com/a/b/releases", "'download'"),
    ("search for earbuds on https://shop.example", "'search'"),
    ("Find the CEO of the company at https://acme.example", "'find'"),
    ("find the price on https://shop.example/p/1", "'find'"),
    ("look up the opening hours on https://shop.example", "'look up'"),
    ("check the price on https://shop.example/p/1", "'check'"),
    ("Compare the prices on https://shop.example/a", "'compare'"),
    ("What's the cheapest flight on https://flights.example?", "'cheapest'"),
    ("If https://x.example/status shows an outage, tell me", "'if'"),
    ("Read https://example.com/terms and tell me if there is an arbitration clause", "'if'"),
    ("get the text of https://example.com/news/1 when it loads", "'when'"),
    ("go to https://example.com and then click the first link", "'click'"),
    ("read the headline on https://news.example and then summarize the story", "'then'"),
    ("1. read https://x.example\n2. summarize it", "numbered"),
    ("Summarize every article on https://blog.example", "'every'"),
    ("Scrape all pages of https://blog.example/archive", "'all'"),
    ("summarize the pages it links to from https://blog.example", "pages"),
    ("Scroll through https://x.example/feed and summarize the posts", "'scroll'"),
    ("Navigate through https://docs.example and summarize it", "'navigate'"),
    ("Wait for https://x.example/build to finish", "'wait'"),
    ("Summarize https://x.example. Keep it short.", "'keep it short'"),
    ("Lies https://example.com und fasse zusammen", "'und'"),
    ("¿Qué dice https://example.com?", "non-English"),
    ("résumé de https://example.com", "non-English"),
    ("Is https://example.com up?", "no read-only verb"),
    ("translate https://example.com into French", "no read-only verb"),
    ("get " + "the very long and winding " * 8 + "text of https://example.com", "words"),
]


@pytest.mark.parametrize(("request_text", "url", "formats"), SCRAPES, ids=[s[0][:60] for s in SCRAPES])
def test_read_only_requests_for_one_url_take_the_scrape_path(request_text: str, url: str, formats: list[str]) -> None:
    r = route(request_text)
    assert (r.kind, r.url, r.formats) == ("scrape", url, formats), r.reason


@pytest.mark.parametrize(("request_text", "because"), TASKS, ids=[t[0][:60] or "empty" for t in TASKS])
def test_anything_else_goes_to_the_agent_with_a_reason_naming_what_decided(request_text: str, because: str) -> None:
    r = route(request_text)
    assert r.kind == "task", f"routed to scrape: {r.reason}"
    assert r.formats == []
    assert because in r.reason


def test_tables_cover_both_ways_generously() -> None:
    assert len(SCRAPES) >= 40 and len(TASKS) >= 40


def test_bare_open_is_a_scrape() -> None:
    assert route("visit https://example.com").kind == "scrape"
    assert route("go to example.com").url == "https://example.com"


def test_a_task_keeps_its_one_url_as_a_starting_point_and_drops_several() -> None:
    assert route("click login on https://x.example").url == "https://x.example"
    assert route("read https://x.example/a and https://x.example/b").url is None


def test_scrape_reason_names_the_verb() -> None:
    assert route("summarize https://x.example").reason == (
        "one URL and a read-only verb ('summarize'); no interactive verbs"
    )
    assert route("What does https://example.com/about say?").reason == (
        "one URL and a read-only verb ('what does URL say'); no interactive verbs"
    )


@pytest.mark.parametrize("request_text", [s[0] for s in SCRAPES] + [t[0] for t in TASKS])
def test_every_reason_is_one_readable_sentence(request_text: str) -> None:
    reason = route(request_text).reason
    assert reason and "\n" not in reason and len(reason) <= 160
    assert "weburl" not in reason
    assert reason[0].islower() or reason[0] == "'"  # reads after "routed to the agent because …"


def test_a_long_request_is_a_task_even_when_every_word_is_harmless() -> None:
    words = " ".join(["carefully"] * (MAX_WORDS + 1))
    assert route(f"read https://example.com {words}").kind == "task"
    assert route(f"read https://example.com {' '.join(['carefully'] * (MAX_WORDS - 3))}").kind == "scrape"


URLS: list[tuple[str, list[str]]] = [
    ("see https://example.com/a.", ["https://example.com/a"]),
    ("(https://example.com/a)", ["https://example.com/a"]),
    ("https://example.com/path/?q=1)", ["https://example.com/path/?q=1"]),
    ("link: [docs](https://example.com/docs), ok?", ["https://example.com/docs"]),
    ("[https://a.example](https://a.example)", ["https://a.example"]),
    ('"https://example.com/x?y=1&z=2"', ["https://example.com/x?y=1&z=2"]),
    ("‘https://example.com/q’ and “https://example.com/r”", ["https://example.com/q", "https://example.com/r"]),
    ("<https://example.com/path>", ["https://example.com/path"]),
    ("`https://example.com/code`", ["https://example.com/code"]),
    ("https://example.com/search?q=a+b#frag;", ["https://example.com/search?q=a+b#frag"]),
    ("https://en.wikipedia.org/wiki/Python_(language).", ["https://en.wikipedia.org/wiki/Python_(language)"]),
    ("https://example.com/a,https://example.com/b", ["https://example.com/a", "https://example.com/b"]),
    ("https://g.example/url?q=https://x.example/a", ["https://g.example/url?q=https://x.example/a"]),
    ("Go to www.example.com/shop, then example.org!", ["https://www.example.com/shop", "https://example.org"]),
    ("http://localhost:3000/dash and 127.0.0.1:8080/x", ["http://localhost:3000/dash", "http://127.0.0.1:8080/x"]),
    ("HTTPS://Example.COM/A and https://example.com/A/", ["HTTPS://Example.COM/A"]),
    ("https://例子.测试/路径。然后", ["https://例子.测试/路径"]),
    ("email bob@example.com about https://x.io/y", ["https://x.io/y"]),
    ("read README.md and setup.py; e.g. node.js", []),
    ("visit example.community today", []),
    ("https:// is not a URL", []),
    ("ftp://files.example/a", []),
]


@pytest.mark.parametrize(("text", "urls"), URLS, ids=[u[0][:50] for u in URLS])
def test_extract_urls_trims_what_surrounds_a_url(text: str, urls: list[str]) -> None:
    assert extract_urls(text) == urls


@given(st.text(max_size=200))
def test_route_never_fails_and_scrapes_only_the_one_url(text: str) -> None:
    r = route(text)
    assert r.kind in ("scrape", "task") and r.reason
    if r.kind == "scrape":
        assert extract_urls(text) == [r.url] and r.formats


@given(st.sampled_from([s[0] for s in SCRAPES]), st.sampled_from(["click the", "and sign in", "then buy it"]))
def test_an_interactive_tail_always_turns_a_scrape_into_a_task(request_text: str, tail: str) -> None:
    assert route(f"{request_text} {tail}").kind == "task"
