"""The secretary's pages: the plan by area, one action's history, meetings, the review queue.

Served only to a browser on the computer running Chaser (``create_app`` puts the router behind
:class:`integrations.web.access.LocalOnly`). Every page is a plain GET and changes nothing,
except ``POST /review/{reply_id}``, which applies or rejects a reply waiting for review. That
post is protected like the reply form's: it must come from this site (``Origin``/``Referer``)
and carry a CSRF token twice, in a ``SameSite=Strict`` cookie set by ``GET /review`` (a random
value) and in a hidden field (an HMAC of that value under the app's secret).

Every page costs the same however large the plan (issue 20): the plan, a meeting's leads and
the review queue come a page at a time (GOV.UK Frontend's pagination, ``?page=N``; a page past
the last is a 404 page that says so), the flags are read from the kept read model, and a GET
carries an ETag (a hash of the body) so a browser that holds the page gets a 304, only after
the access check.

The queries and the view models live in ``workflows/`` (:mod:`workflows.views.plan_status`,
:mod:`workflows.views.action_history`, :mod:`workflows.views.meeting_status`,
:mod:`workflows.replies.review`); this module reads requests, calls them and renders templates.
"""

from __future__ import annotations

import colorsys
import dataclasses
import re
import threading
from collections import OrderedDict
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
from integrations.web.pages import ErrorPage, NavItem, Pages, with_etag, with_plan
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import PLAN_COOKIE, Access
from workflows.access.users import SignedIn
from workflows.board.panel import BOARD_NOTICES, board_panel
from workflows.calendar.cycles import LONDON, CyclesConfig
from workflows.calendar.meetings import Meeting
from workflows.digest.contents import Flag
from workflows.plan.mapping import plan_scale
from workflows.replies.review import (
    REVIEW_PAGE_SIZE,
    AnswerEdit,
    ReviewError,
    decide,
    decision_of,
    pending_counts,
    raw_bytes,
    review_items,
    review_page_of,
)
from workflows.replies.shown import Attachment, Shown, show_message
from workflows.store.models import Plan, Reply, ReplyVerdict, Role
from workflows.views.action_history import action_history
from workflows.views.flag_model import FlagRules, plan_stamp, refresh, stored_flags
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

#: The chased meetings around ``now`` (recent and coming), oldest first.
MeetingsNear = Callable[[datetime], Sequence[Meeting]]


class KeptViews:
    """Views of a plan computed once and kept until the plan or its outbox changes
    (:func:`workflows.views.flag_model.plan_stamp`): a meeting's chase reads every lead's
    messages and every action asked about, which a large plan makes slow, while the page is
    opened far more often than a reply or a message changes it. The newest ``size`` are kept
    (per process); each is a frozen value, shared safely between requests."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, plan_code: str, key: tuple[Any, ...], compute: Any) -> Any:
        plan = find_plan(session, plan_code)
        if plan is None or plan.id is None:
            return compute()
        stamp = plan_stamp(session, plan.id)
        full = (plan_code, *key)
        with self._lock:
            kept = self._kept.get(full)
            if kept is not None and kept[0] == stamp:
                self._kept.move_to_end(full)
                return kept[1]
        value = compute()
        with self._lock:
            self._kept[full] = (stamp, value)
            self._kept.move_to_end(full)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value


@dataclass(frozen=True)
class PlanSite:
    """One plan's pages: its code, and what feeds them (the flags the plan's next digest would
    raise; its chased meetings around a moment)."""

    code: str
    flags: FlagRules | None = None
    meetings: MeetingsNear | None = None
    #: The plan's calendar as it stands at a moment (the compliance page reads any period).
    cycles: Callable[[datetime], CyclesConfig] | None = None


MAX_REASON = 2000
#: Leads on one page of a meeting's chase (a plan of thousands of actions asks hundreds).
LEADS_PAGE_SIZE = 50

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


def plan_url(params: Mapping[str, str], page: int) -> str:
    """The plan page ``page`` with the same filters (``params``, without ``page``)."""
    query = urlencode({**params, **({"page": str(page)} if page > 1 else {})})
    return "/plan" + (f"?{query}" if query else "")


def page_links(
    page: int, pages: int, href: Callable[[int], str], label: str = "Pages of actions"
) -> dict[str, Any] | None:
    """GOV.UK Frontend's pagination for page ``page`` of ``pages``: the first and last pages,
    the current one and its neighbours, ellipses between (its guidance); None for one page."""
    if pages <= 1:
        return None
    shown = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    items: list[dict[str, Any]] = []
    for number in shown:
        if items and number > items[-1].get("number", 0) + 1:
            items.append({"ellipsis": True})
        items.append({"number": number, "href": href(number), "current": number == page})
    links: dict[str, Any] = {"items": items, "landmarkLabel": label}
    if 1 < page <= pages:
        links["previous"] = {"href": href(page - 1)}
    if page < pages:
        links["next"] = {"href": href(page + 1)}
    return links


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
    ) -> Response:
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
        # the router's access check has run: a 304 goes only to someone who may see the page
        return with_etag(request, response) if request.method == "GET" else response

    def plan_title(request: Request, session: Session) -> str:
        plan = find_plan(session, request.state.plan)
        return plan.title if plan is not None else ""

    def kept_flags(
        request: Request, session: Session, plan: Plan | None
    ) -> Callable[[Sequence[str]], Mapping[str, Sequence[Flag]]] | None:
        """The kept flags of the refs a page shows, refreshed first if a change came since
        (so the "flagged" filter, a subquery of the kept rows, is current too); None when the
        plan has no digest rules (nothing is flagged)."""
        rules = site_of(request).flags
        if rules is None or plan is None or plan.id is None:
            return None
        refresh(session, plan.id, clock(), rules)
        plan_id = plan.id
        return lambda refs: stored_flags(session, plan_id, refs)

    @router.get("/plan", response_class=HTMLResponse)
    def plan_page(request: Request) -> Response:
        params = dict(request.query_params)
        filters = read_filters(params)
        has_flags = site_of(request).flags is not None
        if not has_flags:  # nothing is flagged without the digest's rules
            filters = dataclasses.replace(filters, flagged=False)
        number = params.get("page", "")
        page = int(number) if number.isdigit() and len(number) < 7 else 1
        # (not expired on commit: the flags' refresh commits, and the plan is read once)
        with Session(engine, expire_on_commit=False) as session:
            plan = find_plan(session, request.state.plan)
            found = (
                plan_status(
                    session,
                    plan,
                    filters=filters,
                    flags=kept_flags(request, session, plan),
                    page=page,
                )
                if plan is not None
                else None
            )
            outbox = outbox_counts(session, plan_code=request.state.plan)
        if found is None:
            raise no_plan(request)
        kept = {k: v for k, v in params.items() if k not in ("page", "plan")}

        def href(number: int) -> str:
            url = plan_url(kept, number)
            several = bool(getattr(request.state, "plans", []))
            return with_plan(url, request.state.plan) if several else url

        return render(
            request,
            "plan.html",
            "/plan",
            404 if found.out_of_range else 200,
            plan=found,
            plan_title=found.plan_title,
            has_flags=has_flags,
            clear_needed=filters != PlanFilters(),
            pagination=page_links(found.page, found.pages, href),
            first_page=href(1),
            last_page=href(found.pages),
            outbox=outbox,
            outbox_age=age_text(outbox.oldest_pending_seconds(clock())),
            outbox_href=outbox_href,
        )

    @router.get("/actions/{ref:path}", response_class=HTMLResponse)
    def action_page(request: Request, ref: str) -> Response:
        # (not expired on commit: the flags' refresh commits, and the plan is read once)
        with Session(engine, expire_on_commit=False) as session:
            plan = find_plan(session, request.state.plan)
            kept = kept_flags(request, session, plan)
            found = (
                action_history(session, plan, ref, flags=kept([ref]) if kept else None)
                if plan is not None
                else None
            )
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

    views = KeptViews()

    def chased_meetings(request: Request) -> Sequence[Meeting] | None:
        meetings = site_of(request).meetings
        return meetings(clock()) if meetings is not None else None

    @router.get("/meetings", response_class=HTMLResponse)
    def meetings_page(request: Request) -> Response:
        near = chased_meetings(request)
        with Session(engine) as session:
            found = views.get(
                session,
                request.state.plan,
                ("meetings", tuple(near) if near is not None else None),
                lambda: meeting_chases(session, request.state.plan, near),
            )
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
    def meeting_page(request: Request, key: str) -> Response:
        near = chased_meetings(request)
        with Session(engine) as session:
            found = views.get(
                session,
                request.state.plan,
                ("meeting", key, tuple(near) if near is not None else None),
                lambda: meeting_chase(session, request.state.plan, key, near),
            )
            title = plan_title(request, session)
        if found is None:
            raise ErrorPage(
                404,
                "Meeting not found",
                "Chaser has no record of chasing for that meeting. The meetings page lists "
                "the meetings it has chased and will chase.",
            )
        number = request.query_params.get("page", "")
        page = int(number) if number.isdigit() and len(number) < 7 else 1
        pages = max(1, -(-len(found.leads) // LEADS_PAGE_SIZE))

        def href(n: int) -> str:
            url = meeting_href(key) + (f"?{urlencode({'page': n})}" if n > 1 else "")
            several = bool(getattr(request.state, "plans", []))
            return with_plan(url, request.state.plan) if several else url

        return render(
            request,
            "meeting.html",
            "/meetings",
            404 if page > pages else 200,
            meeting=found,
            plan_title=title,
            leads=found.leads[(page - 1) * LEADS_PAGE_SIZE : page * LEADS_PAGE_SIZE],
            page=page,
            pages=pages,
            first=(page - 1) * LEADS_PAGE_SIZE + 1,
            pagination=page_links(page, pages, href, "Pages of leads"),
            first_page=href(1),
        )

    def review_page(
        request: Request,
        *,
        status: int = 200,
        error_list: Sequence[Mapping[str, str]] = (),
        edits: Mapping[int, Mapping[str, str]] | None = None,
        errors: Mapping[int, Mapping[str, str]] | None = None,
        banner: str = "",
    ) -> Response:
        number = request.query_params.get("page", "")
        page = int(number) if number.isdigit() and len(number) < 7 else 1
        with Session(engine) as session:
            if edits:  # a refused decision: the page that shows that reply, its error beside it
                page = review_page_of(session, request.state.plan, min(edits))
            waiting = pending_counts(session, request.state.plan)
            items = review_items(session, request.state.plan, now=clock(), page=page)
            plan = find_plan(session, request.state.plan)
            title = plan.title if plan is not None else ""
            extras = _review_extras(session, items)
            scale = plan_scale(plan)
        total = sum(waiting.values())
        pages = max(1, -(-total // REVIEW_PAGE_SIZE))

        def href(n: int) -> str:
            url = "/review" + (f"?{urlencode({'page': n})}" if n > 1 else "")
            several = bool(getattr(request.state, "plans", []))
            return with_plan(url, request.state.plan) if several else url

        if page > pages and status == 200:
            status = 404
        return render(
            request,
            "review.html",
            "/review",
            status,
            waiting=total,
            unreadable=waiting.get(str(ReplyVerdict.QUARANTINED), 0),
            page=page,
            pages=pages,
            pagination=page_links(page, pages, href, "Pages of the review queue"),
            first_page=href(1),
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
    def review_queue(request: Request, decided: str = "") -> Response:
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
            items = review_items(session, request.state.plan, now=clock(), reply_ids=[number])
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
