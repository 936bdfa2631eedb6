"""What every terminal command prints: notes on stderr, results on stdout as text or, with --json, as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["emit", "say"]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        payload = data.model_dump(mode="json", exclude_none=True) if hasattr(data, "model_dump") else data
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(text(data))
