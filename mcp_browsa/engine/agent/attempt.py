"""What one agent attempt carries: its task (`TaskSetup`) and its state, with the helpers every step shares.

The step loop itself (observe → decide → act → record) is `loop.AgentAttempt`, built on this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_browsa.browser.private_hint import private_network_hint
from mcp_browsa.engine.agent.human import HumanChannel
from mcp_browsa.engine.agent.loop_guard import LoopGuard
from mcp_browsa.engine.agent.prompt import PromptState, system_prompt, tool_specs
from mcp_browsa.engine.agent.steps import StepRecorder
from mcp_browsa.engine.agent.walls import GuardWatch, Refusal
from mcp_browsa.engine.context import JobContext, Outcome
from mcp_browsa.engine.observation import mask_text
from mcp_browsa.engine.takeover import ViewHandle
from mcp_browsa.llm import ChatModel
from mcp_browsa.workspace_secrets import SecretResolver

__all__ = ["AttemptState", "TaskSetup"]


@dataclass(frozen=True)
class TaskSetup:
    """What one attempt needs to know about its task."""

    task: str
    max_steps: int
    timeout_seconds: float
    initial_url: str | None = None
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    success_condition: str | None = None
    screenshot_mode: str | None = "final_only"
    nav_timeout_ms: int = 15_000


class AttemptState:
    """What one attempt holds: its task, model, browser watch, recorder, secrets, deadline and notes so far.

    `human` is None where nobody can be asked (batch rows, fanout).
    """

    def __init__(
        self,
        ctx: JobContext,
        model: ChatModel,
        recorder: StepRecorder,
        watch: GuardWatch,
        setup: TaskSetup,
        *,
        secrets: SecretResolver | None = None,
        human: HumanChannel | None = None,
        human_waiting: Callable[[], bool] = lambda: False,
        live: ViewHandle | None = None,
    ) -> None:
        self.ctx = ctx
        self.model = model
        self.rec = recorder
        recorder.mask_values = lambda: self.masks
        self.watch = watch
        self.setup = setup
        self.human = human
        self.human_waiting = human_waiting
        self.live = live  # the live view of this browser, where a person can watch and take over
        self.secrets = secrets
        self.state = PromptState(setup.task, setup.max_steps, setup.input, setup.output, setup.success_condition)
        self.tools = tool_specs(output=setup.output, ask_human=human is not None)
        self.system = system_prompt(ask_human=human is not None)
        self.guard = LoopGuard()
        self.fixes = {"schema": 0, "condition": 0}
        self.steps = 0
        self.url = setup.initial_url or ""
        self.start_status: int | None = None  # the HTTP status of initial_url, once opened
        self.deadline = time.monotonic() + setup.timeout_seconds

    @property
    def masks(self) -> tuple[str, ...]:
        return self.secrets.mask_values if self.secrets is not None else ()

    def _masked(self, data: dict[str, Any]) -> dict[str, Any]:
        return {k: mask_text(v, self.masks) if isinstance(v, str) else v for k, v in data.items()}

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def _fail(self, code: str, message: str, **extra: Any) -> Outcome:
        result = {"steps": self.steps, "final_url": self.url, **extra}
        return Outcome.fail(code, mask_text(message, self.masks), result=result)

    def _blocked(self, refusal: Refusal) -> Outcome:
        hint = private_network_hint(refusal.rule, refusal.url)
        message = f"{refusal.url[:200]} was blocked by the URL guard ({refusal.rule}): {refusal.reason}{hint}"
        return self._fail("BLOCKED", message, blocked=self._masked(refusal.as_dict()))
