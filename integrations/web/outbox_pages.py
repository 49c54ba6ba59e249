"""``/outbox``: the demo's captured mail, browsable like a webmail inbox.

Only ``chaser demo`` mounts these pages (its built-in SMTP sink is the mailbox). A message is
shown as text, with its links clickable, its attachments downloadable and its HTML version on a
page of its own that may neither run script nor load anything.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from integrations.web.pages import ErrorPage, Pages, long_date

#: The HTML version of a message may style itself and show inline images, and nothing else.
HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
NO_SUCH_MESSAGE = ErrorPage(404, "Message not found", "Go back to the outbox and choose a message.")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True)
class CapturedMessage:
    number: int  # 1, 2, … in arrival order
    received_at: datetime
    raw: bytes

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class CapturedMail(Protocol):
    def messages(self) -> Sequence[CapturedMessage]: ...


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MessageView:
    number: int
    received_at: datetime
    sender: str
    to: str
    cc: str
    subject: str
    text: str
    has_html: bool
    attachments: tuple[Attachment, ...]


def view_of(captured: CapturedMessage) -> MessageView:
    message = captured.parsed()
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = tuple(
        Attachment(
            i,
            part.get_filename() or f"attachment-{i}",
            part.get_content_type(),
            len(part.get_payload(decode=True) or b""),
        )
        for i, part in enumerate(message.iter_attachments(), start=1)
    )
    return MessageView(
        number=captured.number,
        received_at=captured.received_at,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        cc=str(message.get("Cc", "")),
        subject=str(message.get("Subject", "")),
        text=text_part.get_content() if text_part is not None else "",
        has_html=html_part is not None,
        attachments=attachments,
    )


def linkify(text: str) -> Markup:
    """The text, escaped, with each web address made a link."""
    out, last = [], 0
    for found in _URL.finditer(text):
        url = found.group(0).rstrip(".,;:")
        out.append(escape(text[last : found.start()]))
        out.append(Markup('<a class="govuk-link" href="{0}">{0}</a>').format(url))
        last = found.start() + len(url)
    out.append(escape(text[last:]))
    return Markup("").join(out)


def outbox_router(*, pages: Pages, mailbox: CapturedMail) -> APIRouter:
    router = APIRouter()

    def find(number: int) -> CapturedMessage:
        found = next((m for m in mailbox.messages() if m.number == number), None)
        if found is None:
            raise NO_SUCH_MESSAGE
        return found

    @router.get("/outbox", response_class=HTMLResponse)
    def inbox(to: str = "") -> HTMLResponse:
        views = [view_of(m) for m in reversed(mailbox.messages())]
        shown = [v for v in views if to.lower() in v.to.lower()] if to else views
        return pages.render(
            "outbox/list.html", current="/outbox", messages=shown, total=len(views), to=to
        )

    @router.get("/outbox/{number}", response_class=HTMLResponse)
    def message(number: int) -> HTMLResponse:
        view = view_of(find(number))
        return pages.render(
            "outbox/message.html",
            current="/outbox",
            message=view,
            body=linkify(view.text),
            received=long_date(view.received_at),
        )

    @router.get("/outbox/{number}/html")
    def message_html(number: int) -> Response:
        part = find(number).parsed().get_body(preferencelist=("html",))
        if part is None:
            raise NO_SUCH_MESSAGE
        return HTMLResponse(part.get_content(), headers={"Content-Security-Policy": HTML_CSP})

    @router.get("/outbox/{number}/raw")
    def message_raw(number: int) -> Response:
        return Response(
            find(number).raw,
            media_type="message/rfc822",
            headers={"Content-Disposition": f'attachment; filename="message-{number}.eml"'},
        )

    @router.get("/outbox/{number}/attachments/{index}")
    def attachment(number: int, index: int) -> Response:
        parts = list(find(number).parsed().iter_attachments())
        if not 1 <= index <= len(parts):
            raise NO_SUCH_MESSAGE
        part = parts[index - 1]
        name = (part.get_filename() or f"attachment-{index}").replace('"', "")
        return Response(
            part.get_payload(decode=True) or b"",
            media_type=part.get_content_type(),
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
