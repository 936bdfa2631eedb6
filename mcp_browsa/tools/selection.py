"""Which tools a server shows: `--tools` takes group names, single tool names and profiles, mixed.

A profile is a named set of groups for a kind of host: `host` is what a desktop assistant with its own model
needs (drive a browser, read pages, follow jobs) and leaves out what costs context without use there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["PROFILES", "ToolSelectionError", "selected_tools"]


class ToolSelectionError(ValueError):
    """`--tools` or `--profile` named something this server does not have."""


PROFILES: dict[str, tuple[str, ...]] = {"host": ("browser", "quick", "jobs")}


def selected_tools(wanted: Iterable[str], groups: Mapping[str, Iterable[str]], tools: Iterable[str]) -> set[str]:
    """The tool names `wanted` selects. Raises ToolSelectionError for a name that is no group, tool or profile.

    A profile's group this server does not have is skipped: profiles name what a host wants, and a server
    built without a group still serves the rest of it.
    """
    known = set(tools)
    keep: set[str] = set()
    unknown: list[str] = []
    for raw in wanted:
        name = raw.strip()
        if not name:
            continue
        if name in PROFILES:
            for group in PROFILES[name]:
                keep.update(groups.get(group, ()))
        elif name in groups:
            keep.update(groups[name])
        elif name in known:
            keep.add(name)
        else:
            unknown.append(name)
    if unknown:
        raise ToolSelectionError(
            f"unknown tool group, tool or profile: {', '.join(unknown)}; groups: {', '.join(sorted(groups))};"
            f" profiles: {', '.join(sorted(PROFILES))}; or any tool name"
        )
    return keep
