"""The `login` job: open a login page behind a guard scoped to its host, fill vaulted credentials, judge the outcome.

Values come from the vault at run time and go only into the page's fields; every text the job records (steps,
page errors, URLs, blocked requests) is masked with them first. A login is not read-only: after a crash it ends
INTERRUPTED like an agent task instead of being retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from mcp_browsa.browser.guard import BlockedRequest
from mcp_browsa.browser.pool import Burner
from mcp_browsa.config import Settings
from mcp_browsa.engine.activity import EXPECTING_GRACE, Activity
from mcp_browsa.engine.billing import charge_browser, charge_minutes
from mcp_browsa.engine.context import JobContext, Outcome
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.engine.login_live import login_shown
from mcp_browsa.engine.loginform import Field, LoginForm, read_form
from mcp_browsa.engine.observation import mask_text
from mcp_browsa.engine.requests.login import LoginRequest
from mcp_browsa.engine.scrape import PageFailure, load_page, refused_navigation
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.engine.takeover import LiveViews, ViewHandle
from mcp_browsa.errors import BrowsaError
from mcp_browsa.models import Job, JobStatus, PriceTable
from mcp_browsa.netpolicy import Policy, host_text, parse_web_url
from mcp_browsa.validation import check_http_url
from mcp_browsa.workspace_secrets import MissingSecret, Vault, check_secret_name

__all__ = ["LOGIN_STEPS", "LoginRunner"]

BrowserFor = Callable[..., AbstractAsyncContextManager[Burner]]  # (workspace_id, params, *, policy, on_block, job_id)
PolicyFor = Callable[..., Policy]  # (allowed_domains, *, allow_writes)

LOGIN_STEPS = 4  # open, fill, submit, verify: the job's progress_total
_FORM_WAIT = 5.0  # seconds for a script-built form to appear
_PASSWORD_STEP_WAIT = 10.0  # seconds for the password step of a two-step login to show up
_VERDICT_WAIT = 5.0  # seconds for a success marker, an error message or the page change to show
_SILENT_VERDICT_WAIT = 15.0  # at most this long for the form to go when no marker says what success looks like
_ACT_TIMEOUT_MS = 5000


class LoginFailed(Exception):
    """The login ended early with a job error code (LOGIN_FAILED, BLOCKED, …) and a masked-later message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LoginRunner:
    def __init__(
        self,
        engine: JobEngine,
        vault: Vault,
        prices: PriceTable,
        settings: Settings,
        *,
        browser_for: BrowserFor,
        policy: PolicyFor,
        precheck: Callable[[str, Policy], None],
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.prices = prices
        self.settings = settings
        self.browser_for = browser_for
        self.policy = policy
        self.precheck = precheck
        self.live_views: LiveViews | None = None  # set by the app: where a person can watch the sign-in

    def _policy(self, url: str) -> Policy:
        # Scoped to the login page's host: the credentials can be posted there and nowhere else.
        _scheme, host, _port = parse_web_url(url)
        return self.policy([host_text(host)], allow_writes=True)

    async def submit(self, workspace_id: str, request_id: str | None, req: LoginRequest) -> Job:
        """Check everything that can be checked now (URL, guard, secrets present), then queue the login job."""
        url = check_http_url(req.url)
        self.precheck(url, self._policy(url))
        names = {
            "username_secret": check_secret_name(req.username_name),
            "password_secret": check_secret_name(req.password_name),
        }
        await self.vault.require(workspace_id, list(names.values()))
        stored = req.model_copy(update={"url": url, **names})
        return await self.engine.submit(
            workspace_id, "login", stored, request_id=request_id, progress_total=LOGIN_STEPS
        )

    async def run(self, ctx: JobContext) -> Outcome:
        req = ctx.read(LoginRequest)
        resolver = await self.vault.resolver(ctx.workspace_id, fills=(req.username_name, req.password_name))
        try:
            username, password = resolver(req.username_name), resolver(req.password_name)
        except MissingSecret as exc:
            return Outcome.fail(exc.code, exc.message)
        masks = (*resolver.mask_values,)
        attempt = _Attempt(ctx, masks, self.settings.nav_timeout_ms, self.live_views)
        host = host_text(parse_web_url(req.url)[1])
        await charge_browser(ctx, self.prices, identity=bool(req.identity_id), purpose=f"login to {host}")
        started = time.monotonic()
        try:
            with anyio.fail_after(req.timeout_seconds):
                async with self.browser_for(
                    ctx.workspace_id,
                    req.params(),
                    policy=self._policy(req.url),
                    on_block=attempt.on_block,
                    job_id=ctx.id,
                ) as burner:
                    return await attempt.run(burner, username, password)
        except TimeoutError:
            return attempt.outcome(False, "TIMEOUT", f"the login did not finish within {req.timeout_seconds:g} s")
        except LoginFailed as failed:
            if failed.code == "CANCELLED":
                return Outcome(JobStatus.CANCELLED, result=attempt.result, error_message=failed.message)
            return attempt.outcome(False, failed.code, failed.message)
        except BrowsaError as exc:
            return attempt.outcome(False, exc.code, exc.message)
        except PlaywrightError as exc:
            first = (str(exc).strip().splitlines() or ["browser error"])[0]
            return attempt.outcome(False, "UPSTREAM_UNAVAILABLE", f"the browser failed during the login: {first[:300]}")
        finally:
            with anyio.CancelScope(shield=True):
                if attempt.blocked:
                    await ctx.event("blocked_requests", {"url": attempt.mask(req.url), "blocked": attempt.blocked[:50]})
                await charge_minutes(ctx, self.prices, started, "login")


class _Attempt:
    """One run of the login: what it did (masked), what it saw, and the page it works on."""

    def __init__(
        self, ctx: JobContext, masks: tuple[str, ...], nav_timeout_ms: int, views: LiveViews | None = None
    ) -> None:
        self.ctx = ctx
        self.masks = masks
        self.views = views
        self.view: ViewHandle | None = None
        self.nav_timeout = nav_timeout_ms / 1000
        self.steps: list[str] = []
        self.blocked: list[dict[str, Any]] = []
        self.req = ctx.read(LoginRequest)
        self.result: dict[str, Any] = {"service": self.req.service, "url": self.mask(self.req.url)}

    def mask(self, text: str) -> str:
        return mask_text(text, self.masks)

    def on_block(self, b: BlockedRequest) -> None:
        self.blocked.append(
            {"url": self.mask(b.url_or_host), "rule": b.rule, "reason": self.mask(b.reason), "navigation": b.navigation}
        )

    async def note(self, text: str, *, progress: int | None = None) -> None:
        """Record one step (masked) as an event, and as the job's progress when `progress` is given."""
        if self.ctx.cancelled:
            raise LoginFailed("CANCELLED", f"cancelled during the login, after: {'; '.join(self.steps) or 'nothing'}")
        if self.view is not None:  # a person holding the browser: the next step waits for the hand-back
            await self.view.takeover.turn(self.ctx.cancel_event)
        shown = self.mask(text)
        self.steps.append(shown)
        await self.ctx.event("login.step", {"step": shown})
        if progress is not None:
            await self.ctx.progress(progress, last_action=shown[:200])

    def outcome(self, ok: bool, code: str | None, message: str) -> Outcome:
        self.result.update(logged_in=ok, steps=self.steps)
        if self.blocked:
            self.result["blocked_requests"] = self.blocked[:50]
        if ok:
            return Outcome.ok(self.result)
        return Outcome.fail(code or "LOGIN_FAILED", self.mask(message), result=self.result)

    async def run(self, burner: Burner, username: str, password: str) -> Outcome:
        # A page that sends itself somewhere the guard refuses (a script redirect, a form it submits on its own)
        # leaves the browser's error page behind, and whatever step was under way fails on it, however the timing
        # fell: the refusal is the outcome, not that step.
        try:
            outcome = await self._run(burner, username, password)
        except (LoginFailed, PlaywrightError) as exc:
            settled = isinstance(exc, LoginFailed) and exc.code in ("BLOCKED", "CANCELLED")
            refused = None if settled else self._refused_navigation()
            if refused is None:
                raise
            raise refused from None
        if outcome.status == JobStatus.FAILED:
            refused = self._refused_navigation()
            if refused is not None:
                raise refused
        return outcome

    def _refused_navigation(self) -> LoginFailed | None:
        moved = refused_navigation(self.req.url, self.blocked)
        return None if moved is None else LoginFailed("BLOCKED", moved.message)

    async def _run(self, burner: Burner, username: str, password: str) -> Outcome:
        page = burner.page
        tabs = Tabs(burner.context)
        url = self.req.url
        try:
            async with login_shown(self.views, self.ctx, tabs, self.masks) as self.view:
                return await self._steps(page, tabs, url, username, password)
        finally:
            self.view = None
            tabs.close()

    async def _steps(self, page: Page, tabs: Tabs, url: str, username: str, password: str) -> Outcome:
        await self._open(page, url)
        login_url = page.url
        await self.note(f"opened {login_url}", progress=1)
        form = await _wait_for(page, lambda f: f.found, _FORM_WAIT)
        if not form.found:
            raise LoginFailed("LOGIN_FAILED", f"found no username or password field on {login_url}")
        if form.password is None:
            assert form.user is not None
            await self._fill(form.user, username, "username")
            await self._submit(tabs, form, form.user, "submitted the username")
            form = await _wait_for(page, lambda f: f.password is not None or bool(f.errors), _PASSWORD_STEP_WAIT)
            if form.password is None:
                detail = f"; the page says: {' | '.join(form.errors)}" if form.errors else ""
                raise LoginFailed("LOGIN_FAILED", f"no password field appeared after the username step{detail}")
        elif form.user is not None:
            await self._fill(form.user, username, "username")
        await self._fill(form.password, password, "password")
        await self.ctx.progress(2, last_action="filled the credentials")
        seen = len(self.blocked)
        await self._submit(tabs, form, form.password, "submitted the password")
        refused = next((b for b in self.blocked[seen:] if b["navigation"]), None)
        if refused is not None:
            # The form sends the credentials somewhere outside the login page's host: they never left.
            raise LoginFailed(
                "BLOCKED",
                f"the form posts to {refused['url']}, outside the login page's host; the URL guard stopped it"
                f" ({refused['rule']}: {refused['reason']})",
            )
        await self.ctx.progress(3, last_action="submitted the login form")
        return await self._verdict(tabs.active, login_url)

    async def _open(self, page: Page, url: str) -> None:
        try:
            await load_page(page, url, wait_until="load", timeout_ms=int(self.nav_timeout * 1000))
        except PageFailure as failure:
            host = parse_web_url(url)[1]
            top = next((b for b in self.blocked if b["navigation"] or _host_of(b["url"]) == host), None)
            if top is not None:  # the guard's own words say which rule refused, where Chromium says only "blocked"
                raise LoginFailed(
                    "BLOCKED", f"{url} was blocked by the URL guard ({top['rule']}: {top['reason']})"
                ) from None
            raise LoginFailed(failure.code, failure.message) from None

    async def _fill(self, target: Field | None, value: str, what: str) -> None:
        assert target is not None
        try:
            await target.locator().fill(value, timeout=_ACT_TIMEOUT_MS)
        except PlaywrightError:
            raise LoginFailed("LOGIN_FAILED", f"could not type the {what} into {target.description}") from None
        await self.note(f"filled the {what} into {target.description}")

    async def _submit(self, tabs: Tabs, form: LoginForm, last: Field | None, what: str) -> None:
        assert last is not None
        with Activity(tabs) as act:
            how = "pressed Enter"
            try:
                if form.submit is not None:
                    await form.submit.locator().click(timeout=_ACT_TIMEOUT_MS)
                    how = f"clicked {form.submit.description}"
                else:
                    await last.locator().press("Enter", timeout=_ACT_TIMEOUT_MS)
            except PlaywrightError:
                # A covered or vanished button: Enter in the field submits most forms as well.
                try:
                    await last.locator().press("Enter", timeout=_ACT_TIMEOUT_MS)
                except PlaywrightError:
                    raise LoginFailed("LOGIN_FAILED", f"could not submit the form ({what})") from None
            await act.settle(self.nav_timeout, EXPECTING_GRACE)
        await self.note(f"{what}: {how}{act.describe()}")

    async def _verdict(self, page: Page, login_url: str) -> Outcome:
        if not page.url.startswith(("http://", "https://")):
            self.result["final_url"] = self.mask(page.url)
            return self.outcome(False, "LOGIN_FAILED", "submitting the form led to a browser error page")
        selector, text = self.req.success_selector, self.req.success_text
        if selector:
            ok = await _selector_shows(page, selector)
            why = f"success_selector {selector!r} {'appeared' if ok else 'did not appear'}"
            form = await read_form(page)
        elif text:
            ok = await _text_shows(page, text)
            why = f"success_text {text!r} {'appeared' if ok else 'did not appear'}"
            form = await read_form(page)
        else:
            # With no marker to wait for, the only sign of success is the form going away, which on a busy
            # machine can come well after the submit: a success gets the navigation's time, a failure that shows
            # an error still ends at once, and only a silent failure pays the longer wait.
            patience = max(_VERDICT_WAIT, min(self.nav_timeout, _SILENT_VERDICT_WAIT))
            form = await _wait_for(page, lambda f: f.password is None or bool(f.errors), patience)
            ok = form.password is None and not form.errors
            why = (
                "the password field is gone and the page shows no error" if ok else "the password field is still there"
            )
        moved = _without_fragment(page.url) != _without_fragment(login_url)
        evidence = [why, "the URL changed" if moved else "the URL did not change"]
        if form.errors:
            evidence.append("the page shows an error: " + " | ".join(form.errors))
        try:
            title = await page.title()
        except PlaywrightError:
            title = ""
        self.result.update(
            final_url=self.mask(page.url),
            title=self.mask(title),
            evidence=[self.mask(e) for e in evidence],
            page_errors=[self.mask(e) for e in form.errors],
        )
        await self.note("; ".join(evidence), progress=LOGIN_STEPS)
        if ok:
            return self.outcome(True, None, "")
        code = "CAPTCHA" if form.captcha else "LOGIN_FAILED"
        reason = f"the page shows: {' | '.join(form.errors)}" if form.errors else why
        return self.outcome(False, code, f"the login did not succeed: {reason}")


async def _wait_for(page: Page, done: Callable[[LoginForm], bool], seconds: float) -> LoginForm:
    """Read the form until `done(form)` holds or `seconds` pass; returns the last reading."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            form = await read_form(page)
        except PlaywrightError:
            form = LoginForm()
        if done(form) or time.monotonic() >= deadline:
            return form
        await anyio.sleep(0.2)


async def _selector_shows(page: Page, selector: str) -> bool:
    try:
        await page.locator(selector).first.wait_for(state="visible", timeout=_VERDICT_WAIT * 1000)
    except PlaywrightError:
        return False
    return True


async def _text_shows(page: Page, text: str) -> bool:
    deadline = time.monotonic() + _VERDICT_WAIT
    while True:
        try:
            body = await page.evaluate("() => document.body ? document.body.innerText : ''")
        except PlaywrightError:
            body = ""
        if text.casefold() in str(body).casefold():
            return True
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(0.2)


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _host_of(url_or_host: str) -> object:
    """The normalised host of a blocked request (a URL, or host:port for a tunnel), or None."""
    try:
        return parse_web_url(url_or_host if "://" in url_or_host else "http://" + url_or_host)[1]
    except ValueError:
        return None
