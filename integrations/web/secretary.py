"""The secretary's pages: the plan by area, one action's history, meetings, the review queue.

Served only to a browser on the computer running Chaser (``create_app`` puts the router behind
:class:`integrations.web.access.LocalOnly`). Every page is a plain GET and changes nothing,
except ``POST /review/{reply_id}``, which applies or rejects a reply waiting for review. That
post is protected like the reply form's: it must come from this site (``Origin``/``Referer``)
and carry a CSRF token twice, in a ``SameSite=Strict`` cookie set by ``GET /review`` (a random
value) and in a hidden field (an HMAC of that value under the app's secret).

The queries and the view models live in ``workflows/`` (:mod:`workflows.views.plan_status`,
:mod:`workflows.views.action_history`, :mod:`workflows.views.meeting_status`,
:mod:`workflows.replies.review`); this module reads requests, calls them and renders templates.
"""

from __future__ import annotations

import colorsys
import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from integrations.web.outbox_pages import age_text
from integrations.web.pages import ErrorPage, NavItem, Pages, with_plan
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import PLAN_COOKIE, Access
from workflows.access.users import SignedIn
from workflows.board.panel import BOARD_NOTICES, board_panel
from workflows.calendar.cycles import LONDON, CyclesConfig
from workflows.calendar.meetings import Meeting
from workflows.digest.contents import Flag
from workflows.plan.mapping import plan_scale
from workflows.replies.review import (
    AnswerEdit,
    ReviewError,
    decide,
    decision_of,
    raw_bytes,
    review_items,
)
from workflows.replies.shown import Attachment, Shown, show_message
from workflows.store.models import Reply, Role
from workflows.views.action_history import action_history
from workflows.views.meeting_status import meeting_chase, meeting_chases
from workflows.views.outbox_status import outbox_counts
from workflows.views.plan_status import (
    PlanFilters,
    Status,
    excerpt,
    find_plan,
    plan_status,
    read_filters,
)

log = structlog.get_logger(__name__)

SECRETARY_NAVIGATION = [
    NavItem("/plan", "Plan"),
    NavItem("/meetings", "Meetings"),
    NavItem("/review", "Review queue"),
]

#: The flags the next digest would raise, by action ref, as of ``now``.
FlagsNow = Callable[[datetime], Mapping[str, Sequence[Flag]]]
#: The chased meetings around ``now`` (recent and coming), oldest first.
MeetingsNear = Callable[[datetime], Sequence[Meeting]]


@dataclass(frozen=True)
class PlanSite:
    """One plan's pages: its code, and what feeds them (the flags the plan's next digest would
    raise; its chased meetings around a moment)."""

    code: str
    flags: FlagsNow | None = None
    meetings: MeetingsNear | None = None
    #: The plan's calendar as it stands at a moment (the compliance page reads any period).
    cycles: Callable[[datetime], CyclesConfig] | None = None


MAX_REASON = 2000

#: GOV.UK tag modifier classes by meaning, for plans whose scale gives no colour.
MEANING_TAGS = {
    "complete": "govuk-tag--green",
    "on_track": "govuk-tag--turquoise",
    "at_risk": "govuk-tag--yellow",
    "off_track": "govuk-tag--red",
    "not_due": "govuk-tag--grey",
}


def tag_class(status: Status) -> str:
    """The GOV.UK tag class for a status: the plan's own colour when it has one (an "Amber"
    is yellow whatever it means), else the colour of its meaning; grey when never reported.
    Tags always carry the status in words, so colour is never the only cue."""
    if status.meaning is None:
        return "govuk-tag--grey"
    by_colour = _tag_for_colour(status.colour)
    if by_colour is not None:
        return by_colour
    return MEANING_TAGS.get(status.meaning, "govuk-tag--grey")


def _tag_for_colour(colour: str) -> str | None:
    """The nearest GOV.UK tag colour to a hex colour ("" is GOV.UK's default blue tag)."""
    if not re.fullmatch(r"[0-9A-Fa-f]{6}", colour or ""):
        return None
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4))
    hue, lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    if saturation < 0.25 or lightness < 0.1 or lightness > 0.95:
        return "govuk-tag--grey"
    degrees = hue * 360
    for limit, name in (
        (15, "govuk-tag--red"),
        (38, "govuk-tag--orange"),
        (70, "govuk-tag--yellow"),
        (165, "govuk-tag--green"),
        (195, "govuk-tag--turquoise"),
        (255, ""),  # GOV.UK's default tag is blue
        (290, "govuk-tag--purple"),
        (340, "govuk-tag--pink"),
        (361, "govuk-tag--red"),
    ):
        if degrees < limit:
            return name
    return None


def when(moment: datetime | None) -> str:
    """``Wed 17 Sep 2025, 15:05`` in London time; empty for None."""
    if moment is None:
        return ""
    local = moment.astimezone(LONDON)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def day(value: date | datetime | None) -> str:
    """``17 Sep 2025`` (a moment in London time); empty for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date()
    return f"{value.day} {value:%b %Y}"


def action_href(ref: str) -> str:
    return "/actions/" + quote(ref, safe="")


def meeting_href(key: str) -> str:
    return "/meetings/" + quote(key, safe=":")


def lines(text: str) -> list[str]:
    """Text as its lines, for showing line breaks without trusting the text as HTML."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def select_items(first: str, choices: Sequence[Any]) -> list[dict[str, str]]:
    """A select's items: "any" first (value ""), then each choice's value and text."""
    return [{"value": "", "text": first}] + [{"value": c.value, "text": c.text} for c in choices]


HELPERS: dict[str, Any] = {
    "select_items": select_items,
    "excerpt": excerpt,
    "tag_class": tag_class,
    "when": when,
    "day": day,
    "action_href": action_href,
    "meeting_href": meeting_href,
    "lines": lines,
    "plural": plural,
}


@dataclass(frozen=True)
class ReviewExtras:
    """What the review page shows of a reply beyond its :class:`ReviewItem`: the attachments
    the message carried (never opened), and the reader's verdict on each action, when the
    reader gives one (``Reply.parsed["answers"]``)."""

    attachments: tuple[Attachment, ...]
    answers: tuple[Mapping[str, Any], ...]
    #: The message as sent, when it is an email: its headers, text and quoted history.
    shown: Shown | None = None


def _review_extras(session: Session, items: Sequence[Any]) -> dict[int, ReviewExtras]:
    ids = [i.reply_id for i in items if not i.quarantined]
    if not ids:
        return {}
    out: dict[int, ReviewExtras] = {}
    for reply in session.exec(select(Reply).where(col(Reply.id).in_(ids))):
        assert reply.id is not None
        shown = show_message(raw_bytes(reply.raw) if reply.channel == "email" else b"")
        parsed = reply.parsed if isinstance(reply.parsed, Mapping) else {}
        answers = parsed.get("answers")
        out[reply.id] = ReviewExtras(
            shown.attachments,
            tuple(a for a in answers if isinstance(a, Mapping))
            if isinstance(answers, list)
            else (),
            shown if reply.channel == "email" else None,
        )
    return out


def answer_read(answer: Mapping[str, Any]) -> str:
    """What the reader made of one action: "Amber, forecast 2026-03-31: staff recruited"."""
    read = answer.get("read")
    if not isinstance(read, Mapping):
        return str(read or "")
    bits = [str(read.get("status_label") or read.get("status") or "")]
    if read.get("revised_date"):
        bits.append(f"forecast {read['revised_date']}")
    text = ", ".join(b for b in bits if b)
    narrative = " ".join(str(read.get("narrative") or "").split())
    return f"{text}: {narrative}" if text and narrative else text or narrative


HELPERS["answer_read"] = answer_read


def secretary_router(
    *,
    pages: Pages,
    engine: Engine,
    clock: Callable[[], datetime],
    plans: Sequence[PlanSite],
    access: Access,
    outbox_href: str = "/outbox",
) -> APIRouter:
    """The pages of every plan, each behind ``access``: a GET needs a role on the plan being
    shown (the request's current plan), a POST a secretary's. The plan page says how many
    messages were not delivered and how long the oldest has waited (``outbox_href`` is where
    the outbox pages are)."""
    router = APIRouter(dependencies=[Depends(access.page)])
    sites = {site.code: site for site in plans}

    def site_of(request: Request) -> PlanSite:
        return sites[request.state.plan]

    def no_plan(request: Request) -> ErrorPage:
        return ErrorPage(
            404,
            "There is no plan to show yet",
            f"The store has no plan called {request.state.plan}. Import it with `chaser plan "
            "import`, or check `plan:` in chasing.yaml.",
        )

    def render(
        request: Request, template: str, current: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        code = request.state.plan
        several = bool(getattr(request.state, "plans", []))

        def in_plan(url: str) -> str:
            return with_plan(url, code) if several else url

        response = pages.render(
            f"secretary/{template}",
            status,
            current=current,
            request=request,
            **{
                **HELPERS,
                "in_plan": in_plan,
                "action_href": lambda ref: in_plan(action_href(ref)),
                "meeting_href": lambda key: in_plan(meeting_href(key)),
            },
            **context,
        )
        if request.query_params.get("plan") == request.state.plan:  # chosen: remember it
            response.set_cookie(
                PLAN_COOKIE, request.state.plan, path="/", httponly=True, samesite="lax"
            )
        return response

    def plan_title(request: Request, session: Session) -> str:
        plan = find_plan(session, request.state.plan)
        return plan.title if plan is not None else ""

    def flags_now(request: Request) -> Mapping[str, Sequence[Flag]]:
        flags = site_of(request).flags
        return flags(clock()) if flags is not None else {}

    @router.get("/plan", response_class=HTMLResponse)
    def plan_page(request: Request) -> HTMLResponse:
        filters = read_filters(dict(request.query_params))
        has_flags = site_of(request).flags is not None
        if not has_flags:  # nothing is flagged without the digest's rules
            filters = dataclasses.replace(filters, flagged=False)
        with Session(engine) as session:
            found = plan_status(
                session, request.state.plan, filters=filters, flags=flags_now(request)
            )
            outbox = outbox_counts(session, plan_code=request.state.plan)
        if found is None:
            raise no_plan(request)
        return render(
            request,
            "plan.html",
            "/plan",
            plan=found,
            plan_title=found.plan_title,
            has_flags=has_flags,
            clear_needed=filters != PlanFilters(),
            outbox=outbox,
            outbox_age=age_text(outbox.oldest_pending_seconds(clock())),
            outbox_href=outbox_href,
        )

    @router.get("/actions/{ref:path}", response_class=HTMLResponse)
    def action_page(request: Request, ref: str) -> HTMLResponse:
        with Session(engine) as session:
            found = action_history(session, request.state.plan, ref, flags=flags_now(request))
            board = board_panel(
                session,
                request.state.plan,
                ref,
                chased_meetings(request) or (),
                clock().astimezone(LONDON).date(),
            )
        if found is None:
            raise ErrorPage(
                404,
                "Action not found",
                f"There is no action {ref[:40]} in the plan. Check the reference, or find the "
                "action on the plan page.",
            )
        user: SignedIn | None = getattr(request.state, "user", None)
        return render(
            request,
            "action.html",
            "/plan",
            action=found,
            plan_title=found.plan_title,
            board=board,
            may_record=user is not None and user.may(Role.SECRETARY, request.state.plan),
            csrf_field=CSRF_FIELD,
            board_notice=next((k for k in BOARD_NOTICES if request.query_params.get(k)), ""),
        )

    def chased_meetings(request: Request) -> Sequence[Meeting] | None:
        meetings = site_of(request).meetings
        return meetings(clock()) if meetings is not None else None

    @router.get("/meetings", response_class=HTMLResponse)
    def meetings_page(request: Request) -> HTMLResponse:
        with Session(engine) as session:
            found = meeting_chases(session, request.state.plan, chased_meetings(request))
            title = plan_title(request, session)
        if found is None:
            raise no_plan(request)
        return render(
            request,
            "meetings.html",
            "/meetings",
            meetings=found,
            plan_title=title,
            today=clock().date(),
        )

    @router.get("/meetings/{key}", response_class=HTMLResponse)
    def meeting_page(request: Request, key: str) -> HTMLResponse:
        with Session(engine) as session:
            found = meeting_chase(session, request.state.plan, key, chased_meetings(request))
            title = plan_title(request, session)
        if found is None:
            raise ErrorPage(
                404,
                "Meeting not found",
                "Chaser has no record of chasing for that meeting. The meetings page lists "
                "the meetings it has chased and will chase.",
            )
        return render(request, "meeting.html", "/meetings", meeting=found, plan_title=title)

    def review_page(
        request: Request,
        *,
        status: int = 200,
        error_list: Sequence[Mapping[str, str]] = (),
        edits: Mapping[int, Mapping[str, str]] | None = None,
        errors: Mapping[int, Mapping[str, str]] | None = None,
        banner: str = "",
    ) -> HTMLResponse:
        with Session(engine) as session:
            items = review_items(session, request.state.plan, now=clock())
            title = plan_title(request, session)
            extras = _review_extras(session, items)
            scale = plan_scale(find_plan(session, request.state.plan))
        return render(
            request,
            "review.html",
            "/review",
            status,
            items=items,
            extras=extras,
            scale_values=[
                (v.value, f"{v.value} ({v.label})" if v.label and v.label != v.value else v.value)
                for v in scale.values
            ]
            if scale
            else [],
            plan_title=title,
            csrf_field=CSRF_FIELD,
            error_list=list(error_list),
            edits=edits or {},
            errors=errors or {},
            banner=banner,
        )

    @router.get("/review", response_class=HTMLResponse)
    def review_queue(request: Request, decided: str = "") -> HTMLResponse:
        banner = ""
        if decided.isdigit() and len(decided) < 12:
            with Session(engine) as session:
                verdict = decision_of(session, int(decided))
            banner = f"Reply {int(decided)} {verdict}" if verdict else ""
        return review_page(request, banner=banner)

    def answer_edits(
        request: Request, number: int, fields: Mapping[str, str]
    ) -> dict[str, AnswerEdit]:
        """What the secretary changed in the form (``status:REF``, ``date:REF``,
        ``narrative:REF``) from what was read, per action; an unchanged field is no edit."""
        with Session(engine) as session:
            items = review_items(session, request.state.plan, now=clock())
        item = next((i for i in items if i.reply_id == number), None)
        edits: dict[str, AnswerEdit] = {}
        for u in item.read if item is not None else ():
            status, when, text = (
                fields.get(f"{name}:{u.ref}") for name in ("status", "date", "narrative")
            )
            edit = AnswerEdit(
                status=status if status is not None and status != u.status_label else None,
                forecast=when if when is not None and when.strip() != u.forecast else None,
                narrative=text
                if text is not None and " ".join(text.split()) != " ".join(u.narrative.split())
                else None,
            )
            if edit != AnswerEdit():
                edits[u.ref] = edit
        return edits

    def post_decision(
        request: Request, user: SignedIn, reply_id: str, fields: dict[str, str]
    ) -> Response:
        if not reply_id.isdigit():
            raise ErrorPage(404, "Reply not found", "Open the review queue again.")
        number = int(reply_id)
        decision = fields.get("decision", "")
        reason = fields.get("reason", "").strip()
        problems: dict[str, str] = {}
        if decision not in ("apply", "reject"):
            problems["decision"] = f"Select whether to apply or reject reply {number}"
        if len(reason) > MAX_REASON:
            problems["reason"] = f"The reason must be {MAX_REASON} characters or fewer"
        if not problems:
            try:
                decide(
                    engine,
                    number,
                    apply=decision == "apply",
                    by=user.label,
                    now=clock(),
                    reason=reason,
                    plan_code=request.state.plan,
                    edits=answer_edits(request, number, fields) if decision == "apply" else None,
                )
            except ReviewError as exc:
                log.info("review_decision_refused", reply=number)
                message = str(exc)
                return review_page(
                    request,
                    status=409,
                    error_list=[{"text": message[:1].upper() + message[1:]}],
                    edits={number: fields},
                )
            log.info("review_decided", reply=number, decision=decision)
            query = urlencode({"decided": number})
            url = f"/review?{query}"
            if getattr(request.state, "plans", []):
                url = with_plan(url, request.state.plan)
            return RedirectResponse(url, status_code=303)
        anchors = {"decision": f"decision-{number}", "reason": f"reason-{number}"}
        return review_page(
            request,
            status=400,
            error_list=[
                {"text": message, "href": f"#{anchors[name]}"} for name, message in problems.items()
            ],
            edits={number: fields},
            errors={number: problems},
        )

    may_decide = access.change(Role.SECRETARY)

    # (A closure cannot be named in an annotation FastAPI resolves: the guard is a dependency
    # of the route, and leaves the user on the request.)
    @router.post("/review/{reply_id}", dependencies=[Depends(may_decide)])
    async def decide_reply(request: Request, reply_id: str) -> Response:
        user: SignedIn = request.state.user
        form = await request.form()
        known = {CSRF_FIELD, "decision", "reason"}
        edited = ("status:", "date:", "narrative:")
        fields = {
            k: v
            for k, v in form.items()
            if isinstance(v, str) and (k in known or (k.startswith(edited) and len(k) < 80))
        }
        return await run_in_threadpool(post_decision, request, user, reply_id, fields)

    return router
