"""Notifications fanned out to this process's listeners.

On SQLite this is all there is (other processes on the data dir poll). On PostgreSQL one LISTEN connection feeds
it, so a process holds one connection for notifications however many listeners it has.

A notification is a wake-up, not a message: a listener that falls behind loses the oldest ones it has not read
rather than holding memory, and must re-read the state it cares about when woken anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from mcp_browsa.storage.sql import Notification, check_channel

__all__ = ["Hub"]

_BUFFER = 256


class Hub:
    def __init__(self) -> None:
        self._listeners: dict[str, set[MemoryObjectSendStream[Notification]]] = {}

    def channels(self) -> set[str]:
        """Channels someone in this process listens on."""
        return {channel for channel, sends in self._listeners.items() if sends}

    def publish(self, notifications: Iterable[Notification]) -> None:
        for note in notifications:
            for send in list(self._listeners.get(note.channel, ())):
                try:
                    send.send_nowait(note)
                except anyio.WouldBlock:
                    pass  # the listener is behind; it re-reads the state when it catches up
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    self._listeners[note.channel].discard(send)

    @asynccontextmanager
    async def subscribe(self, channels: Sequence[str]) -> AsyncIterator[AsyncIterator[Notification]]:
        """Notifications on `channels` from entry until exit, as an async iterator."""
        for channel in channels:
            check_channel(channel)
        send, receive = anyio.create_memory_object_stream[Notification](_BUFFER)
        for channel in channels:
            self._listeners.setdefault(channel, set()).add(send)
        try:
            async with receive:
                yield receive
        finally:
            for channel in channels:
                self._listeners.get(channel, set()).discard(send)
            send.close()
