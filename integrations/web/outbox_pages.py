"""The outbox's pages: the store's messages by state, and the demo's captured mail.

:func:`delivery_router` serves, for signed-in users of a plan, every message Chaser queued for
that plan: waiting, failed and being tried again, sent, and dead (given up on), each with its
attempts and why it failed; a secretary or admin may send a dead one again (``POST
/outbox/{id}/retry``: role, CSRF token and same origin checked, recorded under their name). Under
``chaser run`` it is ``/outbox``; the demo, whose ``/outbox`` is its mail sink, serves it at
``/deliveries``.

:func:`outbox_router` is the demo's captured mail (its built-in SMTP sink is the mailbox). A
message is shown as text, with its links clickable, its attachments downloadable and its HTML
version on a page of its own that may neither run script nor load anything.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from integrations.web.pages import ErrorPage, Pages, long_date, with_plan
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import Access
from notifications.channel import OutgoingMessage
from notifications.outbox import requeue
from workflows.access.audit import record
from workflows.access.users import SignedIn
from workflows.calendar.meetings import meeting_label
from workflows.store.models import Role
from workflows.views.outbox_status import (
    SHOWN_STATES,
    STATE_TEXT,
    outbox_counts,
    outbox_lines,
    outbox_message,
)

log = structlog.get_logger(__name__)

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


NO_SUCH_DELIVERY = ErrorPage(
    404, "Message not found", "Go back to the outbox and choose a message from the list."
)
#: The tag colour of each state, beside its name in words.
STATE_TAGS = {
    "dead": "govuk-tag--red",
    "failed": "govuk-tag--orange",
    "waiting": "govuk-tag--grey",
    "sending": "govuk-tag--blue",
    "sent": "govuk-tag--green",
}


def age_text(seconds: int | None) -> str:
    """``3 minutes``, ``5 hours``, ``2 days``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} hours"
    return f"{seconds // 86400} days"


def delivery_router(
    *,
    pages: Pages,
    engine: Engine,
    clock: Callable[[], datetime],
    access: Access,
    prefix: str = "/outbox",
) -> APIRouter:
    """The plan's outbox at ``prefix`` (list, one message, and sending a dead one again)."""
    router = APIRouter(dependencies=[Depends(access.page)])

    def in_plan(request: Request, url: str) -> str:
        return with_plan(url, request.state.plan) if getattr(request.state, "plans", []) else url

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        user: SignedIn | None = getattr(request.state, "user", None)
        return pages.render(
            template,
            status,
            current=prefix,
            request=request,
            prefix=prefix,
            in_plan=lambda url: in_plan(request, url),
            may_retry=user is not None and user.may(Role.SECRETARY, request.state.plan),
            csrf_field=CSRF_FIELD,
            state_tags=STATE_TAGS,
            meeting_label=meeting_label,
            **context,
        )

    @router.get(prefix, response_class=HTMLResponse)
    def listing(request: Request, state: str = "", retried: str = "") -> HTMLResponse:
        if state and state not in SHOWN_STATES:
            state = ""
        now = clock()
        with Session(engine) as session:
            found = outbox_lines(session, request.state.plan, state)
            counts = outbox_counts(session, None)
        if found is None:
            raise ErrorPage(
                404,
                "There is no plan to show yet",
                f"The store has no plan called {request.state.plan}. Import it with `chaser plan "
                "import`.",
            )
        lines, by_state = found
        banner = ""
        if retried.isdigit() and len(retried) < 12:
            banner = (
                f"Message {int(retried)} will be sent again at the next tick (within a minute)."
            )
        return render(
            request,
            "outbox/deliveries.html",
            lines=lines,
            by_state=by_state,
            total=sum(by_state.values()),
            state=state,
            states=[(s, STATE_TEXT[s]) for s in SHOWN_STATES],
            oldest_age=age_text(counts.oldest_pending_seconds(now)),
            banner=banner,
        )

    def find(request: Request, delivery_id: str) -> tuple[Any, Any]:
        if not delivery_id.isdigit() or len(delivery_id) > 12:
            raise NO_SUCH_DELIVERY
        with Session(engine) as session:
            found = outbox_message(session, request.state.plan, int(delivery_id))
        if found is None:
            raise NO_SUCH_DELIVERY
        return found

    @router.get(prefix + "/{delivery_id}", response_class=HTMLResponse)
    def message_page(request: Request, delivery_id: str) -> HTMLResponse:
        line, row = find(request, delivery_id)
        message = OutgoingMessage.from_json(row.payload)
        return render(
            request,
            "outbox/delivery.html",
            line=line,
            message=message,
            body=linkify(message.text),
        )

    def post_retry(request: Request, user: SignedIn, delivery_id: str) -> Response:
        line, _ = find(request, delivery_id)
        if line.state != "dead":
            raise ErrorPage(
                409,
                "This message is not waiting to be sent again",
                f"Message {line.id} is {line.state_text.lower()}: only a message that was not "
                "delivered can be sent again. Nothing was changed.",
            )
        now = clock()
        with engine.begin() as conn:
            moved = requeue(conn, [line.id], now=now)
        with Session(engine) as session:
            record(
                session,
                "outbox_retry",
                now=now,
                by=user.label,
                email=user.email,
                reason=f"{moved} sent again: key {line.key!r}",
            )
            session.commit()
        log.info("outbox_retried", delivery=line.id, moved=moved)
        return RedirectResponse(
            in_plan(request, f"{prefix}?state=dead&retried={line.id}"), status_code=303
        )

    may_retry = access.change(Role.SECRETARY)

    @router.post(prefix + "/{delivery_id}/retry", dependencies=[Depends(may_retry)])
    async def retry(request: Request, delivery_id: str) -> Response:
        user: SignedIn = request.state.user
        return await run_in_threadpool(post_retry, request, user, delivery_id)

    return router
