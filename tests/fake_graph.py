"""A local fake of Microsoft Graph mail and the Entra ID token endpoint, over real TLS.

Why a fake server rather than mocks: the Graph channel must be exercised through the real msal
and O365 code paths (OIDC discovery, the client-credentials token request, O365's draft and send
requests), and msal accepts only ``https`` authorities. So this serves HTTPS on 127.0.0.1 with a
``trustme`` certificate, answers in Graph's real shapes (``@odata.context``, ``value``, the error
envelope ``{"error": {"code", "message", "innerError"}}``, a ``request-id`` header, ``202`` with no
body for ``/send``, ``429`` with ``Retry-After``), and records every request so tests can assert on
what went over the wire.

Only what the Graph mail channel uses is implemented:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and ``POST /{tenant}/oauth2/v2.0/token``
  (client credentials; a wrong secret gets Entra's ``invalid_client`` / ``AADSTS7000215``);
- ``POST /v1.0/users/{mailbox}/messages`` and ``.../mailFolders/{folder}/messages`` (create a
  draft; ``fileAttachment`` objects in its ``attachments`` are kept), ``GET .../messages/{id}``,
  ``POST .../messages/{id}/send`` (moves it to Sent Items);
- ``POST .../messages/{id}/attachments`` (one ``#microsoft.graph.fileAttachment`` with ``name``,
  ``contentType`` and base64 ``contentBytes``, on a draft; over 3 MB is ``413``, as Graph wants an
  upload session then) and ``GET .../messages/{id}/attachments`` (honouring ``$select``).
  :meth:`FakeGraph.attachments` gives a message's attachments back as decoded bytes;
- ``GET .../mailFolders/{folder}/messages`` with ``$filter`` on
  ``singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')``, ``$expand`` of
  ``singleValueExtendedProperties($filter=id eq '…')``, ``$select`` and ``$top``. Well-known folder
  names are matched case-insensitively, as Graph does;
- for reading replies: ``GET .../mailFolders/{folder}/messages/delta`` (the initial round honours
  ``$select``, ``changeType=created|updated`` and ``$filter=receivedDateTime ge|gt …``, which are
  then remembered behind the state tokens, as Graph encodes them into its links; later rounds take
  ``$deltatoken``; ``Prefer: odata.maxpagesize=N`` pages with ``$skiptoken`` ``@odata.nextLink``s;
  an unknown token is ``410 SyncStateNotFound``), ``GET .../messages/{id}/$value`` (the stored
  MIME, ``text/plain`` as Graph sends it) and ``PATCH .../messages/{id}`` (``isRead`` and the
  other writable flags). :meth:`FakeGraph.deliver` drops a raw RFC 5322 message into a folder.

Faults are scripted per request (see :meth:`FakeGraph.fail` and :meth:`FakeGraph.delay`). To use the
``fake_graph`` fixture without touching conftest.py, import its function into the test module:
``from tests.fake_graph import fake_graph_fixture  # noqa: F401`` (the fixture is *named*
``fake_graph``, so test parameters called ``fake_graph`` do not shadow the import).
"""

from __future__ import annotations

import binascii
import email
import email.message
import email.policy
import email.utils
import functools
import json
import re
import ssl
import threading
import uuid
from base64 import b64decode, b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import trustme

from integrations.graph.client import GraphClient

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "s3cr3t~Value.NeverLogged_9f2"
MAILBOX = "chaser@council.example"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

#: Well-known folder name -> the opaque folder id the fake reports in ``parentFolderId``.
FOLDERS = {
    "drafts": "AAMkFolderDrafts==",
    "sentitems": "AAMkFolderSentItems==",
    "outbox": "AAMkFolderOutbox==",
    "inbox": "AAMkFolderInbox==",
    "deleteditems": "AAMkFolderDeletedItems==",
}

_ANY_FILTER = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id eq '((?:[^']|'')*)'"
    r" and \1/value eq '((?:[^']|'')*)'\s*\)$",
    re.IGNORECASE,
)
_EXPAND = re.compile(
    r"^singleValueExtendedProperties\(\$filter=id eq '((?:[^']|'')*)'\)$", re.IGNORECASE
)
#: The only ``$filter`` Graph's message delta accepts.
_DELTA_FILTER = re.compile(r"^receivedDateTime (ge|gt) (\S+)$", re.IGNORECASE)
#: Graph's limit for an attachment POSTed in one request; larger ones need an upload session.
MAX_SIMPLE_ATTACHMENT = 3 * 1024 * 1024
_MAX_PAGE_SIZE = re.compile(r"odata\.maxpagesize=(\d+)", re.IGNORECASE)
#: Graph's default page size for message delta.
DELTA_PAGE_SIZE = 10
#: Properties a PATCH may change on a received message (Graph refuses read-only ones).
_WRITABLE = {
    "isRead",
    "categories",
    "flag",
    "importance",
    "inferenceClassification",
    "subject",
    "body",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
}


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, a dict for form posts, or None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class StoredAttachment:
    """A file attachment as the fake holds it: what a test compares with what was sent."""

    name: str
    content_type: str
    data: bytes


@dataclass
class Fault:
    """A scripted answer for the next ``times`` requests matching ``method`` and ``path``."""

    method: str
    path: re.Pattern[str]
    status: int = 0
    times: int = 1
    code: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Process the request normally first (e.g. really send), then answer with the fault: the
    #: provider accepted it but Chaser never heard so.
    after: bool = False


@dataclass
class DeltaState:
    """What a message-delta state token stands for: the query it was started with and how far
    the client has seen (message sequence numbers up to ``seen``)."""

    folder_id: str
    select: list[str] | None
    change_type: str | None  # "created", "updated" or None (both)
    received_op: str | None  # "ge" or "gt", with received_since
    received_since: datetime | None
    seen: int


@dataclass
class _PendingPages:
    """The rest of a delta round that did not fit one page, behind a ``$skiptoken``."""

    items: list[dict[str, Any]]
    state: DeltaState


class FakeGraph:
    """State, scripting and request log of the fake. ``url`` is ``https://127.0.0.1:PORT``."""

    def __init__(self, *, ca: trustme.CA, ca_path: Path) -> None:
        self.ca = ca
        self.ca_path = ca_path
        self.tenant = TENANT
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.mailbox = MAILBOX
        self.requests: list[Recorded] = []
        #: message id -> Graph message resource, with the fake's private ``_props`` (extended
        #: properties) and ``_headers`` (internet message headers) kept alongside.
        self.messages: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        #: ``$deltatoken`` -> the state it resumes from (forget one to make it "expire").
        self.delta_tokens: dict[str, DeltaState] = {}
        self._skip_tokens: dict[str, _PendingPages] = {}
        #: Every change (a message entering a folder, a PATCH) takes the next sequence number.
        self._sequence = 0
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        # Handshake lazily in the per-connection thread, not in the accept loop.
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.graph_url = f"{self.url}/v1.0"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeGraph:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- scripting ---------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        code: str = "",
        message: str = "",
        after: bool = False,
    ) -> None:
        """The next ``times`` ``method`` requests whose path matches the regex ``path`` get
        ``status`` (with Graph's error envelope; ``Retry-After`` when given)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._faults.append(
                Fault(
                    method.upper(),
                    re.compile(path),
                    status,
                    times,
                    code,
                    message,
                    headers,
                    after=after,
                )
            )

    def delay(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next matching requests for ``seconds`` before answering normally."""
        with self._lock:
            self._faults.append(Fault(method.upper(), re.compile(path), times=times, delay=seconds))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.path.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally filtered by method and a path regex."""
        with self._lock:
            found = list(self.requests)
        return [
            r
            for r in found
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
        ]

    def in_folder(self, folder: str) -> list[dict[str, Any]]:
        folder_id = FOLDERS[folder.lower()]
        return [m for m in self.messages.values() if m["parentFolderId"] == folder_id]

    def add_message(
        self,
        *,
        folder: str,
        key: str,
        property_id: str,
        subject: str = "left over",
        attachments: tuple[StoredAttachment, ...] = (),
    ) -> dict[str, Any]:
        """Put a message carrying ``key`` in ``folder`` directly (as an earlier run would have),
        with ``attachments`` already on it."""
        message = self._new_message(
            {
                "subject": subject,
                "body": {"contentType": "Text", "content": "earlier"},
                "singleValueExtendedProperties": [{"id": property_id, "value": key}],
                "internetMessageHeaders": [{"name": "X-Chaser-Key", "value": key}],
                "attachments": [_file_attachment_json(a) for a in attachments],
            },
            folder=folder,
        )
        if folder.lower() != "drafts":
            message["isDraft"] = False
            message["sentDateTime"] = message["createdDateTime"]
        return message

    def attachments(self, message_id: str) -> list[StoredAttachment]:
        """A message's file attachments, in the order they were added, content decoded."""
        return [
            StoredAttachment(a["name"], a["contentType"], b64decode(a["contentBytes"]))
            for a in self.messages[message_id]["_attachments"]
        ]

    # -- Graph behaviour ---------------------------------------------------------------------

    def deliver(
        self,
        raw: bytes,
        *,
        received_at: datetime | None = None,
        folder: str = "inbox",
        stamp: str | None = None,
    ) -> dict[str, Any]:
        """An inbound message arrives in ``folder`` as Exchange would file it: unread, not a
        draft, its properties taken from the MIME, and ``$value`` answering ``raw`` unchanged.

        ``stamp`` is the ``Authentication-Results`` Exchange Online adds as it receives the
        message (see :func:`exchange_stamp`): put on top of the MIME and of the
        ``internetMessageHeaders``, above whatever the sender wrote, as Exchange does."""
        if stamp is not None:
            raw = b"Authentication-Results: " + stamp.encode("ascii") + b"\r\n" + raw
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        received = (received_at or datetime.now(UTC)).astimezone(UTC)
        html = parsed.get_body(preferencelist=("html",))
        text = parsed.get_body(preferencelist=("plain",))
        if html is not None:
            body = {"contentType": "HTML", "content": html.get_content()}
        else:
            content = text.get_content() if text is not None else ""
            body = {"contentType": "Text", "content": content}
        name, address = email.utils.parseaddr(str(parsed.get("From", "")))
        sender = {"emailAddress": {"name": name or address, "address": address}}
        sent = parsed.get("Date")
        sent_at = email.utils.parsedate_to_datetime(str(sent)) if sent else received
        stamp = received.strftime("%Y-%m-%dT%H:%M:%SZ")
        overrides: dict[str, Any] = {
            "receivedDateTime": stamp,
            "createdDateTime": stamp,
            "lastModifiedDateTime": stamp,
            "sentDateTime": sent_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "isRead": False,
            "isDraft": False,
            "sender": sender,
            "from": sender,
            "_raw": raw,
        }
        message_id = parsed.get("Message-ID")
        if message_id:
            overrides["internetMessageId"] = str(message_id).strip()
        data = {
            "subject": str(parsed.get("Subject", "")),
            "body": body,
            "toRecipients": [
                {"emailAddress": {"name": n or a, "address": a}}
                for n, a in email.utils.getaddresses([str(v) for v in parsed.get_all("To", [])])
            ],
            "internetMessageHeaders": [{"name": k, "value": str(v)} for k, v in parsed.items()],
        }
        return self._new_message(data, folder=folder, overrides=overrides)

    def _next_sequence(self) -> int:
        with self._lock:
            self._sequence += 1
            return self._sequence

    def _new_message(
        self,
        data: dict[str, Any],
        *,
        folder: str,
        overrides: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message_id = f"AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A{uuid.uuid4().hex}"
        message: dict[str, Any] = {
            "@odata.etag": f'W/"CQAAABYAAAB{uuid.uuid4().hex[:12]}"',
            "id": message_id,
            "createdDateTime": now,
            "lastModifiedDateTime": now,
            "changeKey": f"CQAAABYAAAB{uuid.uuid4().hex[:12]}",
            "categories": [],
            "receivedDateTime": now,
            "sentDateTime": None,
            "hasAttachments": False,
            "internetMessageId": f"<{uuid.uuid4().hex}@GV1P190MB.fake.prod.outlook.com>",
            "subject": data.get("subject", ""),
            "bodyPreview": str(data.get("body", {}).get("content", ""))[:255],
            "importance": data.get("importance", "normal"),
            "parentFolderId": FOLDERS[folder.lower()],
            "conversationId": f"AAQkAD{uuid.uuid4().hex}",
            "isDeliveryReceiptRequested": data.get("isDeliveryReceiptRequested", False),
            "isReadReceiptRequested": data.get("isReadReceiptRequested", False),
            "isRead": True,
            "isDraft": True,
            "webLink": f"https://outlook.office365.com/owa/?ItemID={message_id}",
            "inferenceClassification": "focused",
            "body": data.get("body", {"contentType": "Text", "content": ""}),
            "sender": {"emailAddress": {"name": "Chaser", "address": self.mailbox}},
            "from": {"emailAddress": {"name": "Chaser", "address": self.mailbox}},
            "toRecipients": data.get("toRecipients", []),
            "ccRecipients": data.get("ccRecipients", []),
            "bccRecipients": data.get("bccRecipients", []),
            "replyTo": data.get("replyTo", []),
            "flag": {"flagStatus": "notFlagged"},
            "_props": list(data.get("singleValueExtendedProperties", [])),
            "_headers": list(data.get("internetMessageHeaders", [])),
            "_attachments": [],
            #: Sequence numbers for delta: when it entered its folder, when it last changed.
            "_created": 0,
            "_updated": 0,
        }
        message.update(overrides or {})
        # Graph creates a message's inline ``attachments`` with it (all or nothing).
        message["_attachments"] = [
            _file_attachment(item, now) for item in data.get("attachments") or []
        ]
        message["hasAttachments"] = bool(message["_attachments"])
        with self._lock:
            self._sequence += 1
            message["_created"] = message["_updated"] = self._sequence
            self.messages[message_id] = message
        return message

    def add_attachment(self, message_id: str, data: Any) -> dict[str, Any]:
        """``POST .../messages/{id}/attachments``: validate and store one file attachment."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        attachment = _file_attachment(data, now)
        with self._lock:
            message = self.messages[message_id]
            message["_attachments"].append(attachment)
            message["hasAttachments"] = True
            message["changeKey"] = f"CQAAABYAAAB{uuid.uuid4().hex[:12]}"
        return attachment

    def send_draft(self, message_id: str) -> None:
        message = self.messages[message_id]
        message["isDraft"] = False
        message["parentFolderId"] = FOLDERS["sentitems"]
        message["sentDateTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message["_created"] = message["_updated"] = self._next_sequence()

    def update_message(self, message_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a PATCH: the message counts as ``updated`` for delta from now on."""
        message = self.messages[message_id]
        message.update(changes)
        message["lastModifiedDateTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message["changeKey"] = f"CQAAABYAAAB{uuid.uuid4().hex[:12]}"
        message["_updated"] = self._next_sequence()
        return message


def exchange_stamp(from_domain: str, verdict: str = "pass", *, mailfrom: str = "") -> str:
    """An ``Authentication-Results`` value as Exchange Online Protection writes it: no
    authserv-id, comments after the results, ``action=`` and ``compauth=`` (Microsoft's
    "Anti-spam message headers" page). ``verdict`` ``pass``: SPF, DKIM and DMARC pass for
    ``from_domain``; ``fail``: a spoof of it from ``mailfrom`` (default attacker.example)."""
    if verdict == "pass":
        return (
            f"spf=pass (sender IP is 192.0.2.25) smtp.mailfrom={from_domain}; dkim=pass "
            f"(signature was verified) header.d={from_domain};dmarc=pass action=none "
            f"header.from={from_domain};compauth=pass reason=100"
        )
    source = mailfrom or "attacker.example"
    return (
        f"spf=fail (sender IP is 203.0.113.66) smtp.mailfrom={source}; dkim=none (message not "
        f"signed) header.d=none;dmarc=fail action=quarantine header.from={from_domain};"
        "compauth=fail reason=000"
    )


def _file_attachment_json(attachment: StoredAttachment) -> dict[str, Any]:
    """A ``fileAttachment`` as a client would POST it."""
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": attachment.name,
        "contentType": attachment.content_type,
        "contentBytes": b64encode(attachment.data).decode("ascii"),
    }


def _file_attachment(data: Any, now: str) -> dict[str, Any]:
    """Check a posted ``fileAttachment`` as Graph does and return the stored resource."""
    if not isinstance(data, dict):
        raise _GraphError(400, "ErrorInvalidRequest", "Empty Payload. JSON content expected.")
    kind = str(data.get("@odata.type", ""))
    if kind.lower() != "#microsoft.graph.fileattachment":
        raise _GraphError(
            400, "ErrorInvalidRequest", f"Attachment type '{kind}' is not supported here."
        )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _GraphError(400, "ErrorInvalidRequest", "The attachment needs a name.")
    try:
        raw = b64decode(str(data.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise _GraphError(
            400, "ErrorInvalidRequest", "Cannot convert the literal to 'Edm.Binary'."
        ) from None
    if len(raw) > MAX_SIMPLE_ATTACHMENT:
        raise _GraphError(
            413,
            "ErrorRequestEntityTooLarge",
            "The maximum request length supported is 4MB; use an upload session.",
        )
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": f"AAMkAttachment{uuid.uuid4().hex}=",
        "lastModifiedDateTime": now,
        "name": name,
        "contentType": str(data.get("contentType") or "application/octet-stream"),
        "size": len(raw),
        "isInline": bool(data.get("isInline", False)),
        "contentId": data.get("contentId"),
        "contentLocation": None,
        "contentBytes": b64encode(raw).decode("ascii"),
    }


def _public(message: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    shown = {k: v for k, v in message.items() if not k.startswith("_")}
    if select:
        shown = {k: v for k, v in shown.items() if k in select or k in ("id", "@odata.etag")}
        if "internetMessageHeaders" in select:
            shown["internetMessageHeaders"] = list(message["_headers"])
    return shown


def _odata_unquote(value: str) -> str:
    return value.replace("''", "'")


class _GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _make_handler(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Microsoft-IIS/10.0"
        disable_nagle_algorithm = True  # headers and body go in two writes

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        # -- plumbing ----------------------------------------------------------------------

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = None
            if raw:
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    body = json.loads(raw)
                elif "form" in ctype:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                else:
                    body = raw.decode(errors="replace")
            with fake._lock:
                fake.requests.append(Recorded(method, path, query, dict(self.headers), body))

            fault = fake.take_fault(method, path)
            if fault and fault.delay and fake._stopping.wait(fault.delay):
                return
            if fault and fault.status and not fault.after:
                self._error(fault.status, fault.code, fault.message, fault.headers)
                return
            try:
                status, payload, headers = self._route(method, path, query, body)
            except _GraphError as exc:
                self._error(exc.status, exc.code, exc.message)
                return
            if fault and fault.status and fault.after:
                self._error(fault.status, fault.code, fault.message, fault.headers)
                return
            self._send(status, payload, headers)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(payload, bytes):  # $value: the content type comes in ``headers``
                data, json_body = payload, False
            else:
                data = b"" if payload is None else json.dumps(payload).encode()
                json_body = bool(data)
            try:
                self.send_response(status)
                self.send_header("request-id", str(uuid.uuid4()))
                self.send_header("client-request-id", str(uuid.uuid4()))
                if json_body:
                    self.send_header("Content-Type", "application/json; odata.metadata=minimal")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the client gave up (a timeout test)

        def _error(
            self,
            status: int,
            code: str = "",
            message: str = "",
            headers: dict[str, str] | None = None,
        ) -> None:
            defaults = {
                400: ("ErrorInvalidRequest", "The request is invalid."),
                401: ("InvalidAuthenticationToken", "Access token is empty."),
                403: ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
                404: ("ErrorItemNotFound", "The specified object was not found in the store."),
                429: (
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                ),
                500: ("InternalServerError", "An internal server error occurred."),
                503: ("ServiceUnavailable", "The service is temporarily unavailable."),
                504: ("GatewayTimeout", "The gateway timed out."),
            }
            default_code, default_message = defaults.get(status, ("UnknownError", ""))
            request_id = str(uuid.uuid4())
            payload = {
                "error": {
                    "code": code or default_code,
                    "message": message or default_message,
                    "innerError": {
                        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                        "request-id": request_id,
                        "client-request-id": request_id,
                    },
                }
            }
            self._send(status, payload, headers)

        # -- routes ------------------------------------------------------------------------

        def _route(
            self, method: str, path: str, query: dict[str, str], body: Any
        ) -> tuple[int, Any, dict[str, str]]:
            tenant = re.escape(fake.tenant)
            if method == "GET" and re.fullmatch(
                rf"/{tenant}/v2\.0/\.well-known/openid-configuration", path
            ):
                return 200, self._discovery(), {}
            if method == "POST" and re.fullmatch(rf"/{tenant}/oauth2/v2\.0/token", path):
                return self._token(body)
            if path.startswith("/v1.0/"):
                self._authorise()
                return self._graph(method, path[len("/v1.0") :], query, body)
            raise _GraphError(404, "UnknownPath", f"No route for {method} {path}")

        def _discovery(self) -> dict[str, Any]:
            base = f"{fake.url}/{fake.tenant}"
            return {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{fake.url}/{fake.tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce"],
                "kerberos_endpoint": f"{base}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }

        def _token(self, form: Any) -> tuple[int, Any, dict[str, str]]:
            form = form if isinstance(form, dict) else {}
            if form.get("grant_type") != "client_credentials":
                return self._aad(
                    400,
                    "unsupported_grant_type",
                    70003,
                    "The app requested an unsupported grant type.",
                )
            if form.get("client_id") != fake.client_id:
                return self._aad(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{form.get('client_id')}' was not found in "
                    f"the directory '{fake.tenant}'.",
                )
            if form.get("client_secret") != fake.client_secret:
                return self._aad(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{fake.client_id}'.",
                )
            if form.get("scope", "").split() != [GRAPH_SCOPE]:
                return self._aad(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {form.get('scope')} is not valid.",
                )
            token = f"eyJ0eXAiOiJKV1QiLCJub25jZSI6.fake.{uuid.uuid4().hex}"
            with fake._lock:
                fake.tokens.add(token)
            return (
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": token,
                },
                {},
            )

        def _aad(
            self, status: int, error: str, code: int, description: str
        ) -> tuple[int, Any, dict[str, str]]:
            trace = str(uuid.uuid4())
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            return (
                status,
                {
                    "error": error,
                    "error_description": f"AADSTS{code}: {description} Trace ID: {trace} "
                    f"Correlation ID: {uuid.uuid4()} Timestamp: {now}",
                    "error_codes": [code],
                    "timestamp": now,
                    "trace_id": trace,
                    "correlation_id": str(uuid.uuid4()),
                    "error_uri": f"https://login.microsoftonline.com/error?code={code}",
                },
                {},
            )

        def _authorise(self) -> None:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                raise _GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
            if auth[len("Bearer ") :] not in fake.tokens:
                raise _GraphError(
                    401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed."
                )

        def _graph(
            self, method: str, path: str, query: dict[str, str], body: Any
        ) -> tuple[int, Any, dict[str, str]]:
            match = re.fullmatch(r"/users/([^/]+)(/.*)", path)
            if not match:
                raise _GraphError(
                    400, "BadRequest", f"Resource not found for the segment '{path}'."
                )
            user, rest = match.groups()
            if user.lower() != fake.mailbox.lower():
                raise _GraphError(
                    404, "ErrorInvalidUser", f"The requested user '{user}' is invalid."
                )
            headers: dict[str, str] = {}
            if 'IdType="ImmutableId"' in (self.headers.get("Prefer") or ""):
                headers["Preference-Applied"] = 'IdType="ImmutableId"'
            context = f"https://graph.microsoft.com/v1.0/$metadata#users('{user}')"

            create = re.fullmatch(r"/messages|/mailFolders/([^/]+)/messages", rest)
            if method == "POST" and create:
                folder = (create.group(1) or "drafts").lower()
                if folder not in FOLDERS:
                    raise _GraphError(404, "ErrorInvalidIdMalformed", "Id is malformed.")
                self._check_headers(body)
                message = fake._new_message(body or {}, folder=folder)
                shown = {"@odata.context": f"{context}/messages/$entity", **_public(message, None)}
                return 201, shown, headers

            send = re.fullmatch(r"/messages/([^/]+)/send", rest)
            if method == "POST" and send:
                message = self._message(send.group(1))
                if not message["isDraft"]:
                    raise _GraphError(
                        400, "ErrorInvalidRequest", "Only draft messages can be sent."
                    )
                fake.send_draft(message["id"])
                return 202, None, headers

            attachments = re.fullmatch(r"/messages/([^/]+)/attachments", rest)
            if method == "POST" and attachments:
                message = self._message(attachments.group(1))
                if not message["isDraft"]:
                    raise _GraphError(
                        400,
                        "ErrorInvalidRequest",
                        "Attachments can only be added to draft messages.",
                    )
                attachment = fake.add_attachment(message["id"], body)
                shown = {
                    "@odata.context": (
                        f"{context}/messages('{message['id']}')/attachments/$entity"
                    ),
                    **attachment,
                }
                return 201, shown, headers
            if method == "GET" and attachments:
                message = self._message(attachments.group(1))
                select = self._select(query)
                listed = [
                    {k: v for k, v in a.items() if not select or k in select or k == "@odata.type"}
                    for a in message["_attachments"]
                ]
                return (
                    200,
                    {
                        "@odata.context": f"{context}/messages('{message['id']}')/attachments",
                        "value": listed,
                    },
                    headers,
                )

            mime = re.fullmatch(r"/messages/([^/]+)/\$value", rest)
            if method == "GET" and mime:
                message = self._message(mime.group(1))
                return 200, _mime(message), {**headers, "Content-Type": "text/plain"}

            one = re.fullmatch(r"/messages/([^/]+)", rest)
            if method == "PATCH" and one:
                message = self._message(one.group(1))
                changes = body if isinstance(body, dict) else {}
                refused = sorted(set(changes) - _WRITABLE)
                if refused:
                    raise _GraphError(
                        400,
                        "ErrorInvalidPropertyUpdateSentMessage",
                        f"Update operation is not allowed for property '{refused[0]}'.",
                    )
                message = fake.update_message(message["id"], changes)
                shown = {"@odata.context": f"{context}/messages/$entity", **_public(message, None)}
                return 200, shown, headers
            if method == "DELETE" and one:
                message = self._message(one.group(1))
                with fake._lock:
                    del fake.messages[message["id"]]
                return 204, None, headers
            if method == "GET" and one:
                message = self._message(one.group(1))
                select = self._select(query)
                shown = {
                    "@odata.context": f"{context}/messages/$entity",
                    **_public(message, select),
                }
                return 200, shown, headers

            delta = re.fullmatch(r"/mailFolders/([^/]+)/messages/delta", rest)
            if method == "GET" and delta:
                return 200, self._delta(user, delta.group(1), query), headers

            listing = re.fullmatch(r"/mailFolders/([^/]+)/messages", rest)
            if method == "GET" and listing:
                return 200, self._list(listing.group(1), query, context), headers

            raise _GraphError(400, "BadRequest", f"Unsupported request {method} {rest}")

        def _check_headers(self, body: Any) -> None:
            for header in (body or {}).get("internetMessageHeaders", []):
                name = header.get("name", "")
                if not name.lower().startswith("x-"):
                    raise _GraphError(
                        400,
                        "InvalidInternetMessageHeader",
                        f"The internet message header name '{name}' should start with 'x-' or "
                        "'X-'.",
                    )

        def _message(self, message_id: str) -> dict[str, Any]:
            message = fake.messages.get(message_id)
            if message is None:
                raise _GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            return message

        @staticmethod
        def _select(query: dict[str, str]) -> list[str] | None:
            select = query.get("$select")
            return [s.strip() for s in select.split(",")] if select else None

        def _list(self, folder: str, query: dict[str, str], context: str) -> dict[str, Any]:
            folder_id = FOLDERS.get(folder.lower(), folder)
            if folder_id not in FOLDERS.values():
                raise _GraphError(404, "ErrorInvalidIdMalformed", "Id is malformed.")
            found = [m for m in fake.messages.values() if m["parentFolderId"] == folder_id]
            filter_ = query.get("$filter")
            if filter_:
                match = _ANY_FILTER.match(filter_.strip())
                if not match:
                    raise _GraphError(400, "BadRequest", f"Invalid filter clause: {filter_}")
                prop_id, value = _odata_unquote(match.group(2)), _odata_unquote(match.group(3))
                found = [
                    m
                    for m in found
                    if any(
                        p["id"].lower() == prop_id.lower() and p["value"] == value
                        for p in m["_props"]
                    )
                ]
            found.sort(key=lambda m: m["createdDateTime"])
            top = int(query.get("$top", "10"))
            select = self._select(query)
            expand_id: str | None = None
            if "$expand" in query:
                match = _EXPAND.match(query["$expand"].strip())
                if not match:
                    raise _GraphError(
                        400, "BadRequest", f"Parsing OData Select and Expand failed: {query}"
                    )
                expand_id = _odata_unquote(match.group(1))
            listed: list[dict[str, Any]] = []
            for message in found[:top]:
                shown = _public(message, select)
                if expand_id is not None:
                    props = [p for p in message["_props"] if p["id"].lower() == expand_id.lower()]
                    if props:
                        shown["singleValueExtendedProperties"] = props
                listed.append(shown)
            return {
                "@odata.context": f"{context}/mailFolders('{folder}')/messages",
                "value": listed,
            }

        def _delta(self, user: str, folder: str, query: dict[str, str]) -> dict[str, Any]:
            """One page of a message-delta round, as Graph pages it."""
            link = f"{fake.graph_url}/users/{user}/mailFolders/{folder}/messages/delta"
            if "$skiptoken" in query:
                with fake._lock:
                    pending = fake._skip_tokens.pop(query["$skiptoken"], None)
                if pending is None:
                    raise _GraphError(410, "SyncStateNotFound", "The sync state is not found.")
                items, state = pending.items, pending.state
            else:
                state = self._delta_state(folder, query)
                with fake._lock:
                    upto = fake._sequence
                    found = list(fake.messages.values())
                items = _delta_items(found, state, upto)
                state = replace(state, seen=upto)
            size_match = _MAX_PAGE_SIZE.search(self.headers.get("Prefer") or "")
            size = max(1, int(size_match.group(1))) if size_match else DELTA_PAGE_SIZE
            page, rest = items[:size], items[size:]
            token = uuid.uuid4().hex + uuid.uuid4().hex
            payload: dict[str, Any] = {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
                "value": [_public(m, state.select) for m in page],
            }
            with fake._lock:
                if rest:
                    fake._skip_tokens[token] = _PendingPages(rest, state)
                    payload["@odata.nextLink"] = f"{link}?$skiptoken={token}"
                else:
                    fake.delta_tokens[token] = state
                    payload["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
            return payload

        def _delta_state(self, folder: str, query: dict[str, str]) -> DeltaState:
            if "$deltatoken" in query:
                with fake._lock:
                    state = fake.delta_tokens.get(query["$deltatoken"])
                if state is None:
                    raise _GraphError(
                        410,
                        "SyncStateNotFound",
                        "The sync state generation is not found; generation=149.",
                    )
                return state
            folder_id = FOLDERS.get(folder.lower(), folder)
            if folder_id not in FOLDERS.values():
                raise _GraphError(404, "ErrorInvalidIdMalformed", "Id is malformed.")
            change_type = query.get("changeType") or None
            if change_type not in (None, "created", "updated"):
                raise _GraphError(400, "BadRequest", f"Unsupported changeType {change_type}.")
            op: str | None = None
            since: datetime | None = None
            if query.get("$filter"):
                match = _DELTA_FILTER.match(query["$filter"].strip())
                if not match:
                    raise _GraphError(
                        400,
                        "ErrorInvalidUrlQueryFilter",
                        "The query filter contains one or more invalid nodes.",
                    )
                op, since = match.group(1).lower(), _instant(match.group(2))
            return DeltaState(folder_id, self._select(query), change_type, op, since, seen=0)

    return Handler


def _instant(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _GraphError(400, "BadRequest", f"Invalid DateTimeOffset '{value}'.") from None
    if when.tzinfo is None:
        raise _GraphError(400, "BadRequest", f"DateTimeOffset '{value}' has no offset.")
    return when


def _delta_items(
    messages: list[dict[str, Any]], state: DeltaState, upto: int
) -> list[dict[str, Any]]:
    """Messages in the state's folder changed after ``state.seen``, oldest change first."""
    changed: list[tuple[int, dict[str, Any]]] = []
    for message in messages:
        if message["parentFolderId"] != state.folder_id:
            continue
        if state.received_since is not None:
            received = _instant(message["receivedDateTime"])
            if received < state.received_since or (
                state.received_op == "gt" and received == state.received_since
            ):
                continue
        created = state.seen < message["_created"] <= upto
        updated = not created and state.seen < message["_updated"] <= upto
        if (created and state.change_type in (None, "created")) or (
            updated and state.change_type in (None, "updated")
        ):
            changed.append((message["_updated"], message))
    return [message for _, message in sorted(changed, key=lambda pair: pair[0])]


def _mime(message: dict[str, Any]) -> bytes:
    """The message's MIME: what was delivered, or (for messages Chaser created) a rendering."""
    raw = message.get("_raw")
    if isinstance(raw, bytes):
        return raw
    rendered = email.message.EmailMessage()
    rendered["Subject"] = message.get("subject", "")
    rendered["Message-ID"] = message.get("internetMessageId", "")
    body = message.get("body") or {}
    subtype = "html" if str(body.get("contentType", "")).lower() == "html" else "plain"
    rendered.set_content(str(body.get("content", "")), subtype=subtype)
    return rendered.as_bytes(policy=email.policy.SMTP)


@functools.cache
def _test_ca() -> trustme.CA:
    """One test CA per test run: issuing it is the slow part, a leaf certificate is cheap."""
    return trustme.CA()


def graph_client(fake: FakeGraph, **overrides: Any) -> GraphClient:
    """The one Graph client, pointed at ``fake`` (``overrides`` replace its arguments)."""
    settings: dict[str, Any] = {
        "tenant_id": fake.tenant,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "authority_host": fake.url,
        "graph_url": fake.graph_url,
        "timeout": 5.0,
    }
    settings.update(overrides)
    return GraphClient(**settings)


@pytest.fixture(name="fake_graph")
def fake_graph_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    """A running fake Graph + Entra ID on 127.0.0.1 over TLS.

    requests lets ``REQUESTS_CA_BUNDLE`` (exported on this machine) override ``Session.verify``,
    so point it at the test CA rather than the system bundle; and keep any proxy out of the way.
    """
    ca = _test_ca()
    ca_path = tmp_path / "fake-graph-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeGraph(ca=ca, ca_path=ca_path).start()
    try:
        yield fake
    finally:
        fake.stop()
