"""Plain-English instructions on a host-driven page: one model call picks the agent's action, or the elements.

`act(instruction=…)` becomes one of the agent's own actions on the current observation (the same tools and
page text the agent loop uses), which the session then performs; `observe(instruction=…)` keeps only the
elements the model names. The model is whatever the call has: the server's key or the client's own (sampling).
"""

from __future__ import annotations

import re
from typing import Any

from mcp_browsa.engine.agent.prompt import tool_specs
from mcp_browsa.llm.base import ChatModel, ToolSpec
from mcp_browsa.llm.base import Message as ChatMessage

__all__ = ["ACT_SYSTEM", "InstructionUnresolved", "matching_elements", "only_elements", "resolve_action"]

# What a session can do with one action; done, read_page and ask_human belong to a whole task, not a step.
_SESSION_ACTIONS = frozenset(
    {"navigate", "click", "type", "select", "press", "scroll", "go_back", "switch_tab", "wait"}
)
_ELEMENT = re.compile(r"^\s*\[(\d+)\]")

ACT_SYSTEM = """\
You operate a web browser for a user. You get the current page and one instruction. The page is shown as \
header lines (URL, TITLE, TABS, SCROLL), then its interactive elements, one per line as \
`[N] <tag attributes> visible text`, then TEXT. Carry out the instruction with exactly one tool call, using \
the element numbers N of this page. {{secret:NAME}} stands for a value you are not shown; type it as written."""

SELECT_SYSTEM = """\
You read a web page for a user. You get the current page (elements as `[N] <tag attributes> visible text`) and \
a description of what they are looking for. Call `matches` with the numbers N of every element that fits it, \
best first; an empty list when none does."""

MATCHES = ToolSpec(
    name="matches",
    description="The elements of the page that fit the description.",
    parameters={
        "type": "object",
        "properties": {"indices": {"type": "array", "items": {"type": "integer"}, "description": "element numbers"}},
        "required": ["indices"],
    },
)


class InstructionUnresolved(Exception):
    """The model did not answer with a usable action or selection."""


def _message(observation: str, instruction: str) -> list[ChatMessage]:
    return [ChatMessage.user(f"INSTRUCTION:\n{instruction}\n\nCURRENT PAGE:\n{observation}")]


def action_tools() -> list[ToolSpec]:
    return [t for t in tool_specs(output=None, ask_human=False) if t.name in _SESSION_ACTIONS]


async def resolve_action(model: ChatModel, observation: str, instruction: str) -> tuple[str, dict[str, Any]]:
    """(action, arguments): the one action the model chose for `instruction` on this page."""
    completion = await model.ainvoke(
        _message(observation, instruction), action_tools(), system=ACT_SYSTEM, tool_choice="required", max_tokens=1024
    )
    call = next((c for c in completion.tool_calls if c.name in _SESSION_ACTIONS), None)
    if call is None:
        said = completion.text.strip()[:200]
        raise InstructionUnresolved(f"the model chose no action for the instruction{': ' + said if said else ''}")
    return call.name, dict(call.arguments)


async def matching_elements(model: ChatModel, observation: str, instruction: str) -> list[int]:
    """The element numbers the model says fit `instruction`, in its order, only those the page has."""
    completion = await model.ainvoke(
        _message(observation, instruction), [MATCHES], system=SELECT_SYSTEM, tool_choice="required", max_tokens=512
    )
    call = next((c for c in completion.tool_calls if c.name == "matches"), None)
    if call is None:
        raise InstructionUnresolved("the model named no elements")
    present = {int(m.group(1)) for line in observation.splitlines() if (m := _ELEMENT.match(line))}
    raw = call.arguments.get("indices")
    wanted = [int(i) for i in raw if isinstance(i, int | str) and str(i).isdigit()] if isinstance(raw, list) else []
    return [i for i in dict.fromkeys(wanted) if i in present]


def only_elements(observation: str, indices: list[int]) -> str:
    """The observation's header lines and the chosen elements' lines; the rest of the page left out."""
    keep = set(indices)
    head: list[str] = []
    lines: dict[int, str] = {}
    for line in observation.splitlines():
        match = _ELEMENT.match(line)
        if match is not None:
            lines[int(match.group(1))] = line
        elif not lines and not line.startswith("TEXT:"):
            head.append(line)
        elif line.startswith("TEXT:"):
            break
    chosen = [lines[i] for i in indices if i in keep and i in lines]
    return "\n".join([*head, *(chosen or ["(no element matches)"])])
