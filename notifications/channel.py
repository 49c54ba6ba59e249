"""The one small interface every delivery channel implements: ``send(message) -> receipt``.

A channel only sends. Building the payload is a pure function beside it; retrying, rate
limiting and recording are the outbox's job (:mod:`notifications.outbox`). A channel reports the
outcome by returning a :class:`Receipt` or raising :class:`TransientError` (try again later,
perhaps after ``retry_after`` seconds) or :class:`PermanentError` (dead-letter it, with the reason).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: The header carrying the outbox key on every message Chaser sends (and in Graph, a property).
KEY_HEADER = "X-Chaser-Key"
#: The header carrying the short reference a reply quotes (``CHS-…``).
REFERENCE_HEADER = "X-Chaser-Reference"


@dataclass(frozen=True)
class Address:
    name: str
    email: str


@dataclass(frozen=True)
class Mention:
    """Someone to @mention in a Teams card (their Teams user principal name)."""

    name: str
    upn: str


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (the digest's XLSX log and DOCX paper)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message, exactly as the outbox stores it.

    ``key`` is the outbox's idempotency key: channels stamp it on what they send (an
    ``X-Chaser-Key`` header, a Message-ID derived from it) so a retry after a crash can be
    recognised.
    """

    key: str
    channel: str  # "email", "teams" or "file"
    sender: str  # the mailbox it is sent from (rate limits are per sender)
    to: tuple[Address, ...]
    subject: str
    text: str
    html: str = ""
    cc: tuple[Address, ...] = ()
    reply_to: Address | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: For Teams: who to @mention, and which configured webhook (by name) to post to.
    mentions: tuple[Mention, ...] = ()
    webhook: str = ""
    #: The one-click link to the reply form, for buttons (Teams) and plain-text fallbacks.
    link: str = ""
    attachments: tuple[Attachment, ...] = ()
    #: The name it is sent under (the plan's ``sender.name``: plans sharing a mailbox keep
    #: their own); empty for the channel's own.
    sender_name: str = ""
    #: The left-hand side of the email's Message-ID, stamped by the outbox when it enqueues the
    #: message: a digest of the key and its reference (which is keyed with the service's
    #: secret), so that knowing how keys are made is not enough to forge a reply's In-Reply-To.
    #: Every copy of one message carries the same id.
    message_id_token: str = ""
    #: When the message was written (enqueued): its ``Date``. With the Message-ID and the MIME
    #: boundaries drawn from the key, a copy sent again is byte for byte the first one.
    written_at: datetime | None = None
    #: A calendar invitation (an iCalendar object with its METHOD): sent by email as iMIP
    #: (RFC 6047), a ``text/calendar`` part beside the text, so calendars offer to accept it.
    calendar: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "channel": self.channel,
            "sender": self.sender,
            "sender_name": self.sender_name,
            "message_id_token": self.message_id_token,
            "written_at": self.written_at.isoformat() if self.written_at else None,
            "to": [[a.name, a.email] for a in self.to],
            "cc": [[a.name, a.email] for a in self.cc],
            "reply_to": [self.reply_to.name, self.reply_to.email] if self.reply_to else None,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "headers": dict(self.headers),
            "mentions": [[m.name, m.upn] for m in self.mentions],
            "webhook": self.webhook,
            "link": self.link,
            "attachments": [
                [a.filename, a.content_type, base64.b64encode(a.data).decode("ascii")]
                for a in self.attachments
            ],
            **({"calendar": self.calendar} if self.calendar else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutgoingMessage:
        reply_to = data.get("reply_to")
        return cls(
            key=data["key"],
            channel=data["channel"],
            sender=data["sender"],
            sender_name=data.get("sender_name", ""),
            message_id_token=data.get("message_id_token", ""),
            written_at=datetime.fromisoformat(data["written_at"])
            if data.get("written_at")
            else None,
            to=tuple(Address(n, e) for n, e in data.get("to", [])),
            cc=tuple(Address(n, e) for n, e in data.get("cc", [])),
            reply_to=Address(reply_to[0], reply_to[1]) if reply_to else None,
            subject=data["subject"],
            text=data["text"],
            html=data.get("html", ""),
            headers=dict(data.get("headers", {})),
            mentions=tuple(Mention(n, u) for n, u in data.get("mentions", [])),
            webhook=data.get("webhook", ""),
            link=data.get("link", ""),
            attachments=tuple(
                Attachment(name, kind, base64.b64decode(content))
                for name, kind, content in data.get("attachments", [])
            ),
            calendar=data.get("calendar", ""),
        )


@dataclass(frozen=True)
class Receipt:
    """What the provider said when it accepted the message."""

    provider_id: str = ""
    detail: str = ""


class DeliveryError(Exception):
    """The message was not delivered."""


_PROVIDER_WORDS = re.compile(r"\(([^()]*)\)")
_CODE = re.compile(r"^\s*(\d{3}(?:\s+\d\.\d{1,3}\.\d{1,3})?|[A-Za-z][A-Za-z0-9_.]*(?=:))")


def log_reason(reason: object) -> str:
    """A failure's reason as a log line may carry it: Chaser's own words, and of what the
    provider wrote (in brackets) only its status code. A mail server's refusal quotes addresses
    and names, and Graph's messages can quote URLs; the outbox row keeps the whole text for
    the secretary."""

    def code_only(found: re.Match[str]) -> str:
        code = _CODE.match(found.group(1))
        return f"({code.group(1)} …)" if code else "(…)"

    return _PROVIDER_WORDS.sub(code_only, str(reason))[:300]


class TransientError(DeliveryError):
    """Worth trying again later (timeouts, 5xx, 429, SMTP 4xx)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Will never succeed as it is (bad address, 4xx other than 429, auth refused)."""


class Channel(Protocol):
    """A way of delivering messages."""

    name: str

    def send(self, message: OutgoingMessage) -> Receipt:
        """Deliver ``message`` or raise TransientError / PermanentError."""
        ...

    def find_sent(self, message: OutgoingMessage) -> Receipt | None:
        """After a crash left a delivery's fate unknown: the receipt if the provider already
        has it (e.g. found in Sent Items by its key), else None. Channels that cannot tell
        return None (the outbox then sends again; see docs/outbox.md for that window)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
