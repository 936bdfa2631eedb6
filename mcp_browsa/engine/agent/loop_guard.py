"""Loop detection: the same action with the same arguments on an unchanged page, N times in a row, is a hard stop.

A nudge does not stop a model that is stuck (field reports of agents looping for dollars); ending the job does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["LOOP_LIMIT", "LoopGuard"]

LOOP_LIMIT = 3


@dataclass
class LoopGuard:
    """Counts consecutive repeats of one (page, action, arguments) triple."""

    limit: int = LOOP_LIMIT
    _last: tuple[str, str, str] | None = None
    streak: int = 0

    def check(self, page_hash: str, action: str, args: dict[str, Any]) -> bool:
        """Note the action about to run; True when it would be the `limit`-th repeat (do not run it)."""
        key = (page_hash, action, json.dumps(args, sort_keys=True, default=str))
        self.streak = self.streak + 1 if key == self._last else 1
        self._last = key
        return self.streak >= self.limit

    def describe(self, action: str, args: dict[str, Any]) -> str:
        shown = json.dumps(args, ensure_ascii=False, sort_keys=True)[:120]
        return f"{action} {shown} was chosen {self.streak} times in a row on a page that did not change"
