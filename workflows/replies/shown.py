"""A stored reply shown as its sender wrote it: its text (an HTML-only message rendered to plain
text, never as markup) and the attachments it carried (name, type, size; never opened).

For the review queue (``chaser replies review`` and the secretary's page), so the secretary
reads the message itself before applying or rejecting what Chaser read from it. Pure: a raw
message in, a :class:`Shown` out. Messages over the reader's limits are not parsed again.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from email.message import Message

from workflows.replies.parsing import (
    MAX_MULTIPARTS,
    MAX_TEXT_CHARS,
    clean_text,
    html_to_text,
    message_over_limits,
)

#: How much of the text is shown (the rest is said to be cut).
SHOWN_CHARS = 6000


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int  # bytes, decoded

    @property
    def size_text(self) -> str:
        if self.size < 1024:
            return f"{self.size} bytes"
        if self.size < 1024 * 1024:
            return f"{self.size / 1024:.0f} KB"
        return f"{self.size / 1024 / 1024:.1f} MB"


@dataclass(frozen=True)
class Shown:
    text: str
    from_html: bool  # the message had no plain-text part: its HTML was rendered to text
    cut: bool  # the text is longer than what is shown
    attachments: tuple[Attachment, ...]


def _decoded(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _as_text(part: Message) -> str:
    data = _decoded(part)[: MAX_TEXT_CHARS * 4]
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return data.decode("utf-8", errors="replace")


def show_message(raw: bytes, *, fallback: str = "") -> Shown:
    """The message's text and attachments; ``fallback`` (the text as read) when the message
    cannot be parsed again (over the limits, or not an email at all)."""
    if not raw or message_over_limits(raw) is not None:
        return Shown(clean_text(fallback)[:SHOWN_CHARS], False, len(fallback) > SHOWN_CHARS, ())
    msg = email.message_from_bytes(raw)
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for count, part in enumerate(msg.walk()):
        if count > MAX_MULTIPARTS:
            break
        if part.is_multipart():
            continue
        name = part.get_filename()
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        ctype = part.get_content_type()
        if name or disposition == "attachment":
            attachments.append(
                Attachment(clean_text(name or "(no name)")[:200], ctype, len(_decoded(part)))
            )
        elif ctype == "text/plain" and plain is None:
            plain = _as_text(part)
        elif ctype == "text/html" and html is None:
            html = _as_text(part)
    from_html = plain is None and html is not None
    text = plain if plain is not None else html_to_text(html) if html is not None else fallback
    text = clean_text(text).strip()
    return Shown(text[:SHOWN_CHARS], from_html, len(text) > SHOWN_CHARS, tuple(attachments))
