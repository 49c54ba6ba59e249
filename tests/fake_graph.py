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

- calendar events (what the Graph path of meeting invitations uses), in the shared mailbox's
  calendar: ``POST .../events`` (``201`` with Graph's generated ``id``, ``iCalUId``,
  ``changeKey``, ``organizer``, ``attendees`` with their ``status``; ``transactionId`` honoured as
  Graph does: a second create with the same one answers with the first event, one with other
  content is ``400 ErrorDuplicateTransactionId``), ``GET .../events`` (the same ``$filter`` on an
  extended property, ``$expand`` of one or more of them joined by ``or``, ``$select``, ``$top``;
  cancelled events are not in the calendar), ``GET``/``PATCH``/``DELETE .../events/{id}`` and
  ``POST .../events/{id}/cancel`` (organizer only, ``202`` with no body; the event moves to
  Deleted Items). Nothing is sent anywhere: what Exchange would send the attendees is recorded
  in :attr:`FakeGraph.meeting_messages` (a request to each attendee of a new event, an update to
  each on a change of time or place, a cancellation to each one dropped or on cancel), and
  :meth:`FakeGraph.respond` plays an attendee's answer, kept on the event as Exchange does.

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
import time
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
    r"^singleValueExtendedProperties\(\$filter=(id eq '(?:[^']|'')*'"
    r"(?: or id eq '(?:[^']|'')*')*)\)$",
    re.IGNORECASE,
)
_EXPAND_ID = re.compile(r"id eq '((?:[^']|'')*)'", re.IGNORECASE)
#: The zones the fake accepts in an event's ``start``/``end`` (a few of Graph's: Windows names
#: and the calendar API's additional IANA ones).
EVENT_TIME_ZONES = {"UTC", "Europe/London", "GMT Standard Time", "Etc/GMT"}
#: Properties a PATCH may change on an event (Graph refuses read-only ones such as ``iCalUId``).
_EVENT_WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "isOnlineMeeting",
    "responseRequested",
    "allowNewTimeProposals",
    "showAs",
    "importance",
    "sensitivity",
    "categories",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "singleValueExtendedProperties",
}
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


@dataclass(frozen=True)
class MeetingMessage:
    """What Exchange would have sent one attendee about an event (the fake sends nothing)."""

    kind: str  # "request", "update" or "cancel"
    event_id: str
    to: str  # the attendee's address, lower case
    subject: str
    comment: str = ""


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


class _CountingServer(ThreadingHTTPServer):
    """Counts connections from when they are accepted until they are closed."""

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeGraph
    ) -> None:
        super().__init__(address, handler)
        self.fake = fake

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.fake._lock:
            self.fake.connections += 1
            self.fake.last_active = time.monotonic()
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self.fake._lock:
                self.fake.connections -= 1
                self.fake.last_active = time.monotonic()


def _accept_queue(port: int) -> int:
    """How many connections to ``port`` wait to be accepted: a listening socket's receive
    queue in /proc/net/tcp (Linux), 0 where that cannot be read."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return 0
    for line in lines:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:  # LISTEN
            return int(queues.split(":")[1], 16)
    return 0


class FakeGraph:
    """State, scripting and request log of the fake. ``url`` is ``https://127.0.0.1:PORT``."""

    def __init__(self, *, ca: trustme.CA, ca_path: Path) -> None:
        #: Requests being handled now, connections accepted and not yet closed, and when one
        #: last started or ended (wait_idle).
        self.active = 0
        self.connections = 0
        self.last_active = 0.0
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
        #: event id -> Graph event resource (``_props``: its extended properties; ``_folder``:
        #: "calendar" or "deleteditems", where a cancelled event goes).
        self.events: dict[str, dict[str, Any]] = {}
        #: What Exchange would have sent attendees, in order.
        self.meeting_messages: list[MeetingMessage] = []
        #: Every change (a message entering a folder, a PATCH) takes the next sequence number.
        self._sequence = 0
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _CountingServer(("127.0.0.1", 0), _make_handler(self), self)
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

    def wait_idle(self, quiet: float = 0.3, timeout: float = 20.0) -> None:
        """Wait until every connection has been accepted and closed, and nothing has happened
        for ``quiet`` seconds: what a dead client left in flight has been carried out (as
        Exchange would, long before a 15-minute lease runs out). A connection still waiting to
        be accepted (a busy machine can leave one there for longer than ``quiet``) counts as
        in flight, as does one whose request is still buffered: a killed client's sockets
        close, so the server reads what it sent, then the end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                idle = (
                    self.active == 0
                    and self.connections == 0
                    and time.monotonic() - self.last_active >= quiet
                )
            if idle and _accept_queue(self.port) == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"the fake Graph server was still busy after {timeout:g} s")

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

    # -- calendar events ---------------------------------------------------------------------

    def calendar(self) -> list[dict[str, Any]]:
        """The events in the shared mailbox's calendar (cancelled ones are in Deleted Items)."""
        with self._lock:
            return [e for e in self.events.values() if e["_folder"] == "calendar"]

    def create_event(self, data: Any) -> dict[str, Any]:
        """``POST .../events``: a new event, or the one an earlier create with the same
        ``transactionId`` made (Graph's guard against a client's retry)."""
        data = _check_event(data)
        transaction = data.get("transactionId")
        with self._lock:
            if transaction:
                for earlier in self.events.values():
                    if earlier.get("transactionId") != transaction:
                        continue
                    same = all(
                        earlier.get(k) == data.get(k) for k in ("subject", "start", "end")
                    ) and _attendee_addresses(earlier) == _attendee_addresses(data)
                    if not same:
                        raise _GraphError(
                            400,
                            "ErrorDuplicateTransactionId",
                            "Your request can't be completed. The TransactionId specified in "
                            "the request has already been used to create a different event.",
                        )
                    return earlier
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            event_id = f"AAMkAGI2TG93AAABGAAA{uuid.uuid4().hex}AAA="
            attendees = [
                {
                    "type": a.get("type", "required"),
                    "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": dict(a["emailAddress"]),
                }
                for a in data.get("attendees") or []
            ]
            event: dict[str, Any] = {
                "@odata.etag": f'W/"DwAAABYAAAB{uuid.uuid4().hex[:12]}"',
                "id": event_id,
                "createdDateTime": now,
                "lastModifiedDateTime": now,
                "changeKey": f"DwAAABYAAAB{uuid.uuid4().hex[:12]}",
                "categories": [],
                "transactionId": transaction,
                "originalStartTimeZone": data["start"]["timeZone"],
                "originalEndTimeZone": data["end"]["timeZone"],
                "iCalUId": "040000008200E00074C5B7101A82E00800000000" + uuid.uuid4().hex.upper(),
                "reminderMinutesBeforeStart": 15,
                "isReminderOn": True,
                "hasAttachments": False,
                "subject": data.get("subject", ""),
                "bodyPreview": str((data.get("body") or {}).get("content", ""))[:255],
                "importance": "normal",
                "sensitivity": "normal",
                "isAllDay": False,
                "isCancelled": False,
                "isOrganizer": True,
                "responseRequested": data.get("responseRequested", True),
                "seriesMasterId": None,
                "showAs": "busy",
                "type": "singleInstance",
                "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}&exvsurl=1",
                "onlineMeetingUrl": None,
                "isOnlineMeeting": bool(data.get("isOnlineMeeting", False)),
                "allowNewTimeProposals": data.get("allowNewTimeProposals", True),
                "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
                "body": data.get("body") or {"contentType": "text", "content": ""},
                "start": dict(data["start"]),
                "end": dict(data["end"]),
                "location": data.get("location") or {"displayName": ""},
                "locations": [data["location"]] if data.get("location") else [],
                "attendees": attendees,
                "organizer": {"emailAddress": {"name": "Chaser", "address": self.mailbox}},
                "_props": list(data.get("singleValueExtendedProperties") or []),
                "_folder": "calendar",
            }
            self.events[event_id] = event
            for address in _attendee_addresses(event):
                self.meeting_messages.append(
                    MeetingMessage("request", event_id, address, event["subject"])
                )
        return event

    def update_event(self, event_id: str, changes: Any) -> dict[str, Any]:
        """``PATCH .../events/{id}``: what Exchange sends follows what changed."""
        changes = _check_event(changes, partial=True)
        refused = sorted(set(changes) - _EVENT_WRITABLE)
        if refused:
            raise _GraphError(
                400,
                "ErrorInvalidPropertyUpdate",
                f"Update operation is not allowed for property '{refused[0]}'.",
            )
        with self._lock:
            event = self.events[event_id]
            before = _attendee_addresses(event)
            moved = any(
                k in changes and changes[k] != event.get(k) for k in ("start", "end", "location")
            )
            props = {p["id"].lower(): p for p in event["_props"]}
            for prop in changes.get("singleValueExtendedProperties") or []:
                props[prop["id"].lower()] = prop
            event["_props"] = list(props.values())
            for key, value in changes.items():
                if key == "attendees":
                    known = {
                        str(a["emailAddress"]["address"]).lower(): a for a in event["attendees"]
                    }
                    event["attendees"] = [
                        {
                            "type": a.get("type", "required"),
                            "status": known.get(str(a["emailAddress"]["address"]).lower(), {}).get(
                                "status", {"response": "none", "time": "0001-01-01T00:00:00Z"}
                            ),
                            "emailAddress": dict(a["emailAddress"]),
                        }
                        for a in value
                    ]
                elif key != "singleValueExtendedProperties":
                    event[key] = value
            event["lastModifiedDateTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            event["changeKey"] = f"DwAAABYAAAB{uuid.uuid4().hex[:12]}"
            after = _attendee_addresses(event)
            for address in after:
                if address not in before:
                    kind = "request"
                elif moved:
                    kind = "update"
                else:
                    continue
                self.meeting_messages.append(
                    MeetingMessage(kind, event_id, address, event["subject"])
                )
            for address in before:
                if address not in after:
                    self.meeting_messages.append(
                        MeetingMessage("cancel", event_id, address, event["subject"])
                    )
        return event

    def respond(self, event_id: str, address: str, response: str) -> None:
        """An attendee answers (``accepted``, ``declined``, ``tentativelyAccepted``): Exchange
        takes the answer in and keeps it on the organizer's event."""
        with self._lock:
            for attendee in self.events[event_id]["attendees"]:
                if attendee["emailAddress"]["address"].lower() == address.lower():
                    attendee["status"] = {
                        "response": response,
                        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                    }
                    return
        raise KeyError(address)

    def cancel_event(self, event_id: str, comment: str) -> None:
        """``POST .../events/{id}/cancel``: every attendee is told, the event goes to Deleted
        Items."""
        with self._lock:
            event = self.events[event_id]
            event["isCancelled"] = True
            event["_folder"] = "deleteditems"
            for address in _attendee_addresses(event):
                self.meeting_messages.append(
                    MeetingMessage("cancel", event_id, address, event["subject"], comment)
                )


def _attendee_addresses(event: dict[str, Any]) -> list[str]:
    return [
        str(a.get("emailAddress", {}).get("address", "")).lower()
        for a in event.get("attendees") or []
    ]


def _check_event(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate an event body as Graph does (what Chaser sends must be what Graph takes)."""
    if not isinstance(data, dict):
        raise _GraphError(400, "ErrorInvalidRequest", "Empty Payload. JSON content expected.")
    for side in ("start", "end"):
        if side not in data:
            if partial:
                continue
            raise _GraphError(400, "ErrorInvalidRequest", f"The event needs '{side}'.")
        when = data[side]
        if not isinstance(when, dict) or when.get("timeZone") not in EVENT_TIME_ZONES:
            raise _GraphError(
                400,
                "TimeZoneNotSupportedException",
                f"A valid TimeZone value must be specified for '{side}'.",
            )
        try:
            parsed = datetime.fromisoformat(str(when.get("dateTime")))
        except ValueError:
            raise _GraphError(
                400, "ErrorInvalidRequest", "Cannot convert the literal to 'Edm.DateTime'."
            ) from None
        if parsed.tzinfo is not None:
            raise _GraphError(
                400, "ErrorInvalidRequest", "dateTime carries no offset: the zone is timeZone."
            )
    for attendee in data.get("attendees") or []:
        address = (attendee.get("emailAddress") or {}).get("address")
        if not address or "@" not in str(address):
            raise _GraphError(400, "ErrorInvalidRecipients", "An attendee has no address.")
        if attendee.get("type", "required") not in ("required", "optional", "resource"):
            raise _GraphError(400, "ErrorInvalidRequest", "Attendee type is not valid.")
    return data


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


def _shown(event: dict[str, Any], select: list[str] | None = None) -> dict[str, Any]:
    """An event as Graph shows it: ``transactionId`` only when the app set one."""
    shown = {k: v for k, v in event.items() if not k.startswith("_")}
    if not shown.get("transactionId"):
        shown.pop("transactionId", None)
    if select:
        shown = {k: v for k, v in shown.items() if k in select or k in ("id", "@odata.etag")}
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
            with fake._lock:
                fake.active += 1
                fake.last_active = time.monotonic()
            try:
                self._handle_one(method)
            finally:
                with fake._lock:
                    fake.active -= 1
                    fake.last_active = time.monotonic()

        def _handle_one(self, method: str) -> None:
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

            if re.fullmatch(r"/(calendar/)?events(/.*)?", rest):
                return self._events(method, re.sub(r"^/calendar", "", rest), query, body, context)

            delta = re.fullmatch(r"/mailFolders/([^/]+)/messages/delta", rest)
            if method == "GET" and delta:
                return 200, self._delta(user, delta.group(1), query), headers

            listing = re.fullmatch(r"/mailFolders/([^/]+)/messages", rest)
            if method == "GET" and listing:
                return 200, self._list(listing.group(1), query, context), headers

            raise _GraphError(400, "BadRequest", f"Unsupported request {method} {rest}")

        def _events(
            self, method: str, rest: str, query: dict[str, str], body: Any, context: str
        ) -> tuple[int, Any, dict[str, str]]:
            headers: dict[str, str] = {}
            if method == "POST" and rest == "/events":
                event = fake.create_event(body)
                return (
                    201,
                    {"@odata.context": f"{context}/events/$entity", **_shown(event)},
                    headers,
                )
            if method == "GET" and rest == "/events":
                return 200, self._list_events(query, context), headers
            cancel = re.fullmatch(r"/events/([^/]+)/cancel", rest)
            if method == "POST" and cancel:
                event = self._event(cancel.group(1))
                if event["isCancelled"]:
                    raise _GraphError(
                        400, "ErrorItemNotFound", "The meeting has already been cancelled."
                    )
                comment = (body or {}).get("comment", "") if isinstance(body, dict) else ""
                fake.cancel_event(event["id"], str(comment))
                return 202, None, headers
            one = re.fullmatch(r"/events/([^/]+)", rest)
            if one and method == "GET":
                event = self._event(one.group(1))
                shown = _shown(event, self._select(query))
                return 200, {"@odata.context": f"{context}/events/$entity", **shown}, headers
            if one and method == "PATCH":
                event = self._event(one.group(1))
                event = fake.update_event(event["id"], body)
                return (
                    200,
                    {"@odata.context": f"{context}/events/$entity", **_shown(event)},
                    headers,
                )
            if one and method == "DELETE":
                event = self._event(one.group(1))
                with fake._lock:
                    del fake.events[event["id"]]
                return 204, None, headers
            raise _GraphError(400, "BadRequest", f"Unsupported request {method} {rest}")

        def _event(self, event_id: str) -> dict[str, Any]:
            event = fake.events.get(event_id)
            if event is None:
                raise _GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            return event

        def _list_events(self, query: dict[str, str], context: str) -> dict[str, Any]:
            found = fake.calendar()
            filter_ = query.get("$filter")
            if filter_:
                match = _ANY_FILTER.match(filter_.strip())
                if not match:
                    raise _GraphError(400, "BadRequest", f"Invalid filter clause: {filter_}")
                prop_id, value = _odata_unquote(match.group(2)), _odata_unquote(match.group(3))
                found = [
                    e
                    for e in found
                    if any(
                        p["id"].lower() == prop_id.lower() and p["value"] == value
                        for p in e["_props"]
                    )
                ]
            found.sort(key=lambda e: e["createdDateTime"])
            select = self._select(query)
            expand = self._expand_ids(query)
            listed = []
            for event in found[: int(query.get("$top", "10"))]:
                shown = _shown(event, select)
                if expand is not None:
                    props = [p for p in event["_props"] if p["id"].lower() in expand]
                    if props:
                        shown["singleValueExtendedProperties"] = props
                listed.append(shown)
            return {"@odata.context": f"{context}/events", "value": listed}

        @staticmethod
        def _expand_ids(query: dict[str, str]) -> set[str] | None:
            if "$expand" not in query:
                return None
            match = _EXPAND.match(query["$expand"].strip())
            if not match:
                raise _GraphError(
                    400, "BadRequest", f"Parsing OData Select and Expand failed: {query}"
                )
            return {_odata_unquote(i).lower() for i in _EXPAND_ID.findall(match.group(1))}

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
            expand = self._expand_ids(query)
            listed: list[dict[str, Any]] = []
            for message in found[:top]:
                shown = _public(message, select)
                if expand is not None:
                    props = [p for p in message["_props"] if p["id"].lower() in expand]
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
