"""A stored reply shown as its sender wrote it: its text (an HTML-only message rendered to plain
text, never as markup) and the attachments it carried (name, type, size; never opened).

Its headers (From, To, Date, Subject) come too, and the quoted history under the new text is
kept apart (``Shown.quoted``), to be shown set apart from it.

For the review queue (``chaser replies review`` and the secretary's page), so the secretary
reads the message itself before applying or rejecting what Chaser read from it. Pure: a raw
message in, a :class:`Shown` out. Messages over the reader's limits are not parsed again.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message

from workflows.replies.parsing import (
    _CUTS,
    MAX_MULTIPARTS,
    MAX_TEXT_CHARS,
    _HtmlText,
    _tidy,
    clean_text,
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
    #: The message's own headers, decoded: From, To, Date, Subject (those it has).
    headers: tuple[tuple[str, str], ...] = ()
    #: The quoted history under the new text (earlier messages), shown apart; "" when none.
    quoted: str = ""


SHOWN_HEADERS = ("From", "To", "Date", "Subject")


class _WholeHtml(_HtmlText):
    """The HTML rendered to text, all of it: where the reader stops at the quoted history, this
    notes where the history starts and goes on."""

    def __init__(self) -> None:
        super().__init__()
        self.quote_at: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        if self.stopped:
            self.stopped = False
            if self.quote_at is None:
                self.quote_at = len(self.out)
            self._break(2)


def _html_parts(html: str) -> tuple[str, str]:
    """(new text, quoted history) of an HTML body, as plain text."""
    parser = _WholeHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is belt and braces
        pass
    at = len(parser.out) if parser.quote_at is None else parser.quote_at
    return _tidy("".join(parser.out[:at])), _tidy("".join(parser.out[at:]))


def _text_parts(text: str) -> tuple[str, str]:
    """(new text, quoted history) of a plain-text body: the history starts at the first
    "On ... wrote:", "-----Original Message-----", "From: ... Sent:" or "> " line."""
    positions = [m.start() for rx in _CUTS if (m := rx.search(text))]
    offset = 0
    for line in text.split("\n"):
        if line.lstrip().startswith(">"):
            positions.append(offset)
            break
        offset += len(line) + 1
    at = min(positions, default=len(text))
    return text[:at].strip(), text[at:].strip()


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except Exception:  # a malformed encoded word: shown as it came
        text = str(value)
    return " ".join(clean_text(text).split())[:500]


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
    if plain is not None:
        text, quoted = _text_parts(clean_text(plain.replace("\r\n", "\n")))
    elif html is not None:
        text, quoted = _html_parts(html)
    else:
        text, quoted = fallback, ""
    text, quoted = clean_text(text).strip(), clean_text(quoted).strip()
    headers = tuple((n, v) for n in SHOWN_HEADERS if (v := _header(msg, n)))
    return Shown(
        text[:SHOWN_CHARS],
        from_html,
        len(text) > SHOWN_CHARS or len(quoted) > SHOWN_CHARS,
        tuple(attachments),
        headers,
        quoted[:SHOWN_CHARS],
    )
