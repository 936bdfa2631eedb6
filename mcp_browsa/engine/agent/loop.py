"""One agent attempt on one browser: observe → decide (native tool calling) → act → record, until a stop.

Stops: done (validated against the output schema, then the success condition), steps run out (STALLED),
the same action on an unchanged page (LOOP), the wallclock (TIMEOUT), a cancel between steps, credits,
a CAPTCHA, a blocked top-level navigation (BLOCKED), an LLM failure.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from mcp_browsa.engine.actions import execute
from mcp_browsa.engine.agent.attempt import AttemptState
from mcp_browsa.engine.agent.human import HumanAnswer
from mcp_browsa.engine.agent.output import judge_condition, parse_done
from mcp_browsa.engine.agent.prompt import args_text
from mcp_browsa.engine.agent.steps import StepRecord
from mcp_browsa.engine.agent.walls import detect_captcha
from mcp_browsa.engine.context import Outcome
from mcp_browsa.engine.observation import Observation, PageUnreadable, mask_text, observe
from mcp_browsa.engine.scrape import NO_TARGET_STATUSES, PageFailure, load_page
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.engine.takeover import with_live_url
from mcp_browsa.llm import Completion, LLMError, Message
from mcp_browsa.models import JobStatus

__all__ = ["MAX_DONE_FIXES", "AgentAttempt"]

MAX_DONE_FIXES = 2  # rejected done() calls the model may correct, per kind of rejection


class AgentAttempt(AttemptState):
    """Drives one browser through one task."""

    # -- the attempt ----------------------------------------------------------------------------------------

    async def run(self, tabs: Tabs) -> Outcome:
        outcome = await self._start(tabs)
        if outcome is None:
            outcome = await self._loop(tabs)
        if self.setup.screenshot_mode == "final_only" and not tabs.active.is_closed():
            await self.rec.screenshot(tabs.active, "final")
        return outcome

    async def _start(self, tabs: Tabs) -> Outcome | None:
        url = self.setup.initial_url
        if not url:
            return None
        try:
            with anyio.fail_after(max(1.0, self._left())):
                self.start_status = await load_page(
                    tabs.active, url, wait_until="domcontentloaded", timeout_ms=self.setup.nav_timeout_ms
                )
        except TimeoutError:
            return self._fail("TIMEOUT", f"the task ran out of its {self.setup.timeout_seconds:g} s opening {url}")
        except PageFailure as failure:
            if self.watch.navigation is not None:
                return self._blocked(self.watch.navigation)
            return self._fail(failure.code, failure.message)
        if self.watch.navigation is not None:
            return self._blocked(self.watch.navigation)
        self.url = mask_text(tabs.active.url, self.masks)
        if self.setup.screenshot_mode in ("every_step", "on_navigation"):
            await self.rec.screenshot(tabs.active, "start")
        return None

    async def _loop(self, tabs: Tabs) -> Outcome:
        captcha_offered = False
        for n in range(1, self.setup.max_steps + 1):
            await self._human_turn()
            stop = await self._stop_before(n)
            if stop is not None:
                return stop
            obs = await self._observe(tabs)
            if obs is None:
                return self._fail("TIMEOUT", f"the task ran out of its {self.setup.timeout_seconds:g} s")
            self.url = obs.url
            captcha = await detect_captcha(tabs.active)
            if captcha is not None:
                if self.human is None or captcha_offered or not self.human_waiting():
                    return await self._captcha(captcha, obs)
                captcha_offered = True
                self.state.notes.append(
                    f"A CAPTCHA ({captcha}) is on this page and you cannot solve it. Call ask_human to have the user"
                    " solve it in the live view (the question will carry its address) or say how to go on; any other"
                    " action ends the task."
                )
            step = await self._step(n, tabs, obs, captcha)
            self.steps = n
            if step.outcome is not None:
                return step.outcome
        return self._fail(
            "STALLED", f"the steps ran out: {self.setup.max_steps} steps (max_steps) without finishing the task"
        )

    async def _human_turn(self) -> bool:
        """Pause while a person holds the browser (the wait does not count against timeout_seconds); True when
        they did something, which the model is told on its next step."""
        if self.live is None:
            return False
        paused = time.monotonic()
        turn = await self.live.takeover.turn(self.ctx.cancel_event)
        self.deadline += time.monotonic() - paused
        if turn is None:
            return False
        self.state.notes.append(turn.note())
        await self.rec.event("human.acted", {"acts": list(turn.acts)[:100]})
        return True

    async def _stop_before(self, n: int) -> Outcome | None:
        taken = n - 1
        if self.ctx.cancelled:
            return Outcome(JobStatus.CANCELLED, error_message=f"cancelled after {taken} steps")
        if self._left() <= 0:
            return self._fail(
                "TIMEOUT", f"the task ran out of its {self.setup.timeout_seconds:g} s after {taken} steps"
            )
        if self.watch.navigation is not None:
            return self._blocked(self.watch.navigation)
        problem = await self.rec.budget_problem()
        if problem is not None:
            return self._fail("INSUFFICIENT_CREDIT", f"stopped after {taken} steps: {problem}")
        return None

    async def _observe(self, tabs: Tabs) -> Observation | None:
        try:
            with anyio.fail_after(max(0.5, self._left())):
                return await observe(tabs, mask_values=self.masks)
        except TimeoutError:
            return None
        except PageUnreadable as exc:
            # The model can still navigate away from a page that does not answer.
            text = f"URL: {tabs.active.url}\n(the page could not be read: {exc})"
            return Observation(text, tabs.active.url, "", 0, {}, f"unreadable:{tabs.active.url}", len(text))

    async def _captcha(self, captcha: str, obs: Observation) -> Outcome:
        await self.rec.event("captcha", {"kind": captcha, "url": obs.url[:300]})
        advice = (
            "; the agent cannot solve it. Wait on the job (run_task or get_job with wait) from a client that supports"
            " elicitation so a human can be asked, or use a warmed-up identity"
        )
        return self._fail("CAPTCHA", f"a CAPTCHA ({captcha}) is on {obs.url[:200]}{advice}", captcha=captcha)

    # -- one step -------------------------------------------------------------------------------------------

    async def _step(self, n: int, tabs: Tabs, obs: Observation, captcha: str | None) -> StepRecord:
        step = StepRecord(n)
        step.data = {
            "url": obs.url[:500],
            "title": obs.title,
            "observation_chars": obs.chars,
            "elements": obs.element_count,
            "page_hash": obs.page_hash,
        }
        if captcha is not None:
            step.data["captcha"] = captcha
        t0 = time.monotonic()
        completion = await self._decide(step, obs)
        step.data["llm_ms"] = round((time.monotonic() - t0) * 1000)
        if completion is not None:
            await self._act(step, completion, tabs, obs, captcha)
        await self._record(step, tabs)
        if step.outcome is None and self.watch.navigation is not None:
            step.outcome = self._blocked(self.watch.navigation)
        return step

    async def _decide(self, step: StepRecord, obs: Observation) -> Completion | None:
        message = self.state.message(step.n, obs.text)
        max_tokens = 4096 if self.setup.output is not None else 2048
        try:
            with anyio.move_on_after(max(0.5, self._left())) as scope:
                completion = await self.model.ainvoke(
                    [Message.user(message)],
                    self.tools,
                    system=self.system,
                    tool_choice="required",
                    max_tokens=max_tokens,
                )
        except LLMError as exc:
            step.summary = f"model call failed: {exc.code}"
            step.outcome = self._fail(exc.code, f"{self.model.model}: {exc.message}", status=exc.status)
            return None
        if scope.cancelled_caught:
            step.summary = "model call cut by the timeout"
            step.outcome = self._fail("TIMEOUT", f"the task ran out of its {self.setup.timeout_seconds:g} s")
            return None
        step.add(completion)
        step.data.update(model=completion.model, stop_reason=completion.stop_reason)
        if completion.text.strip():
            step.data["thought"] = mask_text(completion.text.strip()[:500], self.masks)
        if len(completion.tool_calls) > 1:
            step.data["ignored_calls"] = len(completion.tool_calls) - 1
            self.state.notes.append("Only your first tool call was run: call one tool per turn.")
        return completion

    async def _act(
        self, step: StepRecord, completion: Completion, tabs: Tabs, obs: Observation, captcha: str | None
    ) -> None:
        call = completion.tool_calls[0] if completion.tool_calls else None
        if call is None:
            step.summary = "answered without calling a tool"
            self.state.notes.append("Call exactly one tool each turn; plain text is not an action.")
            return
        step.action, step.args = call.name, dict(call.arguments)
        if self.ctx.cancelled:
            step.summary = "not run: the task was cancelled"
            step.outcome = Outcome(JobStatus.CANCELLED, error_message=f"cancelled after {step.n} steps")
        elif captcha is not None and call.name != "ask_human":
            step.summary = f"not run: a CAPTCHA ({captcha}) blocks the page"
            step.outcome = self._fail(
                "CAPTCHA", f"a CAPTCHA ({captcha}) is on {obs.url[:200]}; the agent cannot solve it"
            )
        elif call.name != "ask_human" and await self._human_turn():
            step.summary = f"not run: a person used the browser while {call.name} was being decided"
        elif call.name == "done":
            await self._done(step, tabs)
        elif call.name == "ask_human":
            step.summary = f'asked the user: "{str(step.args.get("question", ""))[:200]}"'
        elif self.guard.check(obs.page_hash, call.name, step.args):
            step.summary = "not run: " + self.guard.describe(call.name, step.args)
            step.outcome = self._fail("LOOP", self.guard.describe(call.name, step.args) + "; stopped as a loop")
        else:
            await self._browse(step, tabs, obs)

    async def _browse(self, step: StepRecord, tabs: Tabs, obs: Observation) -> None:
        t0 = time.monotonic()
        with anyio.move_on_after(max(0.5, self._left())) as scope:
            result = await execute(
                tabs,
                obs,
                step.action,
                step.args,
                resolve_secret=self.secrets,
                nav_timeout_ms=self.setup.nav_timeout_ms,
                mask_values=self.masks,
            )
        step.data["act_ms"] = round((time.monotonic() - t0) * 1000)
        if scope.cancelled_caught:
            step.summary = f"{step.action} cut by the timeout"
            step.outcome = self._fail("TIMEOUT", f"the task ran out of its {self.setup.timeout_seconds:g} s")
            return
        step.summary = result.summary if result.ok else f"{result.summary}: {result.error}"
        step.navigated = result.navigated
        step.data["ok"] = result.ok
        if result.extracted is not None:
            self.state.extracted = result.extracted

    async def _done(self, step: StepRecord, tabs: Tabs) -> None:
        done = parse_done(step.args, self.setup.output)
        said = mask_text(done.result, self.masks)
        final: dict[str, Any] = {"final_result": said, "steps": step.n, "final_url": self.url}
        if not done.success:
            step.summary = "gave up"
            # NO_TARGET: the task's page answered 404/410, or the model says what the task needs is not there.
            missing = self.start_status in NO_TARGET_STATUSES or _flag(step.args.get("not_found"))
            code, why = (
                ("NO_TARGET", "what the task needs is not there") if missing else ("STALLED", "the model gave up")
            )
            step.outcome = Outcome.fail(code, f"{why} (done with success=false): {said[:500]}", result=final)
            return
        if done.problems:
            self._reject(step, "schema", "the data does not match the OUTPUT schema: " + "; ".join(done.problems))
            return
        if self.setup.success_condition:
            met, reason = await self._verify(step, tabs, done.result, done.data)
            if step.outcome is not None:
                return
            step.data["verdict"] = {"met": met, "reason": reason}
            if not met:
                self._reject(step, "condition", f"the success condition is not met: {reason}")
                return
        step.summary = "done"
        if self.setup.output is not None:
            final["data"] = done.data
        step.outcome = Outcome.ok({**final, "success": True})

    def _reject(self, step: StepRecord, kind: str, problem: str) -> None:
        self.fixes[kind] += 1
        step.summary = f"done rejected: {problem}"
        if self.fixes[kind] > MAX_DONE_FIXES:
            code = "LLM_ERROR" if kind == "schema" else "STALLED"
            step.outcome = self._fail(code, f"done was rejected {self.fixes[kind]} times; the last time: {problem}")
        else:
            self.state.notes.append(f"Your done() was rejected: {problem}. Fix it, then call done again.")

    async def _verify(self, step: StepRecord, tabs: Tabs, result: str, data: Any) -> tuple[bool, str]:
        """Ask the model, in a separate call that sees only the condition, the result and the page, if it holds."""
        obs = await self._observe(tabs)
        page = obs.text if obs is not None else "(the page could not be read)"
        try:
            with anyio.move_on_after(max(0.5, self._left())) as scope:
                met, reason, completion = await judge_condition(
                    self.model, self.setup.success_condition or "", result, data, page
                )
        except LLMError as exc:
            step.outcome = self._fail(exc.code, f"{self.model.model}: {exc.message}", status=exc.status)
            return False, ""
        if scope.cancelled_caught:
            step.outcome = self._fail("TIMEOUT", f"the task ran out of its {self.setup.timeout_seconds:g} s")
            return False, ""
        step.add(completion)
        return met, reason

    # -- after the action -----------------------------------------------------------------------------------

    async def _record(self, step: StepRecord, tabs: Tabs) -> None:
        writes = self.watch.take_writes()
        if writes:
            step.data["blocked_writes"] = [self._masked(w.as_dict()) for w in writes[:10]]
            first = writes[0]
            self.state.notes.append(
                f"A write request ({first.method} {mask_text(first.url[:120], self.masks)}) was blocked: this task"
                " runs with allow_writes=false, so forms cannot be sent and nothing can be changed on the site."
            )
        other = self.watch.take_other()
        if other:
            step.data["blocked"] = [self._masked(o.as_dict()) for o in other[:10]]
        page = tabs.active
        shot = None
        mode = self.setup.screenshot_mode
        if not page.is_closed() and (mode == "every_step" or (mode == "on_navigation" and step.navigated)):
            shot = await self.rec.take(page)
        url = None if page.is_closed() else mask_text(page.url, self.masks)
        self.url = url or self.url
        summary = mask_text(step.summary, self.masks)
        step.data.update(
            action=step.action,
            args=step.args,
            result=summary[:500],
            navigated=step.navigated,
            tokens={"input": step.usage.input_tokens, "output": step.usage.output_tokens},
            usd=round(step.usd, 6),
        )
        await self.rec.step(step.n, step.data, summary=summary, usage=step.usage, usd=step.usd, shot=shot)
        if step.action == "ask_human" and step.outcome is None:
            summary = await self._ask(step)
        self.state.add_step(
            step.n, f"{step.action} {args_text(step.args)}".strip(), summary, long=step.action == "ask_human"
        )

    async def _ask(self, step: StepRecord) -> str:
        """Hand the question to the human; the wait does not count against timeout_seconds."""
        question = str(step.args.get("question", "")).strip()
        if self.human is None:
            return "ask_human is not available in this run: decide yourself or finish with done(success=false)"
        if not question:
            return "ask_human needs a question"
        paused = time.monotonic()
        in_browser = self.live is not None and step.data.get("captcha") is not None
        answer = await self.human.ask(with_live_url(question, self.live), step=step.n, in_browser=in_browser)
        self.deadline += time.monotonic() - paused
        if not isinstance(answer, HumanAnswer):
            if self.ctx.cancelled:
                message = f"cancelled while waiting for the user after {step.n} steps"
                step.outcome = Outcome(JobStatus.CANCELLED, error_message=message)
            else:
                step.outcome = self._fail("TIMEOUT", f"asked the user ({question[:100]!r}) but got {answer}")
            return f"asked the user: {answer}"
        if answer.secret and self.secrets is not None:
            await self.secrets.refresh()
            name = answer.text
            return f'asked "{question[:120]}"; the user answered with a secret value: type it as {{{{secret:{name}}}}}'
        return f'asked "{question[:120]}"; the user answered: "{answer.text[:500]}"'


def _flag(value: Any) -> bool:
    """An optional boolean argument from a model: only an explicit true counts."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True
