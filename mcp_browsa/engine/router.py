"""The smart router behind `auto`: is a plain-English request a one-page scrape (no LLM) or an agent task?

Pure functions over the request text (no browser, no model), so every decision is instant and repeatable.

A request goes to the scrape path only when all of these hold; the first rule that fails sends it to
the agent, and its reason names the word that decided:

1. Exactly one http(s) URL (`extract_urls`; bare `example.com` and `www.` forms count, so a second
   page named without a scheme is still a second page). No URL, two URLs, or a non-web URL
   (file:, ftp:, javascript:) is a task.
2. Plain English: any accented or non-Latin letter, or a common French/German/Spanish/Dutch/Italian
   function word ("und", "puis", "luego"), is a task: our word lists only know English.
3. No sign-in or account words: log in, sign in, password, a one-time code, "my inbox", "my orders".
4. No interactive verb. Unambiguous ones count anywhere (click, fill, submit, buy, add … to cart,
   select, scroll, paginate, upload, search for, wait). Words that are also common nouns (book, order,
   post, press, open, close, type, enter, follow, …) count only where a verb starts a clause: at the
   start, after punctuation, or after and / then / to / please / you, so "summarize the blog post"
   stays a read while "and post a comment" does not.
5. No looking around: find, look for/up, locate, search, explore. "Find the price on URL" is a task:
   "find" usually means the thing is not where the URL points.
6. No judgement across items or pages: compare, cheapest, lowest, best deal.
7. Not conditional (if, unless, when, whether, otherwise) and not multi-step (then, after, before,
   next, once, until, numbered steps, or a second sentence that is not itself a read request).
8. Nothing beyond the one page: each/every/all (except "all the text / links / content"), "pages",
   whole site, subpages, linked pages.
9. A read-only verb or form: get, fetch, return, scrape, read, grab, download (the page, not a file it
   links to), show, extract, list, copy, summarize, tl;dr, give me, "what does URL say", "what's on
   URL", "markdown/text/links of URL", screenshot. Opening the page ("go to / visit / open / navigate
   to URL") reads it too: "Go to URL and return the h1 text" and "visit URL for its title" are
   scrapes, as long as nothing else in the request needs the agent. A bare URL (alone, or with
   "open") is a scrape as markdown.
10. At most 30 words besides the URL: a longer request reads like several steps.

So "get the price from https://shop/p/1" is a scrape (one page, read-only; the markdown holds the
price), "find the price on https://shop/p/1" and "scrape the login page of X and sign in" are tasks.
Formats: screenshot / links / html / plain text when named; markdown when nothing is named, when
markdown is named, or when the request also asks about content ("summarize", "the price").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["MAX_WORDS", "Route", "RouteKind", "extract_urls", "route"]

RouteKind = Literal["scrape", "task"]
MAX_WORDS = 30

_URL_WORD = "weburl"  # what a URL becomes in the text the word rules read (URLs hold words like "login")


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    reason: str  # one readable sentence naming the deciding word, for `routing_reason`
    url: str | None  # the one URL named (also on tasks, as a starting point); None when there are none or several
    formats: list[str] = field(default_factory=list)  # scrape formats; empty for tasks


# -- URLs -----------------------------------------------------------------------------------------

# Quotes, angle brackets, backticks and CJK punctuation never appear raw in a URL someone pastes,
# but often right around one.
_STOP = "\\s<>\"'`{}|\\\\^“”‘’«»，。、；：！？（）【】「」『』《》"
_SCHEME_URL = re.compile(rf"(?<![\w.+\-])https?://[^{_STOP}]+", re.IGNORECASE)
# File extensions that are also country TLDs (.md, .py, .sh, .rs, .pl) are left out on purpose.
_TLDS = (
    "com|org|net|edu|gov|int|mil|info|biz|io|dev|app|ai|co|me|tv|us|uk|de|fr|es|it|nl|eu|ca|au|jp|cn|in|ru|br"
    "|ch|se|no|be|at|dk|fi|ie|nz|kr|mx|ar|za|xyz|site|online|tech|shop|store|blog|news|page|cloud|wiki|museum"
)
_BARE_URL = re.compile(
    rf"(?<![\w@.\-/:])(?:(?:www\.)?(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})"
    rf"|localhost|\d{{1,3}}(?:\.\d{{1,3}}){{3}})(?![\w\-])(?::\d{{1,5}})?(?:[/?#][^{_STOP}]*)?",
    re.IGNORECASE,
)
_OTHER_SCHEME = re.compile(
    r"(?<![\w.+\-])(?!https?:)(?:[a-z][a-z0-9+.\-]{1,20}://|javascript:|data:[a-z]+/|view-source:)", re.IGNORECASE
)
_GLUED = re.compile(r"([,;])(?=https?://)", re.IGNORECASE)
_TRAILING = ".,;:!?*…"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def _trim(candidate: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets from the end of a matched URL."""
    url = candidate
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])):
            url = url[:-1]
            continue
        break
    return url


def _has_host(url: str) -> bool:
    rest = url.split("://", 1)[-1]
    return bool(re.match(r"[\w\[]", rest))


def _separate(text: str) -> str:
    """Space out what glues two URLs together: "[label](target)" and "a,https://b" (idempotent)."""
    return _GLUED.sub(r"\1 ", text.replace("](", "] ("))


def _spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, absolute URL) for every URL in `text` (already `_separate`d), in order of appearance."""
    found: list[tuple[int, int, str]] = []
    masked = list(text)
    for m in _SCHEME_URL.finditer(text):
        url = _trim(m.group(0))
        if _has_host(url):
            found.append((m.start(), m.start() + len(url), url))
        masked[m.start() : m.end()] = " " * (m.end() - m.start())
    for m in _BARE_URL.finditer("".join(masked)):
        url = _trim(m.group(0))
        host = re.split(r"[:/?#]", url, maxsplit=1)[0].lower()
        scheme = "http://" if host == "localhost" or host[:1].isdigit() else "https://"
        found.append((m.start(), m.start() + len(url), scheme + url))
    return sorted(found)


def _key(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def extract_urls(text: str) -> list[str]:
    """The distinct web URLs in `text`, in order: http(s) URLs as written, bare hosts given a scheme.

    Trailing sentence punctuation, closing brackets that were not opened inside the URL, quotes and
    angle brackets are not part of a URL; "example.com/x" becomes "https://example.com/x", and
    localhost or an IPv4 address gets "http://". An address in an e-mail (bob@example.com) is no URL.
    """
    seen: set[str] = set()
    urls: list[str] = []
    for _start, _end, url in _spans(_separate(_normalize(text))):
        key = _key(url)
        if key not in seen:
            seen.add(key)
            urls.append(url)
    return urls


def _normalize(text: str) -> str:
    # NFKC folds full-width letters (ｃｌｉｃｋ) into ASCII so the word rules still see them.
    text = unicodedata.normalize("NFKC", text)
    return text.replace("’", "'").replace("‘", "'")


def _mask_urls(text: str) -> str:
    text = _separate(text)
    out, last = [], 0
    for start, end, _url in _spans(text):
        out += [text[last:start], f" {_URL_WORD} "]
        last = end
    out.append(text[last:])
    return "".join(out)


# -- words ----------------------------------------------------------------------------------------


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b")


# A verb starts a clause here: at the start, after punctuation, or after these words.
_LEAD = r"(?:^|[,;:.!?()\[\]\"/]|\b(?:and|or|then|to|please|pls|plz|also|you|i|we|me|us|just|now|can|will|let's|lets|weburl))\s*"
_INFLECT = r"(?:s|es|d|ed|ing)?"


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_FOREIGN = _set(
    "und oder der die das auf mit bitte von zu den dem ist nicht le les et ou sur avec puis des du une el los las"
    " con luego por para una het een naar och il di della poi dann klicke cliquez haga"
)
_NEUTRAL_OPEN = re.compile(
    r"\b(?:open(?: up)?|visit|load|go to|navigate to|head (?:over )?to|browse to|pull up)\s+"
    r"(?:the\s+)?(?:(?:web\s?)?page|site|website|url|link|address)?\s*(?:at\s+|:\s*)?" + _URL_WORD
)
_ACCOUNT = _rx(
    r"my (?:account|inbox|e-?mails?|mail|orders?|cart|basket|bag|profile|dashboard|messages?|notifications?"
    r"|settings|subscriptions?|bookings?|reservations?|tickets?|balance|bank|statements?|feed|timeline|dms?"
    r"|history|wish ?list|library|playlists?|drive|files|documents|calendar|portal|purchases|invoices?)"
)
_SIGN_IN = _rx(
    r"log(?:s|ged|ging)?[ -]?(?:in|on)(?:to)?(?! (?:page|form|screen|url|link|button|flow|modal|dialog))",
    r"sign(?:s|ed|ing)?[ -]?(?:in|on|up)(?:to)?(?! (?:page|form|screen|url|link|button|flow|modal|dialog))",
    r"log(?:s|ged|ging)?[ -]?out|sign(?:s|ed|ing)?[ -]?out|authenticat\w*|register(?:s|ed|ing)?",
    r"password|passcode|credentials?|2fa|otp|one[- ]time code|verification code|captcha|secret:",
)
_INTERACTIVE = _rx(
    r"(?:double|right)[- ]?click\w*|click(?:s|ed|ing)?|fill(?:s|ed|ing)?|submit(?:s|ted|ting)?",
    r"buy(?:s)?|check(?:s|ed|ing)?[ -]?out|checkout|place (?:an |the |my )?orders?",
    r"(?:un)?check(?:s|ed|ing)?|checkbox(?:es)?",
    r"adds?(?:ed|ing)?(?: [\w'-]+){0,5}? to (?:the |my |your |a )?(?:cart|basket|bag|wish ?list|favou?rites"
    r"|watch ?list|calendar|playlist)",
    r"reserv(?:e|es|ed|ing)|subscri(?:be|bes|bed|bing)|unsubscri\w*|upload\w*|hover\w*|drag(?:s|ged|ging)?",
    r"select(?:s|ed|ing)?|choos(?:e|es|ing)|chose|toggl\w*|untick\w*|tick(?:s|ed|ing)?",
    r"accept(?:s|ing)?|dismiss\w*|reject(?:s|ing)?|confirm(?:s|ing)?|delet(?:e|es|ed|ing)|remov(?:e|es|ed|ing)",
    r"cancel(?:s|ed|ing|led|ling)?|send(?:s|ing)?|(?:up|down)?vot(?:e|es|ed|ing)|wait(?:s|ed|ing)?",
    r"refresh\w*|reload\w*|retr(?:y|ies|ied)|try(?:ing)?|tries|tried|solv(?:e|es|ing)|expand\w*|collaps\w*",
    r"scroll\w*|paginat\w*|crawl\w*|spider(?:s|ing)?|navigat\w*|brows(?:e|es|ed|ing)",
    r"(?:load|show|see|view) (?:more|all)|(?:next|previous|prev) page|go(?:es|ing)? (?:to|back|through|into|over|forward)",
    r"went|head(?:s|ing)? (?:to|over)|get(?:ting)? (?:to|into|past|through|in)",
    r"get (?:me |us )?(?:a|an|some|one|two|\d+) (?:quotes?|tickets?|accounts?|appointments?|reservations?|tables?|demos?"
    r"|trials?|seats?|rooms?)",
    r"type (?:[\w'\"-]+ ){0,6}?(?:in|into)",
    r"download(?:s|ing)? (?!" + _URL_WORD + r"|(?:the |this |that )?(?:page|html|source|text|content|contents"
    r"|markdown|article|it|document|doc)\b)",
)
# Words that are also everyday nouns ("the blog post", "press release", "opening hours"): verbs only at a clause start.
_VERB_AT_LEAD = re.compile(
    _LEAD + r"(?P<w>(?:reply|replie|comment|post|share|like|message|e-?mail|contact|tweet|rate|follow|apply|applie|join"
    r"|book|order|pay|purchase|answer|input|enter|type|write|tap|press|open|visit|close|change|update|create|edit"
    r"|track|watch|pick|play|call|invite|schedule|rent|hire|set|make|put|use|leave|request|start|run|launch"
    r"|install|claim|redeem|donate|sell|bid|transfer|deposit|withdraw|verify|enable|disable|allow|block|report"
    r"|flag|save|bookmark|star|favou?rite|archive|mark|move|rename|restart|stop|turn|switch|remind|notify"
    r"|search|sort|filter|clear|reset|paste|go|load|unfollow|mute|dm)" + _INFLECT + r")\b",
    re.MULTILINE,
)
_LOOKING = _rx(
    r"find(?:s|ing)?|look(?:s|ed|ing)? (?:for|up|around|through|into)|lookup|locat(?:e|es|ing)",
    r"search(?:es|ed|ing)? (?:for|the|this|through|across|on|in|within)|explor\w*|discover\w*",
)
_JUDGEMENT = _rx(
    r"compar(?:e|es|ed|ing)|cheap(?:est|er)|lowest|highest|best (?:deal|price|offer|option)s?|least expensive"
)
_CONDITIONAL = _rx(
    r"if|unless|whenever|when|whether|otherwise|else|in case|provided that|as long as|as soon as|only if"
)
_MULTI_STEP = _rx(
    r"then|afterwards?|after|before|next|finally|followed by|once|meanwhile|again|repeat\w*|until|step \d+"
)
_NUMBERED = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s+")
_BEYOND_PAGE = re.compile(
    r"\b(?:each|every|all)\b(?! (?:of )?(?:the )?(?:text|content|contents|links?|headings?|paragraphs?|details"
    r"|information|info|it|of it|on (?:it|this|that|the page|" + _URL_WORD + r"))\b)"
    r"|\b(?:pages|subpages|sub-pages|(?:whole|entire|full) (?:site|website|domain)|site-?wide|across the site"
    r"|other pages|linked pages|it links to|links? (?:it|they|that) (?:points?|goes?|leads?)|sitemap"
    r"|(?:several|multiple|many|various|a few) (?:pages|urls|sites|websites|links|articles|products|results))\b"
)
_FETCH = re.compile(
    r"\b(?:get|gets|getting|fetch(?:es|ing)?|scrap(?:e|es|ing)|read(?:s|ing)?|grab(?:s|bing)?|download(?:s|ing)?"
    r"|return(?:s|ing)?"
    r"|show(?:s|ing)?|extract(?:s|ing)?|pull|dump|print|copy|list|summar(?:ize|ise|izing|ising|y)|tl;?dr|recap"
    r"|give me|tell me what|what (?:does|do|did)\b.{0,80}?\bsays?|what(?:'s| is) (?:on|in|at)"
    r"|what(?:'s| is)\b.{0,60}?\babout|screen ?shots?|screen captures?|capture"
    r"|(?:markdown|html|source|text|content|contents|links|headings|title) (?:of|on|from|at|in|for)"
    r"|" + _URL_WORD + r" (?:as )?(?:markdown|html|text|links))\b"
)
# Format words, in the order the scrape tool lists them back.
_FORMAT_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("markdown", _rx(r"markdown", r"md")),
    ("text", _rx(r"(?:plain|raw|bare) text", r"text[- ]only", r"as text", r"just the text")),
    ("html", _rx(r"html", r"source(?: code)?", r"markup", r"dom")),
    ("links", _rx(r"links?", r"hrefs?", r"urls")),
    ("screenshot", _rx(r"screen ?shots?", r"screen captures?", r"capture", r"snapshot", r"png", r"picture of")),
)
# Verbs that ask about the content, so markdown comes along with any named format.
_CONTENT = _rx(r"read(?:s|ing)?|summar\w+|tl;?dr|recap|gist|says?|about|extract\w*|what(?:'s| is) (?:on|in|at)|tell me")
_FILLER = _set(
    "a an the of on from at in for to me us i my this that these those it its page webpage web site website url"
    " please pls can could would you want need and with as just only whole full entire all both also quick quickly"
    " here there is are be some now take make version copy give get gets getting fetch fetches fetching scrape"
    " scrapes scraping grab grabs grabbing download downloads downloading show shows showing pull dump print list"
    " current latest whole thanks thank ok okay hey hi"
    f" {_URL_WORD}"
)
_POLITE = _set("please pls plz thanks thank you thx cheers ty hi hey hello ok okay here is this the link")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|etc|vs|approx|incl|cf)\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|[;\n]+")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


def _task(reason: str, url: str | None) -> Route:
    return Route(kind="task", reason=reason, url=url)


def _quoted(match: re.Match[str], group: int | str = 0) -> str:
    return "'" + " ".join(match.group(group).split()).replace(_URL_WORD, "URL") + "'"


def _refusal(text: str) -> str | None:
    """Why `text` (URLs masked, lower case) needs the agent, or None when nothing in it does."""
    for word in _words(text):
        if word in _FOREIGN:
            return (
                f"it does not read as plain English ('{word}'), so the agent reads it rather than the router guessing"
            )
    if any(ch.isalpha() and not ch.isascii() for ch in text):
        return "it has non-English or accented words, so the agent reads it rather than the router guessing"
    if m := _SIGN_IN.search(text):
        return f"{_quoted(m)} is a sign-in or account step, which only the agent can handle"
    if m := _ACCOUNT.search(text):
        return f"{_quoted(m)} needs a signed-in session, which only the agent can handle"
    if m := _INTERACTIVE.search(text):
        return f"{_quoted(m)} is an interactive step, which needs the agent"
    if m := _VERB_AT_LEAD.search(text):
        return f"{_quoted(m, 'w')} is used as an interactive verb, which needs the agent"
    if m := _LOOKING.search(text):
        return f"{_quoted(m)} means looking for something rather than reading a known page, which needs the agent"
    if m := _JUDGEMENT.search(text):
        return f"{_quoted(m)} asks for a comparison, which needs the agent"
    if m := _CONDITIONAL.search(text):
        return f"{_quoted(m)} makes it conditional, which needs the agent's judgement"
    if m := _MULTI_STEP.search(text):
        return f"{_quoted(m)} makes it a multi-step request, which needs the agent"
    if len(_NUMBERED.findall(text)) >= 2:
        return "it is a numbered list of steps, which needs the agent"
    if m := _BEYOND_PAGE.search(text):
        return f"{_quoted(m)} reaches beyond the one page, which needs the agent"
    return None


def _formats(text: str) -> list[str]:
    named = [name for name, pattern in _FORMAT_WORDS if pattern.search(text)]
    if not named:
        return ["markdown"]
    rest = text
    for pattern in (_FETCH, *(p for _n, p in _FORMAT_WORDS)):
        rest = pattern.sub(" ", rest)
    asks_content = _CONTENT.search(text) or any(w not in _FILLER for w in _words(rest))
    if asks_content and "markdown" not in named and "text" not in named and "html" not in named:
        named.insert(0, "markdown")
    return named


def route(task: str) -> Route:
    """Send `task` to the scrape path (one URL, a read-only verb, nothing interactive) or to the agent.

    Conservative by design: when in doubt it answers "task", since a wrong scrape is worse than a slow
    task. The module docstring lists the rules in the order they apply.
    """
    text = _normalize(task).strip()
    if not text:
        return _task("the request is empty, so there is nothing to route", None)
    if m := _OTHER_SCHEME.search(text):
        return _task(f"it names a non-web address ('{m.group(0)}'), and only http(s) pages can be scraped", None)
    urls = extract_urls(text)
    if not urls:
        return _task("it names no URL, so the agent has to find the page", None)
    if len(urls) > 1:
        return _task(f"it names {len(urls)} URLs, and reading several pages is an agent task", None)
    url = urls[0]
    # "tl;dr" would otherwise end a sentence at its semicolon.
    masked = _ABBREVIATIONS.sub(r"\1", _mask_urls(_EMAIL.sub(" address ", text)).lower()).replace("tl;dr", "tldr")
    # Opening the page (go to, visit, open, navigate to) is a fetch verb of its own: it reads the page it names.
    opened = _NEUTRAL_OPEN.search(masked)
    masked = _NEUTRAL_OPEN.sub(_URL_WORD, masked)
    words = [w for w in _words(masked) if w != _URL_WORD]
    if all(w in _POLITE for w in words):
        return Route(
            kind="scrape", reason="it is only a URL, so the page is read as markdown", url=url, formats=["markdown"]
        )
    refusal = _refusal(masked)
    if refusal is not None:
        return _task(refusal, url)
    verb = _FETCH.search(masked) or opened
    if verb is None:
        return _task("it has no read-only verb (get, read, scrape, summarize, …), so the agent decides what to do", url)
    if len(words) > MAX_WORDS:
        return _task(f"at {len(words)} words it reads like several steps, which needs the agent", url)
    for sentence in _SENTENCE_END.split(masked):
        said = [w for w in _words(sentence) if w != _URL_WORD and w not in _POLITE]
        if said and not _FETCH.search(sentence) and not (opened and _URL_WORD in sentence):
            snippet = " ".join(said[:6]) + (" …" if len(said) > 6 else "")
            return _task(f"'{snippet}' is not a read request, so it may be another step for the agent", url)
    formats = _formats(masked)
    return Route(
        kind="scrape",
        reason=f"one URL and a read-only verb ({_quoted(verb)}); no interactive verbs",
        url=url,
        formats=formats,
    )
