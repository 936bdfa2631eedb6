"""Parameter helpers shared by tool modules, e.g. exposing a Python keyword (`async`) as an argument name.

The schema takes the name from a pydantic alias; the call arrives with that alias as keyword.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from pydantic import Field

__all__ = ["Cursor", "keyword_param"]

# Paging of the list tools (list_jobs, list_identities, webhook_deliveries); see storage/paging.py.
Cursor = Annotated[str | None, Field(max_length=500, description="The previous page's next_cursor.")]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def keyword_param(python_name: str, wire_name: str) -> Callable[[F], F]:
    """Accept `wire_name` (declared as the alias of `python_name`) and pass it on as `python_name`."""

    def decorate(fn: F) -> F:
        # functools.wraps keeps __wrapped__, so the schema is still built from fn's own signature.
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if wire_name in kwargs:
                kwargs[python_name] = kwargs.pop(wire_name)
            return await fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
