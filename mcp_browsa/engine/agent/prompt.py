"""What the model reads each step: the system prompt, the tools, and one compact user message per step.

The conversation never grows with page size: every call carries the task, one line per earlier step,
and only the latest observation in full.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from mcp_browsa.engine.action_specs import ACTION_SPECS
from mcp_browsa.llm import ToolSpec

__all__ = [
    "HISTORY_LINES",
    "READ_PAGE_CHARS",
    "VERDICT_TOOL",
    "VERIFY_SYSTEM",
    "PromptState",
    "args_text",
    "system_prompt",
    "tool_specs",
    "verify_message",
]

HISTORY_LINES = 40  # older steps collapse into one count line; the newest matter most
READ_PAGE_CHARS = 12_000  # a read_page result is shown once, on the step after it
_LINE = 240
_SCHEMA_CHARS = 8_000

_SYSTEM = """\
You operate a web browser to complete the user's task. Each turn you get the task, one line for each \
earlier step (action → result), and the current page. You answer by calling exactly one tool.

The page is shown as header lines (URL, TITLE, TABS, SCROLL), then its interactive elements, one per line \
as `[N] <tag attributes> visible text`, then TEXT: the page's readable text. N is the `index` to pass to \
click, type and select; the numbers change from page to page, so use only those of the current page. \
"… N more below, scroll down" marks what did not fit.

Rules:
- One action per turn. After it you see the page it led to.
- type replaces a field's text (submit=true presses Enter); for a <select> use select with the option's label.
- Use read_page when you need text the page shows but the observation cut; its text comes with the next step.
- Never invent facts: report only what the pages show. Use the INPUT values where the task needs them.
- {{secret:NAME}} stands for a value you are not shown; type it exactly like that and it is filled in.
- Do not repeat an action that did not change the page; try something else.
- When the task is complete call done with the result. If it cannot be done, call done with success=false \
and say why; add not_found=true when what the task needs (the page, or an element it names) is not there."""

_ASK = "\n- If you need something only the user knows (a code, a choice, a missing detail), call ask_human."
_NO_ASK = "\n- No human is available in this run: decide yourself, or finish with done(success=false)."

VERIFY_SYSTEM = """\
You check whether a browser task reached its success condition. You get the condition, the result the agent \
reported and the final page. Judge only from the page and the result; when the page does not show that the \
condition holds, it is not met. Answer with the verdict tool."""

VERDICT_TOOL = ToolSpec(
    name="verdict",
    description="Whether the success condition holds on the final page.",
    parameters={
        "type": "object",
        "properties": {
            "met": {"type": "boolean", "description": "true only if the page shows the condition holds"},
            "reason": {"type": "string", "description": "one sentence: what on the page shows it, or what is missing"},
        },
        "required": ["met", "reason"],
        "additionalProperties": False,
    },
)


def system_prompt(*, ask_human: bool) -> str:
    return _SYSTEM + (_ASK if ask_human else _NO_ASK)


def tool_specs(*, output: dict[str, Any] | None, ask_human: bool) -> list[ToolSpec]:
    """ACTION_SPECS as tools; `done` takes `data` shaped by the output schema when there is one."""
    tools: list[ToolSpec] = []
    for spec in ACTION_SPECS:
        if spec["name"] == "ask_human" and not ask_human:
            continue
        params = copy.deepcopy(spec["parameters"])
        description = spec["description"]
        if spec["name"] == "done":
            params["properties"]["result"]["description"] = "the answer, or a short account of what was done"
            if output is not None:
                params["properties"]["data"] = _data_schema(output)
                params["required"] = ["result", "data"]
                description = "Finish the task: `data` must match the OUTPUT schema; `result` says it in words."
        tools.append(ToolSpec(name=spec["name"], description=description, parameters=params))
    return tools


def _data_schema(output: dict[str, Any]) -> dict[str, Any]:
    # A schema with references points into its own root, which stops being the root once nested under `data`;
    # such a schema is described in the message instead, and the loop validates against the original anyway.
    if "$ref" in json.dumps(output) or "$defs" in output or "definitions" in output:
        kind = output.get("type") if isinstance(output.get("type"), str) else "object"
        return {"type": kind, "description": "JSON matching the OUTPUT schema in the task message"}
    return copy.deepcopy(output)


def args_text(args: dict[str, Any]) -> str:
    """Arguments as short JSON for step lines: long strings clipped so one step stays one line."""
    short = {k: (v[:80] + "…" if isinstance(v, str) and len(v) > 80 else v) for k, v in args.items()}
    return json.dumps(short, ensure_ascii=False, separators=(", ", ": ")) if short else ""


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class PromptState:
    """Everything besides the page that goes into each step's message."""

    task: str
    max_steps: int
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    success_condition: str | None = None
    history: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said once, on the next step only
    extracted: str | None = None  # a read_page result, shown once

    def add_step(self, step: int, action: str, result: str, *, long: bool = False) -> None:
        """One history line; `long` keeps more of it (a human's answer is worth the room)."""
        self.history.append(_clip(f"{step}. {action} → {result}", _LINE * 3 if long else _LINE))

    def message(self, step: int, observation: str) -> str:
        """The user message for `step`: task, inputs, output shape, step lines, notes, then the page."""
        parts = [f"TASK:\n{self.task}"]
        if self.input:
            values = json.dumps(self.input, ensure_ascii=False, indent=1)
            parts.append(f"INPUT (values to use where the task needs them):\n{values}")
        if self.output is not None:
            schema = json.dumps(self.output, ensure_ascii=False, separators=(",", ":"))
            if len(schema) > _SCHEMA_CHARS:
                schema = schema[:_SCHEMA_CHARS] + "…"
            parts.append(
                f"OUTPUT: finish with done(result=..., data=...) where data matches this JSON Schema:\n{schema}"
            )
        if self.success_condition:
            parts.append(
                "SUCCESS CONDITION (checked against the final page before the task counts as done):\n"
                + self.success_condition
            )
        done = step - 1
        lines = self.history[-HISTORY_LINES:]
        hidden = len(self.history) - len(lines)
        head = f"STEPS SO FAR ({done} of at most {self.max_steps}):"
        body = ([f"(… {hidden} earlier steps not shown)"] if hidden else []) + lines
        parts.append(head + "\n" + ("\n".join(body) if body else "(none yet)"))
        if self.notes:
            parts.append("NOTES:\n" + "\n".join(f"- {n}" for n in self.notes))
            self.notes = []
        if self.extracted is not None:
            parts.append(f"READ_PAGE RESULT (from the previous step):\n{self.extracted[:READ_PAGE_CHARS]}")
            self.extracted = None
        parts.append(f"CURRENT PAGE (step {step} of at most {self.max_steps}):\n{observation}")
        return "\n\n".join(parts)


def verify_message(condition: str, result: str, data: Any, observation: str) -> str:
    reported = result if data is None else f"{result}\nDATA: {json.dumps(data, ensure_ascii=False)[:4000]}"
    return f"SUCCESS CONDITION:\n{condition}\n\nREPORTED RESULT:\n{reported}\n\nFINAL PAGE:\n{observation}"
