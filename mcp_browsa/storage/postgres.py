"""PostgreSQL through psycopg 3: a connection pool, transactions, migrations under an advisory lock, LISTEN/NOTIFY.

Every process of a deployment points at one database. Transactions run at READ COMMITTED; where a repository reads
a row and then changes it (a balance, an idempotency key, a claim) it locks the row (`conn.for_update`,
`conn.skip_locked`), so concurrent writers in other processes queue on that row rather than on the whole database.
One LISTEN connection per process feeds the in-process hub (storage/notify.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

import anyio
import psycopg
import psycopg_pool
from psycopg import AsyncConnection, AsyncCursor
from psycopg.adapt import Dumper, Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import RowMaker

from mcp_browsa.errors import StorageUnavailable
from mcp_browsa.storage.dialect import to_postgres
from mcp_browsa.storage.migrate import migration_files, split_sql
from mcp_browsa.storage.notify import Hub
from mcp_browsa.storage.sql import Backend, Conn, Cursor, Notification, Row

__all__ = ["PostgresBackend"]

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x62726F7773610001  # pg_advisory_xact_lock key: "browsa" + 1, one migrator at a time
_WAKE = "browsa_listen_changed"  # tells this process's LISTEN loop that its channel set changed
POOL_MAX = 10


class PgRow:
    """A row read by name or position, like sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str, /) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


def _pg_rows(cursor: AsyncCursor[Any]) -> RowMaker[PgRow]:
    names = [c.name for c in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: PgRow(values, index)


class _BoolAsInt(Dumper):
    """Flags are INTEGER columns (0/1) on both databases; PostgreSQL will not put a boolean in one."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericLoader(Loader):
    """SUM over BIGINT is NUMERIC in PostgreSQL: read whole numbers as int, others as float, as SQLite gives them."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


def _configure_types(conn: AsyncConnection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.adapters.register_loader("numeric", _NumericLoader)


def unavailable(exc: BaseException, where: str) -> StorageUnavailable:
    return StorageUnavailable(f"the database cannot be reached ({where}): {str(exc).strip() or type(exc).__name__}")


class _Cursor(Cursor):
    def __init__(self, cur: AsyncCursor[PgRow]) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    async def fetchone(self) -> Row | None:
        if self._cur.description is None:
            return None
        return await self._cur.fetchone()

    async def fetchall(self) -> list[Row]:
        if self._cur.description is None:
            return []
        return list(await self._cur.fetchall())

    async def close(self) -> None:
        await self._cur.close()


class _Conn(Conn):
    kind = "postgresql"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        super().__init__()
        self.raw = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cur = self.raw.cursor(row_factory=_pg_rows)
        await cur.execute(to_postgres(sql), tuple(params))
        return _Cursor(cur)

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        async with self.raw.cursor() as cur:
            await cur.executemany(to_postgres(sql), [tuple(p) for p in params])


class PostgresBackend(Backend):
    kind = "postgresql"
    notifies_other_processes = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self.hub = Hub()
        self._listener: asyncio.Task[None] | None = None
        self._listening: set[str] = set()
        self._listen_changed = anyio.Event()

    def describe(self) -> str:
        try:
            info = conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            return "postgresql://(an unreadable URL)"
        user = f"{info['user']}@" if info.get("user") else ""
        port = f":{info['port']}" if info.get("port") else ""
        return f"postgresql://{user}{info.get('host') or 'localhost'}{port}/{info.get('dbname') or ''}"

    async def open(self) -> None:
        async def configure(conn: AsyncConnection[Any]) -> None:
            _configure_types(conn)

        self.pool = psycopg_pool.AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={"autocommit": True},
            configure=configure,
            open=False,
            name="mcp-browsa",
        )
        try:
            await self.pool.open(wait=True, timeout=15)
        except psycopg_pool.PoolTimeout as exc:
            await self.pool.close()
            self.pool = None
            raise StorageUnavailable(f"the database at {self.describe()} cannot be reached: {exc}") from exc
        await self._migrate()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        assert self.pool is not None, "database is not open"
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise unavailable(exc, self.describe()) from exc

    async def _migrate(self) -> None:
        async with self._connection() as conn, conn.transaction():
            # DDL is transactional here: two processes starting at once apply each migration once, in order.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at DOUBLE PRECISION NOT NULL DEFAULT EXTRACT(EPOCH FROM now()))"
            )
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            row = await cur.fetchone()
            current = int(row[0]) if row else 0
            for version, name, sql in migration_files("postgresql"):
                if version <= current:
                    continue
                for statement in split_sql(sql):
                    await conn.execute(statement.encode())
                await conn.execute("INSERT INTO schema_migrations(version, name) VALUES (%s, %s)", (version, name))
                log.info("database migrated to version %d (%s)", version, name)

    async def schema_version(self) -> int:
        rows = await self.fetchall("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", ())
        return int(rows[0][0]) if rows else 0

    async def server_version(self) -> str:
        rows = await self.fetchall("SELECT current_setting('server_version')", ())
        return f"PostgreSQL {rows[0][0]}" if rows else "PostgreSQL"

    async def integrity_check(self) -> str:
        # PostgreSQL checksums and repairs its own pages; what can be wrong from here is reaching it.
        await self.fetchall("SELECT 1", ())
        return "ok"

    def transaction(self, *, durable: bool) -> AbstractAsyncContextManager[Conn]:
        del durable  # every PostgreSQL commit is durable
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Conn]:
        async with self._connection() as raw:
            wrapped = _Conn(raw)
            await raw.execute("BEGIN")
            try:
                yield wrapped
                with anyio.CancelScope(shield=True):
                    for note in wrapped.pending_notifications:
                        await raw.execute("SELECT pg_notify(%s, %s)", (note.channel, note.payload))
                    await raw.execute("COMMIT")
            except BaseException:
                with anyio.CancelScope(shield=True):
                    if not raw.closed and raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        try:
                            await raw.execute("ROLLBACK")
                        except psycopg.Error:
                            log.warning("rollback failed; the connection is dropped", exc_info=True)
                            await raw.close()
                raise

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]:
        async with self._connection() as raw, raw.cursor(row_factory=_pg_rows) as cur:
            await cur.execute(to_postgres(sql), tuple(params))
            return list(await cur.fetchall()) if cur.description is not None else []

    async def notify(self, channel: str, payloads: Sequence[str]) -> None:
        # One statement in its own (implicit) transaction: one round trip whatever the burst, where BEGIN, a
        # pg_notify per payload and COMMIT took three or more.
        async with self._connection() as raw:
            await raw.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (channel, list(payloads)))

    # -- LISTEN ----------------------------------------------------------------------------------------------

    def listen(self, channels: Sequence[str]) -> AbstractAsyncContextManager[AsyncIterator[Notification]]:
        return self._listen(channels)

    @asynccontextmanager
    async def _listen(self, channels: Sequence[str]) -> AsyncIterator[AsyncIterator[Notification]]:
        async with self.hub.subscribe(channels) as notes:
            if self._listener is None or self._listener.done():
                self._listener = asyncio.create_task(self._listen_loop(), name="mcp-browsa LISTEN")
            elif not set(channels) <= self._listening:
                await self.notify(_WAKE, [""])
            with anyio.fail_after(15):
                while not set(channels) <= self._listening:
                    changed = self._listen_changed
                    await changed.wait()
            yield notes

    async def _listen_loop(self) -> None:
        """Keep one connection LISTENing on every channel this process's listeners want; reconnect when lost."""
        while True:
            try:
                async with await AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {_WAKE}")
                    listening: set[str] = set()
                    while True:
                        wanted = self.hub.channels()
                        for channel in sorted(wanted - listening):
                            await conn.execute(f"LISTEN {channel}")
                        for channel in sorted(listening - wanted):
                            await conn.execute(f"UNLISTEN {channel}")
                        fresh = wanted - listening
                        listening = set(wanted)
                        self._listening = set(listening)
                        self._listen_changed.set()
                        self._listen_changed = anyio.Event()
                        # Anything sent while a channel was not yet listened (or the connection was down) is
                        # unknown: listeners are woken to look for themselves.
                        self.hub.publish(Notification(channel, "") for channel in fresh)
                        async for note in conn.notifies(timeout=5.0):
                            if note.channel == _WAKE:
                                break
                            self.hub.publish([Notification(note.channel, note.payload)])
            except psycopg.OperationalError:
                self._listening = set()
                log.warning("the LISTEN connection to %s was lost; reconnecting", self.describe(), exc_info=True)
                await anyio.sleep(1.0)
