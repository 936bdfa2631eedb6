"""What repositories see of a database, whichever it is: a connection inside a transaction, its cursors and rows.

Design: one SQL text for both databases, written in SQLite's dialect with `?` placeholders. The PostgreSQL
connection rewrites the few constructs that differ (placeholders, `INSERT OR IGNORE`, `json_extract`/`json_set`,
see `storage/dialect.py`); the rest is portable SQL (`ON CONFLICT … DO UPDATE`, `RETURNING`, `CASE` rather than
two-argument `MAX`). Row locks are the one thing SQLite has no syntax for and does not need (its writers take
turns): a repository appends `conn.for_update` or `conn.skip_locked`, which are empty on SQLite.

Notifications (`Conn.notify`, `Database.notify`, `Database.listen`) wake other workers: on PostgreSQL they are
`NOTIFY`/`LISTEN` and reach every process on the database; on SQLite they reach this process only, and other
processes sharing a data dir keep polling. A notification sent inside a transaction is delivered when it commits
and dropped when it rolls back, on both.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["Backend", "Conn", "Cursor", "Kind", "Notification", "Row", "check_channel"]

Kind = Literal["sqlite", "postgresql"]

_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_channel(channel: str) -> str:
    """A channel name is a lowercase identifier: it is spliced into LISTEN, which takes no parameter."""
    if not _CHANNEL.match(channel):
        raise ValueError(f"not a notification channel name: {channel!r} (lowercase letters, digits, _)")
    return channel


class Row(Protocol):
    """A result row, read by column name (`row["id"]`) or position (`row[0]`); `dict(row)` gives name → value."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(ABC):
    """The result of one statement."""

    @property
    @abstractmethod
    def rowcount(self) -> int:
        """Rows the statement changed (or returned, with RETURNING)."""

    @abstractmethod
    async def fetchone(self) -> Row | None: ...

    @abstractmethod
    async def fetchall(self) -> list[Row]: ...

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Notification:
    channel: str
    payload: str


class Conn(ABC):
    """A connection inside one transaction. Statements are SQLite-dialect SQL with `?` placeholders."""

    kind: Kind
    #: Appended to a SELECT whose rows the transaction goes on to change: locks them until commit (PostgreSQL).
    for_update: str = ""
    #: Appended to a SELECT that picks work: rows another transaction holds are passed over rather than waited for.
    skip_locked: str = ""

    def __init__(self) -> None:
        self.pending_notifications: list[Notification] = []

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    @abstractmethod
    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None: ...

    def notify(self, channel: str, payload: str = "") -> None:
        """Wake listeners on `channel` once this transaction commits; nothing is sent if it rolls back."""
        self.pending_notifications.append(Notification(check_channel(channel), payload))


class Backend(ABC):
    """One database engine behind `Database`: its connections, transactions, migrations and notifications."""

    kind: Kind
    #: Whether a notification reaches other processes (and machines), or only listeners in this process.
    notifies_other_processes: bool

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def transaction(self, *, durable: bool) -> AbstractAsyncContextManager[Conn]: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def integrity_check(self) -> str: ...

    @abstractmethod
    async def server_version(self) -> str: ...

    @abstractmethod
    async def notify(self, channel: str, payloads: Sequence[str]) -> None:
        """Send every payload on `channel` now, together (one statement on PostgreSQL)."""

    @abstractmethod
    def listen(self, channels: Sequence[str]) -> AbstractAsyncContextManager[AsyncIterator[Notification]]: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the database is, without a password."""
