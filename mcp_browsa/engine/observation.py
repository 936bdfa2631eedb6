"""The page observation: the compact text the model reads each step, and the index → element map behind it.

observe.js runs once per frame; this module stitches frames in reading order, spends the size budget
near the viewport first, and masks secrets before anything is truncated.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

from mcp_browsa.engine.observation_fit import fit_lines
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.masking import MASK, mask_text, masker

__all__ = [
    "DEFAULT_MAX_CHARS",
    "INDEX_ATTR",
    "MASK",
    "ElementRef",
    "Observation",
    "PageUnreadable",
    "mask_text",
    "observe",
    "read_page",
]

DEFAULT_MAX_CHARS = 6000
INDEX_ATTR = "data-browsa-idx"
FRAME_ATTR = "data-browsa-frame"

_ELEMENT_TEXT = 100  # visible text per element line
_ATTR_TEXT = 80  # per attribute value
_TEXT_LINE = 500  # per digest line
_JS_TEXT_CAP = 400  # the page sends more than is shown, so masking sees a secret whole before truncation
_MAIN_TIMEOUT = 10.0
_CHILD_TIMEOUT = 3.0
_MAX_FRAME_DEPTH = 8
_ATTR_ORDER = (
    *("href", "target", "id", "name", "type", "label", "role", "value", "selected", "placeholder", "aria-label"),
    *("checked", "multiple", "contenteditable", "disabled"),
)
_ALWAYS_QUOTED = frozenset({"value", "selected", "label", "placeholder", "aria-label"})
_FORM_TAGS = frozenset({"input", "select", "textarea"})
_NEEDS_QUOTES = re.compile(r"[\s\"'<>]")


class PageUnreadable(RuntimeError):
    """The active page did not answer the observation script (a busy script, or a navigation that never settles)."""


@dataclass(frozen=True)
class ElementRef:
    """One indexed element: where it lives and what the model was shown about it (already masked)."""

    index: int
    frame: Frame
    local_id: str  # value of INDEX_ATTR inside `frame`
    tag: str
    attrs: dict[str, str | bool]
    text: str

    @property
    def selector(self) -> str:
        return f'[{INDEX_ATTR}="{self.local_id}"]'

    def describe(self) -> str:
        """Short form for action summaries: `[4] <a> Wireless Earbuds X`, `[2] <input name=q> Search`."""
        name = self.attrs.get("name")
        head = f"{self.tag} name={name}" if isinstance(name, str) and self.tag in _FORM_TAGS else self.tag
        text = "" if self.tag == "select" else self.text or str(self.attrs.get("label") or "")
        text = text if len(text) <= 50 else text[:49] + "…"
        return f"[{self.index}] <{head}> {text}".rstrip()


@dataclass(frozen=True)
class Observation:
    text: str
    url: str
    title: str
    element_count: int
    elements: dict[int, ElementRef]
    page_hash: str  # URL + every element line + all text + scroll position, for loop detection
    chars: int
    mask_values: tuple[str, ...] = field(default=(), repr=False)  # what `text` was masked with


@dataclass
class _Scan:
    """One frame's script result (coordinates relative to that frame's own viewport)."""

    frame: Frame
    data: dict[str, Any]


@cache
def _script() -> str:
    return resources.files("mcp_browsa.engine").joinpath("observe.js").read_text(encoding="utf-8")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _short_url(url: str, origin: str) -> str:
    if origin and url.startswith(origin + "/"):
        return url[len(origin) :]
    return url


async def _evaluate(frame: Frame, opts: dict[str, Any], timeout: float | None) -> dict[str, Any] | None:
    """The script's result; None if the frame is detached, navigating away, or (given a timeout) hung."""
    for raw in (False, True):
        try:
            call = frame.evaluate(_script(), {**opts, "raw": raw})
            result = await (call if timeout is None else asyncio.wait_for(call, timeout))
        except (PlaywrightError, asyncio.TimeoutError):
            return None
        try:
            data = json.loads(result) if isinstance(result, str) else result
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("rows"), list) and isinstance(data.get("lines"), list):
            return data
        # Not what the script built: the page's JSON.stringify is replaced or bent (old toJSON polyfills).
    return None


async def _frame_key(frame: Frame) -> str | None:
    """The FRAME_ATTR its parent's script just put on this frame's <iframe> element."""
    try:
        handle = await asyncio.wait_for(frame.frame_element(), _CHILD_TIMEOUT)
    except (PlaywrightError, asyncio.TimeoutError):
        return None
    try:
        return await asyncio.wait_for(handle.get_attribute(FRAME_ATTR), _CHILD_TIMEOUT)
    except (PlaywrightError, asyncio.TimeoutError):
        return None
    finally:
        try:
            await handle.dispose()
        except PlaywrightError:
            pass


async def _scan_page(page: Page, opts: dict[str, Any]) -> tuple[_Scan, dict[tuple[int, str], _Scan]]:
    """Run the script in every frame at once; children keyed by (id(parent frame), FRAME_ATTR value)."""
    main = page.main_frame
    try:
        with anyio.fail_after(_MAIN_TIMEOUT):
            for attempt in range(3):
                frames = [main, *(f for f in page.frames if f is not main and not f.is_detached())]
                results = await asyncio.gather(
                    *(_evaluate(f, opts, None if f is main else _CHILD_TIMEOUT) for f in frames)
                )
                main_data = results[0]
                if main_data is not None or attempt == 2:
                    break
                # Most often a navigation destroyed the context mid-script: let the next document come up.
                try:
                    await page.wait_for_load_state("domcontentloaded", timeout=_MAIN_TIMEOUT * 1000)
                except PlaywrightError:
                    pass
    except TimeoutError:
        raise PageUnreadable(f"the page at {page.url} did not answer within {_MAIN_TIMEOUT:g}s") from None
    if main_data is None:
        raise PageUnreadable(f"could not read the page at {page.url}")
    root = _Scan(main, main_data)
    kids = [
        (f, r) for f, r in zip(frames[1:], results[1:], strict=True) if r is not None and f.parent_frame is not None
    ]
    keys = await asyncio.gather(*(_frame_key(f) for f, _ in kids))
    children: dict[tuple[int, str], _Scan] = {}
    for (frame, result), key in zip(kids, keys, strict=True):
        if key and frame.parent_frame is not None:
            children[(id(frame.parent_frame), key)] = _Scan(frame, result)
    return root, children


def _flatten(
    scan: _Scan,
    children: dict[tuple[int, str], _Scan],
    kind: str,
    dy: float = 0.0,
    depth: int = 0,
) -> list[tuple[Frame, dict[str, Any], float]]:
    """Rows (kind "rows") or text lines (kind "lines") in reading order, each iframe's spliced in at its place."""
    out: list[tuple[Frame, dict[str, Any], float]] = []
    for item in scan.data[kind]:
        if "f" in item:
            child = children.get((id(scan.frame), item["f"]))
            if child is not None and depth < _MAX_FRAME_DEPTH:
                out += _flatten(child, children, kind, dy + item["y"], depth + 1)
        else:
            out.append((scan.frame, item, dy))
    return out


def _attr_text(attrs: dict[str, str | bool]) -> str:
    parts: list[str] = []
    for key in _ATTR_ORDER:
        value = attrs.get(key)
        if value is None or value is False:
            continue
        if value is True:
            parts.append(key)
        elif key in _ALWAYS_QUOTED or not value or _NEEDS_QUOTES.search(value):
            parts.append(f'{key}="{value}"'.replace("\n", " "))
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _element(
    index: int, frame: Frame, row: dict[str, Any], nonce: str, mask: Callable[[str], str]
) -> tuple[ElementRef, str]:
    attrs: dict[str, str | bool] = {}
    for key, value in row["a"].items():
        attrs[key] = _clip(mask(str(value)), _ATTR_TEXT) if not isinstance(value, bool) else value
    text = _clip(mask(row["t"]), _ELEMENT_TEXT)
    if attrs.get("aria-label") == text:
        del attrs["aria-label"]
    ref = ElementRef(index=index, frame=frame, local_id=f"{nonce}-{row['id']}", tag=row["tag"], attrs=attrs, text=text)
    head = " ".join(filter(None, (row["tag"], _attr_text(attrs))))
    return ref, f"[{index}] <{head}> {text}".rstrip()


_INLINE = re.compile(r"\x01(\d+)\x02")
_INLINE_CUT = re.compile(r"\x01\d*\x02?")  # a placeholder the page script's line cap cut in two


def _inline_indexes(text: str, frame: Frame, index_of: dict[tuple[int, int], int]) -> str:
    """Put each inline link's final index where the page script left its serial."""
    if "\x01" not in text:
        return text
    text = _INLINE.sub(lambda m: str(index_of.get((id(frame), int(m.group(1))), "?")), text)
    return _INLINE_CUT.sub("", text)


async def observe(tabs: Tabs, *, max_chars: int = DEFAULT_MAX_CHARS, mask_values: Collection[str] = ()) -> Observation:
    """Observe the active tab: header, indexed elements and a text digest within `max_chars`."""
    page = tabs.active
    masks = tuple(v for v in mask_values if v)
    mask = masker(masks)
    origin = _origin(page.url)
    nonce = secrets.token_hex(3)
    opts = {
        "mode": "observe",
        "nonce": nonce,
        "origin": origin,
        "textCap": _JS_TEXT_CAP,
        "elemText": _ELEMENT_TEXT,
        "maxText": 300_000,
    }
    root, children = await _scan_page(page, opts)
    data = root.data
    vh = float(data["vh"]) or 1.0

    elements: dict[int, ElementRef] = {}
    el_lines: list[str] = []
    el_spans: list[tuple[float, float]] = []
    index_of: dict[tuple[int, int], int] = {}  # (frame, the script's serial) -> index, for links written inline
    for frame, row, dy in _flatten(root, children, "rows"):
        ref, line = _element(len(elements) + 1, frame, row, nonce, mask)
        elements[ref.index] = ref
        index_of[(id(frame), int(row.get("s", -1)))] = ref.index
        if row.get("inl"):
            continue  # shown where it stands in the TEXT, `[its words][index]`
        el_lines.append(line)
        el_spans.append((row["y"] + dy, row["b"] + dy))

    shown_texts = {ref.text for ref in elements.values()}
    shown_texts.update(str(ref.attrs["label"]) for ref in elements.values() if "label" in ref.attrs)
    text_lines: list[str] = []
    text_spans: list[tuple[float, float]] = []
    for frame, item, dy in _flatten(root, children, "lines"):
        line = _clip(mask(_inline_indexes(item["t"], frame, index_of)), _TEXT_LINE)
        if line in shown_texts or (text_lines and text_lines[-1] == line):
            continue
        text_lines.append(line)
        text_spans.append((item["y"] + dy, item["y"] + dy + 1))

    url = mask(data["url"])
    title = _clip(mask(data["title"]), 200)
    sh, sy = float(data["sh"]), float(data["sy"])
    pct = 0 if sh <= vh else round(100 * min(1.0, sy / (sh - vh)))
    at_end = sh > vh and sy >= sh - vh - 2
    tab_line = f"TABS: {len(tabs)} (active {tabs.active_index})"
    if len(tabs) > 1:
        listing = (f"{i} {_clip(_short_url(p.url, origin), 60)}" for i, p in enumerate(tabs.pages))
        tab_line += ": " + mask(" | ".join(listing))
    header = [f"URL: {url}", f"TITLE: {title}", tab_line, f"SCROLL: {pct}% of {max(sh, vh) / vh:.1f} screens"]
    header += [f"DIALOG: {mask(d)}" for d in tabs.take_dialogs()]
    head = "\n".join(header)

    min_text = min(1000, max_chars // 6) if text_lines else 0
    el_budget = max_chars - len(head) - len("\n\nTEXT:\n") - min_text
    if el_lines:
        el_block = fit_lines(el_lines, el_spans, vh, el_budget, "elements", at_end)
    else:
        el_block = "(no interactive elements)"
    text_budget = max_chars - len(head) - len(el_block) - len("\n\nTEXT:\n")
    text_block = fit_lines(text_lines, text_spans, vh, text_budget, "text lines", at_end)
    text = "\n".join(filter(None, (head, el_block))) + ("\nTEXT:\n" + text_block if text_block else "")

    digest = hashlib.sha256()
    for part in (url, *el_lines, "\x00", *text_lines, f"\x00{sy:.0f}"):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\n")
    return Observation(
        text=text,
        url=url,
        title=title,
        element_count=len(elements),
        elements=elements,
        page_hash=digest.hexdigest()[:16],
        chars=len(text),
        mask_values=masks,
    )


async def read_page(tabs: Tabs, max_chars: int = 20000, *, mask_values: Collection[str] = ()) -> str:
    """All visible text of the active tab (iframes and open shadow roots included), masked, at most `max_chars`."""
    page = tabs.active
    opts = {
        "mode": "read",
        "nonce": secrets.token_hex(3),
        "origin": _origin(page.url),
        "textCap": max_chars + 1000,
        "elemText": 0,
        "maxText": max_chars * 2 + 1000,
    }
    root, children = await _scan_page(page, opts)
    lines: list[str] = []
    for _frame, item, _dy in _flatten(root, children, "lines"):
        if not lines or lines[-1] != item["t"]:
            lines.append(item["t"])
    text = mask_text("\n".join(lines), mask_values)
    total = max(len(text), sum(int(s.data.get("chars", 0)) for s in (root, *children.values())))
    if len(text) > max_chars:
        marker = f"\n… (truncated, about {total - max_chars} more chars)"
        text = text[: max(0, max_chars - len(marker))].rstrip() + marker
    return text
