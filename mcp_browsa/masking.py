"""Masking secrets out of text: one replacement, MASK, for every spelling of every value a job could fill.

Below both the vault (which knows the values) and the engine (which masks observations, logs and results).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

__all__ = ["MASK", "mask_text", "masker"]

MASK = "••••"


def masker(mask_values: Collection[str]) -> Callable[[str], str]:
    """A function replacing every non-empty mask value with MASK; longest first, so one containing another goes whole."""
    alts = sorted({v for v in mask_values if v}, key=len, reverse=True)
    if not alts:
        return lambda text: text
    pattern = re.compile("|".join(map(re.escape, alts)))
    return lambda text: pattern.sub(MASK, text)


def mask_text(text: str, mask_values: Collection[str]) -> str:
    """`text` with every occurrence of each non-empty mask value replaced by MASK."""
    return masker(mask_values)(text)
