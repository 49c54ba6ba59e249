"""Real servers on 127.0.0.1 for tests, benchmarks and the demo: an SMTP sink and a fake Teams
Workflows webhook. Nothing here touches the network beyond loopback.

``SmtpSink`` is an aiosmtpd server in a thread that keeps every message it accepts::

    with SmtpSink() as sink:                        # or sink.start() ... sink.stop()
        channel = SmtpChannel(sink.host, sink.port, sender_address="chaser@council.example",
                              starttls=False)
        channel.send(message)
        sink.messages[0].message["Subject"]          # parsed with email.policy.default

Options: ``users={"name": "password"}`` requires AUTH; ``tls_context`` (see
:func:`tls_contexts`) offers STARTTLS (``require_starttls`` insists on it); ``implicit_tls``
speaks TLS from the first byte (port-465 style). Scripted failures:
``sink.fail("data", "451 4.3.0 Try later")`` answers the next DATA with that reply (stages:
``mail``, ``rcpt``, ``data``; the reply ``"disconnect"`` drops the connection instead);
``reject={"gone@council.example": "550 5.1.1 No such user"}`` refuses a recipient every time;
``sink.disconnect_all()`` drops every open connection, as a server does to idle clients;
``data_delay=1.0`` makes every DATA take a second, as a slow server's does.

``FakeWebhook`` is a stdlib HTTP server recording what is POSTed to it. It answers 202 unless told
otherwise with ``hook.respond(429, headers={"Retry-After": "7"})`` (one scripted answer per call).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import ssl
import threading
import warnings
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOCALHOST = "127.0.0.1"
STAGES = ("mail", "rcpt", "data")


def free_port(host: str = LOCALHOST) -> int:
    """A port that was free a moment ago (aiosmtpd will not take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def tls_contexts(hostname: str = LOCALHOST) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts from a throwaway CA (``trustme``); the client trusts only
    that CA."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(hostname, "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@dataclass
class CapturedMessage:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    connection: int  # which connection brought it (1, 2, …)
    authenticated_as: str | None = None

    @cached_property
    def message(self) -> EmailMessage:
        data = self.data.replace(b"\r\n", b"\n")  # as the email package keeps messages
        return email.message_from_bytes(data, policy=email.policy.default)

    def body(self, subtype: str = "plain") -> str:
        """The text/plain (or text/html) part, decoded."""
        part = self.message.get_body(preferencelist=(subtype,))
        return "" if part is None else str(cast(EmailMessage, part).get_content())


@dataclass
class _Script:
    replies: dict[str, deque[str]] = field(default_factory=lambda: {s: deque() for s in STAGES})
    reject: dict[str, str] = field(default_factory=dict)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    def _scripted(self, server: SMTP, stage: str) -> str | None:
        with self.sink._cond:
            queue = self.sink._script.replies[stage]
            reply = queue.popleft() if queue else None
        if reply == "disconnect":
            assert server.transport is not None
            server.transport.close()
            return "421 4.4.2 closing connection"
        return reply

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        session.host_name = hostname
        with self.sink._cond:
            self.sink._ehlo_connections.add(getattr(server, "_sink_no", 0))
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._scripted(server, "mail")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._scripted(server, "rcpt") or self.sink._script.reject.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self._scripted(server, "data")
        if reply:
            return reply
        if self.sink.data_delay:
            await asyncio.sleep(self.sink.data_delay)
        data = envelope.original_content or cast(bytes, envelope.content)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        captured = CapturedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            data=data,
            connection=getattr(server, "_sink_no", 0),
            authenticated_as=login.decode() if isinstance(login, bytes) else None,
        )
        with self.sink._cond:
            self.sink.messages.append(captured)
            self.sink._cond.notify_all()
        return "250 2.0.0 OK queued"


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        self.sink = sink
        super().__init__(_Handler(sink), **kwargs)

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Requiring AUTH while not requiring TLS…"
            smtp = SMTP(self.handler, **self.SMTP_kwargs)
        with self.sink._cond:
            self.sink._factory_calls += 1
            setattr(smtp, "_sink_no", self.sink._factory_calls)  # noqa: B010
            self.sink._servers.append(smtp)
        return smtp


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = LOCALHOST,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls: bool = False,
        reject: Mapping[str, str] | None = None,
        data_delay: float = 0.0,
    ) -> None:
        self.host = host
        self.data_delay = data_delay  # seconds each DATA takes, as a slow server's would
        self.port = port or free_port(host)
        self.users = dict(users or {})
        self.messages: list[CapturedMessage] = []
        self._cond = threading.Condition()
        self._script = _Script(reject={k.lower(): v for k, v in (reject or {}).items()})
        self._factory_calls = 0
        self._servers: list[SMTP] = []
        self._ehlo_connections: set[int] = set()
        kwargs: dict[str, Any] = {"hostname": host, "port": self.port}
        if implicit_tls:
            assert tls_context is not None, "implicit_tls needs a tls_context"
            kwargs["ssl_context"] = tls_context
        elif tls_context is not None:
            kwargs["tls_context"] = tls_context
            kwargs["require_starttls"] = require_starttls
        if self.users:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = tls_context is not None and not implicit_tls
        self._controller = _Controller(self, **kwargs)
        self._running = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Requiring AUTH while not requiring TLS…"
            self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------------------

    def fail(self, stage: str, *replies: str) -> None:
        """Answer the next command(s) at ``stage`` ("mail", "rcpt", "data") with ``replies``."""
        assert stage in STAGES, f"stage must be one of {STAGES}"
        with self._cond:
            self._script.replies[stage].extend(replies)

    def disconnect_all(self) -> None:
        """Close every open client connection (as a server does to idle clients)."""
        with self._cond:
            servers = list(self._servers)
        done = threading.Event()

        def close() -> None:
            for server in servers:
                if server.transport is not None and not server.transport.is_closing():
                    server.transport.close()
            done.set()

        self._controller.loop.call_soon_threadsafe(close)
        done.wait(5)

    # -- what arrived --------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many client connections said EHLO (the start-up self-test does not count)."""
        with self._cond:
            return len(self._ehlo_connections)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[CapturedMessage]:
        """Block until at least ``count`` messages have arrived (for threaded senders)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
            return list(self.messages)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if login in self.users and self.users[login] == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


# -- a fake Teams Workflows webhook -------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FakeWebhook:
    """A local HTTP server standing in for Teams Workflows webhooks (any path is a webhook)."""

    def __init__(self, *, host: str = LOCALHOST) -> None:
        self.requests: list[RecordedRequest] = []
        self._answers: deque[_Answer] = deque()
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with hook._lock:
                    hook.requests.append(
                        RecordedRequest("POST", self.path, dict(self.headers.items()), body)
                    )
                    answer = hook._answers.popleft() if hook._answers else _Answer(202)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet (and no URLs)
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    def url(self, name: str = "sib") -> str:
        """A webhook URL shaped like a real one, its ``sig`` the secret part."""
        return (
            f"http://{self.host}:{self.port}/workflows/{name}/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sig=SECRET-{name}"
        )

    def respond(
        self,
        status: int,
        *,
        body: bytes | str | dict[str, Any] = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next request with ``status`` (later ones get 202 again)."""
        if isinstance(body, dict):
            body, headers = (
                json.dumps(body),
                {"Content-Type": "application/json", **(headers or {})},
            )
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._answers.append(_Answer(status, raw, dict(headers or {})))

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = [
    "CapturedMessage",
    "FakeWebhook",
    "RecordedRequest",
    "SmtpSink",
    "free_port",
    "tls_contexts",
]
