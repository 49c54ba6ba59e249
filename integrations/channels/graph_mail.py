"""Microsoft Graph mail: send as a shared mailbox, exactly once.

Why it is built this way:

- **One client.** Tokens, timeouts and error handling are :class:`~integrations.graph.client.
  GraphClient`'s, shared with the inbox that reads replies. O365 does what it is good at: its
  :class:`O365.message.Message` composes the draft's JSON (:func:`draft_payload`, pure), and the
  client sends it.
- **Exactly once.** Graph's ``sendMail`` answers 202 with no id, so a crash after Microsoft
  accepted a message but before Chaser recorded it would be invisible. Instead :meth:`send`
  creates a draft stamped with the outbox key twice over -- an ``X-Chaser-Key`` internet message
  header (travels with the mail, visible to recipients' systems) and a named
  ``singleValueExtendedProperty`` (:data:`KEY_PROPERTY_ID`, which Graph can ``$filter`` on; the
  header cannot be filtered) -- and then sends that draft. :meth:`find_sent` looks the key up in
  Sent Items (and the Outbox) to answer "did it go?" after a crash; see docs/microsoft-365.md for
  the window that remains.
- **Attachments** (the digest's XLSX and DOCX) are POSTed one by one as
  ``#microsoft.graph.fileAttachment`` objects to ``/messages/{id}/attachments`` *after* the draft
  is created and stamped, and before it is sent: one create request with both files could reach
  Graph's 4 MB request limit. Graph takes a file in one POST only up to 3 MB
  (:data:`MAX_ATTACHMENT_BYTES`); larger ones need an upload session, which Chaser does not do, so
  :meth:`send` refuses them before calling Graph. Because the draft exists before its
  attachments, a crash can leave a stamped draft with only some of them: recovery lists the
  leftover draft's attachments and adds those missing *by file name* before sending it. An
  attachment POST is atomic in Graph, and the outbox's message for a key never changes, so a name
  already on the draft is that file.

- **Calendar invitations** are not mail here: a message marked as a meeting's event change
  (:func:`integrations.graph.calendar.is_event_message`) creates, updates or cancels that
  meeting's one calendar event in the shared mailbox (:class:`~integrations.graph.calendar.
  GraphCalendar`), and Exchange sends the invitations. A per-invitee iMIP message (one enqueued
  for email) still goes as mail, with its calendar attached as ``invite.ics``.

Failures are the client's: 429, 5xx and timeouts are transient, other refusals permanent and name
the fix.
"""

from __future__ import annotations

from base64 import b64encode
from collections import Counter
from collections.abc import Iterable, Mapping
from email.utils import parseaddr
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import structlog

from integrations.channels.base import ChannelConfigError
from integrations.graph.calendar import GraphCalendar, is_event_message
from integrations.graph.client import ADMIN_DOC, GraphClient
from notifications.channel import (
    KEY_HEADER,
    Attachment,
    OutgoingMessage,
    PermanentError,
    Receipt,
    TransientError,
    log_reason,
)
from workflows.chasing.config import Sender

log = structlog.get_logger(__name__)

#: The named MAPI property carrying the key, in Chaser's own property set (a fixed GUID).
#: Unlike internet headers, extended properties can be searched with ``$filter``.
KEY_PROPERTY_ID = "String {f36b38d6-821a-4097-9936-3e18f987e04e} Name ChaserKey"

#: The largest file Graph accepts in one attachment POST (3 MB); larger needs an upload session.
MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024
_ATTACHMENT_TOO_LARGE = "attachments over 3 MB need an upload session; not supported"

#: Folders searched for an already-sent message: once in either, it is Exchange's to deliver.
_SENT_FOLDERS = ("sentitems", "outbox")
_SELECT = "id,internetMessageId,isDraft,parentFolderId,createdDateTime"
_FIXES = {
    403: (
        "the app lacks Mail.Send (and Mail.ReadWrite, for drafts) on the shared mailbox: grant "
        f"them with Exchange RBAC for Applications, scoped to that mailbox ({ADMIN_DOC})"
    ),
    413: f"Graph refused the request as too large: {_ATTACHMENT_TOO_LARGE}",
}


def draft_payload(message: OutgoingMessage, mailbox: str) -> dict[str, Any]:
    """The Graph JSON of a draft for ``message``, stamped with its key (pure).

    Graph accepts only ``X-``/``x-`` internet headers, so others in ``message.headers`` are
    dropped (their names are logged, never their values).
    """
    from O365.connection import MSGraphProtocol  # heavy: only when Graph mail is used
    from O365.message import Message

    draft = Message(
        protocol=MSGraphProtocol(api_version="v1.0", timezone="UTC"),
        main_resource=f"users/{mailbox}",
    )
    draft.subject = message.subject
    draft.body_type, draft.body = ("HTML", message.html) if message.html else ("Text", message.text)
    draft.to.add([(a.name, a.email) for a in message.to])
    if message.cc:
        draft.cc.add([(a.name, a.email) for a in message.cc])
    if message.reply_to:
        draft.reply_to.add((message.reply_to.name, message.reply_to.email))
    draft.add_message_header(KEY_HEADER, message.key)
    dropped = []
    for header, value in message.headers.items():
        if header.lower() == KEY_HEADER.lower():
            continue
        if header.lower().startswith("x-"):
            draft.add_message_header(header, value)
        else:
            dropped.append(header)
    if dropped:
        log.info("graph_mail.headers_dropped", headers=sorted(dropped), key=message.key)
    draft.single_value_extended_properties.append({"id": KEY_PROPERTY_ID, "value": message.key})
    payload: dict[str, Any] = draft.to_api_data()
    return payload


def attachment_payload(attachment: Attachment) -> dict[str, Any]:
    """One ``fileAttachment``, with its content type (Graph would otherwise guess one)."""
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": attachment.filename,
        "contentType": attachment.content_type or "application/octet-stream",
        "contentBytes": b64encode(attachment.data).decode("ascii"),
    }


class GraphMailChannel:
    """Sends :class:`OutgoingMessage` as a shared mailbox through Microsoft Graph."""

    name = "email"
    kind: ClassVar[str] = "graph"
    delivers: ClassVar[str] = "email"
    #: Meeting invitations through this channel are calendar events in the shared mailbox (one
    #: per meeting), not one email per invitee: :mod:`chaser.invitations` enqueues them so.
    calendar_events: ClassVar[bool] = True

    @classmethod
    def configured(cls, settings: Any) -> bool:
        return bool(settings.graph_configured)

    @classmethod
    def from_settings(
        cls, settings: Any, *, sender: Sender, graph: GraphClient | None
    ) -> GraphMailChannel:
        """The shared mailbox (``CHASER_GRAPH_MAILBOX``, else chasing.yaml's sender, which it
        must equal: every message is sent as the sender) through the service's Graph client."""
        assert graph is not None, "Graph is configured, so the service has a Graph client"
        mailbox = settings.graph_mailbox or sender.mailbox
        if mailbox.lower() != sender.mailbox.lower():
            raise ChannelConfigError(
                f"CHASER_GRAPH_MAILBOX ({mailbox}) differs from sender.mailbox in chasing.yaml "
                f"({sender.mailbox}); messages are sent as sender.mailbox, so make them "
                "the same (or unset CHASER_GRAPH_MAILBOX)"
            )
        return cls(graph, mailbox=mailbox)

    def __init__(self, client: GraphClient, *, mailbox: str) -> None:
        if not mailbox:
            raise ValueError("GraphMailChannel needs mailbox")
        self.client = client
        self.mailbox = mailbox
        self.calendar = GraphCalendar(client, mailbox=mailbox)
        #: Keys whose last attempt in this process began creating a draft but never
        #: confirmed the send; the next :meth:`send` for such a key recovers first.
        self._unsettled: set[str] = set()

    def __repr__(self) -> str:
        return f"GraphMailChannel(mailbox={self.mailbox!r}, client={self.client!r})"

    # -- the Channel interface -------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> Receipt:
        """Create a draft stamped with ``message.key``, attach ``message.attachments`` to it, then
        send that draft.

        If an earlier attempt in this process left the outcome unknown (a timeout or 5xx after
        the draft was created), recover first (:meth:`find_sent`) so a retry never sends twice.
        """
        self._check(message)
        if is_event_message(message):
            return self.calendar.apply(message)
        payload = draft_payload(message, self.mailbox)
        self.client.token()  # a refused token dead-letters before anything is created
        if message.key in self._unsettled:
            found = self._recover(message)
            if found is not None:
                return found
        self._unsettled.add(message.key)
        draft_id = ""
        try:
            created = self._call(
                "POST", "/mailFolders/drafts/messages", "creating the draft", json=payload
            )
            draft_id = str(created.json().get("id") or "")
            if not draft_id:
                raise TransientError("Graph: creating the draft returned no id")
            self._attach(draft_id, _files(message))
            internet_message_id = self._internet_message_id(draft_id)
            self._call("POST", f"/messages/{quote(draft_id, safe='')}/send", "sending the draft")
        except PermanentError:
            self._unsettled.discard(message.key)
            if draft_id:
                self._discard_draft(draft_id)
            raise
        self._unsettled.discard(message.key)
        return Receipt(
            provider_id=internet_message_id or draft_id, detail=f"graph message {draft_id}"
        )

    def find_sent(self, message: OutgoingMessage) -> Receipt | None:
        """After a crash left the delivery's fate unknown: the receipt if a message with this key
        is in Sent Items (or the Outbox, already submitted), else None.

        A draft with the key that was never sent (the crash came between creating and sending
        it) is sent now and its receipt returned, so recovery never creates a second draft; any of
        ``message.attachments`` the draft lacks (the crash came while attaching) are added first.
        Like :meth:`send`, this may raise TransientError or PermanentError. For a calendar event
        change, whether the meeting's event already shows it.
        """
        if is_event_message(message):
            return self.calendar.find_applied(message)
        return self._recover(message)

    def close(self) -> None:
        self.client.close()

    # -- internals -------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        return self.client.request(
            method,
            self.client.mailbox_url(self.mailbox, path),
            what=f"Graph: {what}",
            fixes=_FIXES,
            **kwargs,
        )

    def _check(self, message: OutgoingMessage) -> None:
        sender = parseaddr(message.sender)[1] if message.sender else ""
        if sender and sender.lower() != self.mailbox.lower():
            raise PermanentError(
                f"this Graph channel sends as {self.mailbox}, but the message is from "
                f"{sender}: configure a channel for that mailbox or change the sender"
            )
        if not message.to:
            raise PermanentError("the message has no recipients")
        for attachment in _files(message):
            if len(attachment.data) > MAX_ATTACHMENT_BYTES:
                raise PermanentError(
                    f"attachment {attachment.filename!r} is {len(attachment.data)} bytes: "
                    f"{_ATTACHMENT_TOO_LARGE} (make it smaller or send a link to it)"
                )

    def _attach(
        self, message_id: str, attachments: Iterable[Attachment], *, present: Iterable[str] = ()
    ) -> None:
        """POST each attachment to the draft, skipping one per name in ``present`` (those a
        previous attempt already attached)."""
        already = Counter(present)
        path = f"/messages/{quote(message_id, safe='')}/attachments"
        for attachment in attachments:
            if already[attachment.filename] > 0:
                already[attachment.filename] -= 1
                continue
            self._call(
                "POST",
                path,
                f"attaching {attachment.filename}",
                json=attachment_payload(attachment),
            )

    def _attachment_names(self, message_id: str) -> list[str]:
        """The names of the attachments already on a message (without their content)."""
        response = self._call(
            "GET",
            f"/messages/{quote(message_id, safe='')}/attachments",
            "listing the leftover draft's attachments",
            params={"$select": "id,name"},
        )
        return [str(item.get("name") or "") for item in response.json().get("value", [])]

    def _discard_draft(self, draft_id: str) -> None:
        """Best effort: delete a draft Graph refused to send, so that a later recovery of the
        same key (after the dead letter is re-queued) cannot send its stale content."""
        try:
            self._call(
                "DELETE", f"/messages/{quote(draft_id, safe='')}", "deleting the refused draft"
            )
        except (TransientError, PermanentError) as exc:
            log.warning("graph_mail.draft_left", reason=log_reason(exc), message_id=draft_id)

    def _internet_message_id(self, message_id: str) -> str:
        """The draft's RFC 5322 Message-ID, read back (creating it does not return it)."""
        response = self._call(
            "GET",
            f"/messages/{quote(message_id, safe='')}",
            "reading the draft",
            params={"$select": "internetMessageId,isDraft"},
        )
        return str(response.json().get("internetMessageId") or "")

    def _recover(self, message: OutgoingMessage) -> Receipt | None:
        key = message.key
        for folder in _SENT_FOLDERS:
            found = self._lookup(folder, key)
            if found:
                self._unsettled.discard(key)
                return _receipt(found[0], f"found in {folder}")
        drafts = self._lookup("drafts", key)
        if not drafts:
            return None
        leftover = drafts[0]  # the oldest; any later duplicates stay unsent in Drafts
        draft_id = str(leftover["id"])
        if _files(message):
            # The crash may have come while attaching: complete the set before sending.
            present = self._attachment_names(draft_id)
            self._attach(draft_id, _files(message), present=present)
        self._call(
            "POST", f"/messages/{quote(draft_id, safe='')}/send", "sending the leftover draft"
        )
        self._unsettled.discard(key)
        return _receipt(leftover, "sent the draft a previous attempt left")

    def _lookup(self, folder: str, key: str) -> list[dict[str, Any]]:
        """Messages in ``folder`` whose extended property carries ``key``, oldest first.

        The property is also ``$expand``-ed and checked here, so a server that ignored the
        filter could never make an unrelated message count as already sent.
        """
        literal = key.replace("'", "''")
        prop = KEY_PROPERTY_ID.replace("'", "''")
        params = {
            "$filter": (
                f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' "
                f"and ep/value eq '{literal}')"
            ),
            "$select": _SELECT,
            "$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')",
            "$top": "10",
        }
        query = urlencode(params, quote_via=quote, safe="$/(),:'")
        response = self._call(
            "GET", f"/mailFolders/{folder}/messages?{query}", f"searching {folder}"
        )
        matches = [
            item
            for item in response.json().get("value", [])
            if any(
                str(p.get("id", "")).lower() == KEY_PROPERTY_ID.lower() and p.get("value") == key
                for p in item.get("singleValueExtendedProperties", [])
            )
        ]
        return sorted(matches, key=lambda item: str(item.get("createdDateTime") or ""))


def _files(message: OutgoingMessage) -> tuple[Attachment, ...]:
    """What is attached to the draft: the message's attachments, and a calendar invitation as
    ``invite.ics`` (Graph's sendMail has no iMIP part; Outlook offers to add the file's event)."""
    if not message.calendar:
        return message.attachments
    invite = Attachment("invite.ics", "text/calendar", message.calendar.encode("utf-8"))
    return (*message.attachments, invite)


def _receipt(item: Mapping[str, Any], detail: str) -> Receipt:
    return Receipt(
        provider_id=str(item.get("internetMessageId") or item.get("id") or ""),
        detail=f"graph message {item.get('id')}: {detail}",
    )
