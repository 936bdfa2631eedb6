"""Keyset paging for the list tools: `limit` rows after an opaque `cursor`, the next cursor, and the total.

A cursor holds the sort key of the last row returned (newest first), not an offset, so rows inserted meanwhile
never shift a page: they sort before the cursor and are not repeated or skipped. Each list signs its cursors with
its own name; a cursor from another list, or one that was edited, is the caller's error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcp_browsa.errors import BadRequest
from mcp_browsa.storage.db import Database, Row

__all__ = ["Page", "fetch_page"]


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None  # None on the last page
    total: int  # rows matching the filters, over every page


def _encode(name: str, key: Sequence[Any]) -> str:
    raw = json.dumps([name, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(name: str, cursor: str, types: Sequence[type]) -> list[Any]:
    bad = BadRequest(f"cursor {cursor[:40]!r} is not a cursor of this list; pass the next_cursor it returned")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != name:
        raise bad
    key = data[1:]
    # A float key may have been written as a whole number; nothing else may change type.
    if not all(type(v) is t or (t is float and type(v) is int) for v, t in zip(key, types, strict=True)):
        raise bad
    return key


async def fetch_page(
    db: Database,
    *,
    name: str,
    select: str,
    filters: Mapping[str, Any],
    key: Sequence[tuple[str, type]],
    limit: int,
    cursor: str | None,
) -> Page:
    """`SELECT {select}` of the rows where each column of `filters` equals its value (None: any), ordered by the
    `key` expressions, newest (largest) first.

    `select` is "columns FROM tables"; `key` is (SQL expression, Python type) pairs that together identify a row
    (end it with a unique column).
    """
    wanted = {column: value for column, value in filters.items() if value is not None}
    where = " AND ".join(f"{column}=?" for column in wanted) or "1=1"
    args = list(wanted.values())
    exprs = [expr for expr, _type in key]
    after, after_args = "", []
    if cursor:
        last = _decode(name, cursor, [t for _expr, t in key])
        # (k1 < a) OR (k1 = a AND k2 < b) OR …: strictly after the last row in the newest-first order.
        clauses = []
        for i, expr in enumerate(exprs):
            clauses.append("(" + " AND ".join([f"{k} = ?" for k in exprs[:i]] + [f"{expr} < ?"]) + ")")
            after_args += [*last[:i], last[i]]
        after = " AND (" + " OR ".join(clauses) + ")"
    keys = ", ".join(f"{expr} AS _page_k{i}" for i, expr in enumerate(exprs))
    order = ", ".join(f"{expr} DESC" for expr in exprs)
    rows = await db.fetchall(
        f"SELECT {select.replace(' FROM ', f', {keys} FROM ', 1)} WHERE {where}{after} ORDER BY {order} LIMIT ?",
        [*args, *after_args, limit + 1],
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(name, [rows[-1][f"_page_k{i}"] for i in range(len(key))]) if more and rows else None
    from_part = select.split(" FROM ", 1)[1]
    count = await db.fetchone(f"SELECT COUNT(*) FROM {from_part} WHERE {where}", list(args))
    return Page(rows=rows, next_cursor=next_cursor, total=int(count[0]) if count else 0)
