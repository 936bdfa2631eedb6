"""Fitting observation lines into a character budget: nearest the viewport first, never dropping silently.

Whatever is left out is counted in a "… N more elements below, scroll down" line at its place.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["fit_lines"]

_MARKER = 64  # room kept for one "… N more" line


def _distance(top: float, bottom: float, vh: float) -> float:
    if bottom <= 0:
        return -bottom * 2  # content below the fold is where reading goes next; above weighs double
    if top >= vh:
        return top - vh
    return 0.0


def _order(spans: Sequence[tuple[float, float]], vh: float, at_end: bool) -> list[int]:
    """Nearest the viewport first; on screen, top down, or bottom up once the page cannot scroll further."""
    sign = -1 if at_end else 1
    return sorted(range(len(spans)), key=lambda i: (_distance(*spans[i], vh), sign * i))


def _pick(costs: Sequence[int], order: Sequence[int], budget: int) -> set[int]:
    """Indices to show, taken in `order` until the first that does not fit."""
    chosen: set[int] = set()
    used = 0
    for i in order:
        if used + costs[i] > budget:
            break
        chosen.add(i)
        used += costs[i]
    return chosen


def _gap_marker(gap: list[int], spans: Sequence[tuple[float, float]], vh: float, noun: str, where: str) -> str:
    # Selection grows from the viewport in reading order, so what precedes everything shown lies above and what
    # follows it is reached by scrolling down (even when part of it is on screen on a dense page).
    if where == "middle":
        above = sum(1 for i in gap if spans[i][1] <= 0)
        below = sum(1 for i in gap if spans[i][0] >= vh)
        where = "start" if above == len(gap) else "end" if below == len(gap) else where
    if where == "start":
        return f"… {len(gap)} more {noun} above, scroll up"
    if where == "end":
        return f"… {len(gap)} more {noun} below, scroll down"
    return f"… {len(gap)} more {noun} not shown here"


def _render(lines: Sequence[str], chosen: set[int], spans: Sequence[tuple[float, float]], vh: float, noun: str) -> str:
    out: list[str] = []
    gap: list[int] = []
    for i, line in enumerate(lines):
        if i in chosen:
            if gap:
                out.append(_gap_marker(gap, spans, vh, noun, "middle" if out else "start"))
                gap = []
            out.append(line)
        else:
            gap.append(i)
    if gap:
        out.append(_gap_marker(gap, spans, vh, noun, "end" if out else "middle"))
    return "\n".join(out)


def fit_lines(
    lines: Sequence[str], spans: Sequence[tuple[float, float]], vh: float, budget: int, noun: str, at_end: bool
) -> str:
    """`lines` (one per item, in reading order) shown within `budget` chars, with "… N more" markers for the rest.

    `spans` are (top, bottom) of each item relative to the viewport of height `vh`; `at_end` says the page is
    scrolled to its bottom, where on-screen items are taken bottom up.
    """
    if not lines:
        return ""
    order = _order(spans, vh, at_end)
    chosen = _pick([len(line) + 1 for line in lines], order, max(0, budget - 2 * _MARKER))
    rendered = _render(lines, chosen, spans, vh, noun)
    # Gap markers between shown runs are rare (fixed headers, odd DOM order); drop the farthest until it fits.
    kept = [i for i in order if i in chosen]
    while len(rendered) > budget and kept:
        chosen.discard(kept.pop())
        rendered = _render(lines, chosen, spans, vh, noun)
    return rendered
