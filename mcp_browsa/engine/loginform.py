"""Reading a login page: which fields take the username and the password, what submits them, and what the page says.

One script evaluation per frame tags the chosen elements with a per-call nonce; Python then acts on them through
locators. Nothing here reads a field's value back out of the page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator, Page

__all__ = ["FORM_ATTR", "Field", "LoginForm", "read_form"]

FORM_ATTR = "data-browsa-login"
_FRAME_TIMEOUT = 3.0  # seconds; a frame busy for longer holds no form worth waiting for

# Scores: autocomplete says what a field is for better than anything else; then its type; then its names.
_FORM_JS = """([attr, nonce]) => {
  const all = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      all.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0';
  };
  const usable = (el) => visible(el) && !el.disabled && !el.readOnly;
  const labelText = (el) => {
    const parts = [];
    if (el.labels) for (const l of el.labels) parts.push(l.innerText || '');
    const by = el.getAttribute('aria-labelledby');
    if (by) for (const id of by.split(/\\s+/)) { const n = document.getElementById(id); if (n) parts.push(n.innerText || ''); }
    return parts.join(' ');
  };
  const hints = (el) => [el.name, el.id, el.getAttribute('autocomplete'), el.placeholder,
                         el.getAttribute('aria-label'), labelText(el)].join(' ').toLowerCase();
  const describe = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) d += '#' + el.id;
    else if (el.getAttribute('name')) d += '[name=' + el.getAttribute('name') + ']';
    if (el.type && el.tagName !== 'BUTTON') d += '[type=' + el.type + ']';
    const text = (el.innerText || (el.type === 'submit' ? el.getAttribute('value') : '') || '').trim();
    return text ? d + ' "' + text.slice(0, 40) + '"' : d;
  };
  const inputs = all.filter((el) => el.tagName === 'INPUT');
  const passwords = inputs.filter((el) => el.type === 'password' && usable(el));
  const pwScore = (el) => {
    const ac = (el.getAttribute('autocomplete') || '').toLowerCase();
    return ac.includes('current-password') ? 3 : ac.includes('new-password') ? 0 : 1;
  };
  passwords.sort((a, b) => pwScore(b) - pwScore(a));
  const password = passwords[0] || null;
  const TEXTY = new Set(['text', 'email', 'tel', '']);
  const NOT_USER = /search|captcha|otp|one-time|verification|coupon|promo|newsletter|subscribe|zip|postal/;
  const userScore = (el) => {
    if (!TEXTY.has(el.type) || !usable(el)) return 0;
    const ac = (el.getAttribute('autocomplete') || '').toLowerCase();
    const h = hints(el);
    if (NOT_USER.test(h)) return 0;
    let s = 0;
    if (/\\busername\\b/.test(ac)) s = 100;
    else if (/\\bemail\\b/.test(ac)) s = 90;
    else if (el.type === 'email') s = 80;
    else if (/user|e-?mail|login|account|identifier|phone/.test(h)) s = 60;
    else if (password && el.form && el.form === password.form) s = 40;
    if (!s) return 0;
    if (password && el.form && el.form === password.form) s += 10;
    if (password && (el.compareDocumentPosition(password) & Node.DOCUMENT_POSITION_FOLLOWING)) s += 5;
    return s;
  };
  let user = null, best = 0;
  for (const el of inputs) { const s = userScore(el); if (s > best) { best = s; user = el; } }
  const SUBMIT_TEXT = /^(log ?in|sign ?in|continue|next|submit|weiter|connexion|entrar|anmelden|go)\\b/i;
  const buttonText = (el) => (el.innerText || el.getAttribute('value') || el.getAttribute('aria-label') || '').trim();
  const isButton = (el) => el.tagName === 'BUTTON' || (el.tagName === 'INPUT' && ['submit', 'image', 'button'].includes(el.type))
                           || el.getAttribute('role') === 'button';
  const anchor = password || user;
  let submit = null;
  if (anchor) {
    const scope = anchor.form ? Array.from(anchor.form.elements) : [];
    const inForm = scope.filter((el) => isButton(el) && usable(el) && el.type !== 'reset' && el.type !== 'button');
    submit = inForm.find((el) => SUBMIT_TEXT.test(buttonText(el))) || inForm[0] || null;
    if (!submit) {
      const loose = all.filter((el) => isButton(el) && usable(el) && SUBMIT_TEXT.test(buttonText(el)));
      submit = loose[0] || null;
    }
  }
  for (const el of all) if (el.hasAttribute(attr)) el.removeAttribute(attr);
  const tag = (el, role) => { if (!el) return null; el.setAttribute(attr, nonce + '-' + role); return describe(el); };
  const ERROR_SEL = '[role=alert],[aria-live=assertive],.error,.errors,.alert-danger,.alert-error,.flash-error,'
                  + '.invalid-feedback,.form-error,.error-message,#error,#errors';
  const errors = [];
  for (const el of all) {
    if (el.matches(ERROR_SEL) && visible(el)) {
      const t = (el.innerText || '').trim().replace(/\\s+/g, ' ');
      if (t && !errors.includes(t)) errors.push(t.slice(0, 300));
    }
  }
  const captcha = !!document.querySelector('.g-recaptcha,.h-captcha,.cf-turnstile,iframe[src*="captcha"],iframe[src*="turnstile"]');
  return {user: tag(user, 'user'), password: tag(password, 'password'), submit: tag(submit, 'submit'),
          errors: errors.slice(0, 5), captcha};
}"""


@dataclass(frozen=True)
class Field:
    """A tagged element: where it is, and how to name it in events (never its value)."""

    frame: Frame
    selector: str
    description: str

    def locator(self) -> Locator:
        return self.frame.locator(self.selector).first


@dataclass
class LoginForm:
    user: Field | None = None
    password: Field | None = None
    submit: Field | None = None
    errors: list[str] = field(default_factory=list)
    captcha: bool = False

    @property
    def found(self) -> bool:
        return self.user is not None or self.password is not None


async def read_form(page: Page) -> LoginForm:
    """The login fields of the page: the first frame (main frame first) holding a password or username field wins.

    Error texts and captcha hints are gathered from every frame.
    """
    nonce = secrets.token_hex(6)
    form = LoginForm()
    for frame in page.frames:
        if frame.is_detached():
            continue
        found = None
        with anyio.move_on_after(_FRAME_TIMEOUT):
            try:
                found = await frame.evaluate(_FORM_JS, [FORM_ATTR, nonce])
            except PlaywrightError:
                pass  # a frame navigating away holds no form we could fill
        if not isinstance(found, dict):
            continue
        form.errors += [e for e in found["errors"] if e not in form.errors]
        form.captcha = form.captcha or bool(found["captcha"])
        if form.found or not (found["user"] or found["password"]):
            continue
        for role in ("user", "password", "submit"):
            if found[role]:
                setattr(form, role, Field(frame, f'[{FORM_ATTR}="{nonce}-{role}"]', found[role]))
    return form
