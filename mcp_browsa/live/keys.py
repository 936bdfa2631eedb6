"""A key the viewer pressed, as the `Input.dispatchKeyEvent` pair Chromium needs to act on it.

Chromium types a character only when the key event carries its `text`, and edits (Backspace, Enter, arrows) only
with the Windows virtual key code; a DOM `KeyboardEvent.key` alone does neither.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KeyPress", "key_events"]

# DOM key name -> (Windows virtual key code, text it types)
_SPECIAL: dict[str, tuple[int, str]] = {
    "Backspace": (8, ""),
    "Tab": (9, ""),
    "Enter": (13, "\r"),
    "Escape": (27, ""),
    "PageUp": (33, ""),
    "PageDown": (34, ""),
    "End": (35, ""),
    "Home": (36, ""),
    "ArrowLeft": (37, ""),
    "ArrowUp": (38, ""),
    "ArrowRight": (39, ""),
    "ArrowDown": (40, ""),
    "Delete": (46, ""),
}
_SHIFT = 8
_TYPING_MODS = _SHIFT  # with Ctrl, Alt or Meta held a character is a shortcut, not typing


class KeyPress:
    """The events for one key, and whether it typed a character (counted as typing, never recorded as text)."""

    def __init__(self, events: list[dict[str, Any]], typed: bool) -> None:
        self.events = events
        self.typed = typed


def key_events(key: str, code: str, modifiers: int) -> KeyPress | None:
    """keyDown + keyUp for a DOM `key`/`code`; None for a key this view does not send (F-keys, media keys)."""
    base: dict[str, Any] = {"key": key, "code": code, "modifiers": modifiers}
    if key in _SPECIAL:
        special, typed_text = _SPECIAL[key]
        press: dict[str, Any] = {**base, "windowsVirtualKeyCode": special}
        down = {**press, "type": "keyDown" if typed_text else "rawKeyDown"}
        if typed_text:
            down.update(text=typed_text, unmodifiedText=typed_text)
        return KeyPress([down, {**press, "type": "keyUp"}], typed=False)
    if len(key) != 1:
        return None
    # A virtual key code of 0 beside a `code` makes Chromium drop the character: give one only when it is known.
    if key == " ":
        base["windowsVirtualKeyCode"] = 32
    elif key.isascii() and key.isalnum():
        base["windowsVirtualKeyCode"] = ord(key.upper())
    if modifiers & ~_TYPING_MODS:
        return KeyPress([{**base, "type": "rawKeyDown"}, {**base, "type": "keyUp"}], typed=False)
    down = {**base, "type": "keyDown", "text": key, "unmodifiedText": key}
    return KeyPress([down, {**base, "type": "keyUp"}], typed=True)
