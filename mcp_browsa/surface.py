"""What the host loads from `tools/list`: compact input schemas and output schemas by reference.

Every character of `tools/list` is context the host pays for on every turn. Pydantic's schemas carry a
`title` per field, `anyOf [X, null]` plus `"default": null` per optional argument, and each tool that returns
a Job would repeat the whole Job schema. Here the advertised schemas are rewritten once, for every tool of
every group (those added later included): titles go, optional arguments are just `X`, and an output schema
larger than a line is left out: the resource `browsa://schemas/{Name}` serves it in full, and `browsa://schemas`
says which tool returns which (the server's instructions say so once, rather than each tool).

Only what is advertised changes: arguments are still validated by each tool's pydantic model, and results
still by its output model, so a client sending `null` for an optional argument is accepted as before.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mcp_types import Tool, ToolAnnotations

__all__ = [
    "SCHEMA_URI",
    "SHARED_ARGUMENTS",
    "ResultSchemas",
    "advertised_tools",
    "compact_schema",
    "output_reference",
]

SCHEMA_URI = "browsa://schemas/{name}"
# Arguments many tools share, described once in the server's instructions instead of on every tool.
SHARED_ARGUMENTS = """\
Arguments many tools share: idempotency_key makes a retry safe (the same key and arguments replay the first \
response for 24 h); allowed_domains lists the hosts a job may contact (`*.x.com` wildcards; default any); \
async returns the job at once; llm is "provider:model[@url]" or "client" (your own model, through sampling), \
default the server's; llm_api_key is a vendor key for that call only, never stored; main_content (default true) \
keeps only a page's main content in markdown; load_media loads images, media and fonts for text formats too.
"""
_SHARED_NAMES = frozenset({"idempotency_key", "allowed_domains", "async", "llm", "llm_api_key", "main_content"})
_SHARED_NAMES |= {"load_media"}
# An output schema of this many characters or fewer is cheaper inline than a reference and a resource read.
_INLINE_OUTPUT_CHARS = 300
# Keys whose value maps names to schemas: the names are data (a property may be called `title`).
_NAMED_SCHEMAS = ("properties", "$defs", "definitions", "patternProperties")
# Size caps that only guard against abuse (4096-char URLs, 1000-row batches) tell a caller nothing it would
# come near; the server still enforces them and names them in its refusal.
_ABUSE_CAPS = {"maxLength": 100, "maxItems": 100, "maxProperties": 100, "maximum": 1000}
_NOT_EMPTY = {"minLength": 1, "minItems": 1}
_OBVIOUS_MINIMUM = (0, 1)  # counts, seconds and sizes are not negative; the server still says so if sent
# MCP's defaults for tool annotations: stating them tells a host nothing.
_DEFAULT_HINTS = {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": False, "open_world_hint": True}


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema == {"type": "null"}


def compact_schema(schema: Any) -> Any:
    """The same schema for a caller, without what only costs characters: titles, `null` alternatives of
    optional fields, `"default": null` and `false` (a flag's usual default), `"additionalProperties": true`,
    abuse caps, not-empty minimums and minimums of 0 or 1."""
    if isinstance(schema, list):
        return [compact_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "additionalProperties" and value is True) or (key == "default" and value is False):
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value >= _ABUSE_CAPS.get(key, value + 1) or _NOT_EMPTY.get(key) == value:
                continue
            if key == "minimum" and value in _OBVIOUS_MINIMUM:
                continue
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {name: compact_schema(sub) for name, sub in value.items()}
        else:
            out[key] = compact_schema(value)
    options = out.get("anyOf")
    if isinstance(options, list) and "default" in out and out["default"] is None:
        rest = [o for o in options if not _is_null(o)]
        if len(rest) == 1 and isinstance(rest[0], dict) and len(rest) < len(options):
            del out["anyOf"], out["default"]
            # The one non-null alternative takes the anyOf's place; the field's own keys (description) win.
            out = {**rest[0], **out}
    return out


@dataclass
class ResultSchemas:
    """The output schemas `tools/list` leaves out, by name, and which tool returns which."""

    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)  # tool name -> schema name


def output_reference(schema: dict[str, Any] | None) -> tuple[dict[str, Any] | None, tuple[str, dict[str, Any]] | None]:
    """The output schema to advertise (None when it is left to the resource), and (name, full schema) then."""
    if schema is None:
        return None, None
    name = str(schema.get("title") or "")
    if not name or len(json.dumps(schema)) <= _INLINE_OUTPUT_CHARS:
        return compact_schema(schema), None
    return None, (name, schema)


def _shared_undescribed(schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema with the shared arguments' descriptions left to the instructions (SHARED_ARGUMENTS)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    lean = {
        name: {k: v for k, v in spec.items() if k != "description"} if name in _SHARED_NAMES else spec
        for name, spec in properties.items()
    }
    return {**schema, "properties": lean}


def _hints(annotations: ToolAnnotations | None) -> ToolAnnotations | None:
    """The annotations without hints that only restate MCP's defaults (open world, destructive unless read-only)."""
    if annotations is None:
        return None
    read_only = bool(annotations.read_only_hint)
    kept = {
        name: value
        for name, value in annotations.model_dump(exclude_none=True).items()
        if not (name in _DEFAULT_HINTS and value == _DEFAULT_HINTS[name])
        and not (name == "destructive_hint" and read_only)  # meaningless for a read-only tool
    }
    return ToolAnnotations(**kept) if kept else None


def advertised_tools(tools: Iterable[Tool]) -> tuple[list[Tool], ResultSchemas]:
    """The tools as `tools/list` shows them, and the output schemas served as resources instead."""
    shown: list[Tool] = []
    catalog = ResultSchemas()
    for tool in tools:
        output, referenced = output_reference(tool.output_schema)
        if referenced is not None:
            catalog.schemas[referenced[0]] = referenced[1]
            catalog.results[tool.name] = referenced[0]
        update: dict[str, Any] = {
            "input_schema": _shared_undescribed(compact_schema(tool.input_schema)),
            "output_schema": output,
            "annotations": _hints(tool.annotations),
        }
        if tool.description:
            update["description"] = inspect.cleandoc(tool.description)  # docstring indentation is not reading
        shown.append(tool.model_copy(update=update))
    return shown, catalog
