"""The actions the model can take, as tool specs: their names, arguments and descriptions.

`engine/actions.py` performs them; the agent's prompt and host-driven sessions offer them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["ACTION_NAMES", "ACTION_SPECS", "LOOP_ACTIONS", "SECRET_PATTERN"]

SECRET_PATTERN = re.compile(r"\{\{\s*secret:([A-Za-z0-9_.\-]+)\s*\}\}")

_INDEX = {"type": "integer", "minimum": 1, "description": "element number from the observation"}
_STR = {"type": "string"}


def _spec(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    # Copied so a caller adjusting one tool's schema (say, done's result) cannot change another's.
    schema = {"type": "object", "properties": copy.deepcopy(props), "required": required, "additionalProperties": False}
    return {"name": name, "description": description, "parameters": schema}


# fmt: off
ACTION_SPECS: list[dict[str, Any]] = [
    _spec("navigate", "Open a URL in the current tab.", {"url": _STR}, ["url"]),
    _spec("click", "Click element [index].", {"index": _INDEX}, ["index"]),
    _spec("type", "Replace the text in field [index]; {{secret:NAME}} is filled from the vault. submit=true presses Enter.",
          {"index": _INDEX, "text": _STR, "submit": {"type": "boolean", "default": False}}, ["index", "text"]),
    _spec("select", "Choose an option of dropdown [index] by its label or value.",
          {"index": _INDEX, "option": _STR}, ["index", "option"]),
    _spec("press", "Press a key or chord: Enter, Escape, Tab, ArrowDown, Control+A.", {"key": _STR}, ["key"]),
    _spec("scroll", "Scroll the page by screens.",
          {"direction": {"type": "string", "enum": ["up", "down"]},
           "amount": {"type": "number", "minimum": 0.1, "maximum": 10, "default": 1}}, ["direction"]),
    _spec("go_back", "Go back to the previous page in this tab.", {}, []),
    _spec("switch_tab", "Make tab N (0-based, as listed in TABS) the active one.", {"tab": {"type": "integer"}}, ["tab"]),
    _spec("wait", "Wait for the page to change, up to 10 seconds.",
          {"seconds": {"type": "number", "minimum": 0, "maximum": 10}}, ["seconds"]),
    _spec("read_page", "Get all visible text of the page, to read or extract details.",
          {"instruction": {"type": "string", "description": "what you are looking for"}}, []),
    _spec("ask_human", "Ask the user (codes, choices, missing details) and wait.", {"question": _STR}, ["question"]),
    _spec("done", "Finish the task with its result.",
          {"result": _STR, "success": {"type": "boolean", "default": True},
           "not_found": {"type": "boolean", "description": "with success=false: what the task needs (the page,"
                         " or an element it names) is not there"}}, ["result"]),
]
# fmt: on
ACTION_NAMES: tuple[str, ...] = tuple(spec["name"] for spec in ACTION_SPECS)
LOOP_ACTIONS = frozenset({"ask_human", "done"})  # the agent loop answers these, not the browser
