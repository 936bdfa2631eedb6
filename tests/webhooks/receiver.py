"""A real webhook endpoint for tests: an HTTP server that records every delivery and verifies both signatures.

The Standard Webhooks signature is checked with the `standardwebhooks` package (an implementation we did not
write); `X-Agents-Signature` with a plain HMAC. `responses` scripts what each request is answered with.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.sites import serve_in_thread

__all__ = ["Delivery", "Receiver", "Reply", "serve_receiver"]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering (timeouts)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    standard_ok: bool  # verified by the standardwebhooks library
    agents_ok: bool  # X-Agents-Signature matches HMAC-SHA256(secret, raw body)
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


def _accept(_n: int) -> Reply:
    return Reply()


@dataclass
class Receiver:
    host: str
    port: int
    secret: str | None = None  # set once the webhook exists
    script: Callable[[int], Reply] = _accept  # the reply to the n-th request (0-based)
    deliveries: list[Delivery] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def record(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._cond:
            reply = self.script(len(self.deliveries))
            self.deliveries.append(
                Delivery(
                    path, headers, body, self._standard_ok(headers, body), self._agents_ok(headers, body), reply.status
                )
            )
            self._cond.notify_all()
        return reply

    def _standard_ok(self, headers: dict[str, str], body: bytes) -> bool:
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def _agents_ok(self, headers: dict[str, str], body: bytes) -> bool:
        if self.secret is None:
            return False
        expected = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("x-agents-signature", ""))

    def wait_for(self, predicate: Callable[[list[Delivery]], bool], timeout: float = 20.0) -> list[Delivery]:
        """Block until `predicate(deliveries)` holds, or fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"receiver condition not met in {timeout} s; got {self.deliveries!r}")
                self._cond.wait(remaining)
            return list(self.deliveries)

    def of_type(self, event_type: str) -> list[Delivery]:
        with self._cond:
            return [d for d in self.deliveries if d.event["type"] == event_type]


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.receiver.record(self.path, headers, body)
        if reply.delay:
            time.sleep(reply.delay)  # an endpoint slow on purpose, as the reply asked
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass  # the sender gave up (timeout test)


@contextmanager
def serve_receiver(host: str = "127.0.0.1") -> Iterator[Receiver]:
    receiver = Receiver(host=host, port=0)
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    with serve_in_thread(server):
        yield receiver
