"""The secretary's board records. From the action page: a completion date the board agreed
again (with the meeting and the reason) and a milestone marked done. On ``/board``: each meeting
held, and for one meeting who attended, its decisions and the actions they set (typed in, or a
CSV file). Each POST needs the secretary role and the session's CSRF token, is recorded under
the signed-in user's name in the history and the audit log, and returns to its page. The domain
is :mod:`workflows.board`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from integrations.web.pages import ErrorPage, NavItem, Pages, with_plan
from integrations.web.secretary import PlanSite
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import Access
from workflows.access.users import SignedIn
from workflows.board.baselines import find_action, read_due, rebaseline
from workflows.board.compliance import compliance
from workflows.board.decisions import (
    DecisionInput,
    NewAction,
    read_decisions_csv,
    record_attendance,
    record_decisions,
)
from workflows.board.errors import BoardInputError
from workflows.board.milestones import secretary_marks_done
from workflows.board.panel import MeetingChoice, meeting_board
from workflows.calendar.cycles import LONDON
from workflows.store.models import Role

BOARD_NAVIGATION = [NavItem("/board", "Board")]
MAX_CSV = 1_000_000

log = structlog.get_logger(__name__)


def board_router(
    *,
    pages: Pages,
    engine: Engine,
    clock: Callable[[], datetime],
    access: Access,
    sites: Sequence[PlanSite],
) -> APIRouter:
    """``sites`` give each plan's chased meetings around a moment and its calendar."""
    router = APIRouter()
    by_code = {site.code: site for site in sites}
    may_record = access.change(Role.SECRETARY)

    def in_plan(request: Request, url: str) -> str:
        return with_plan(url, request.state.plan) if getattr(request.state, "plans", []) else url

    def held(request: Request) -> list[MeetingChoice]:
        site = by_code.get(request.state.plan)
        near = site.meetings if site else None
        today = clock().astimezone(LONDON).date()
        found = sorted(
            (m for m in (near(clock()) if near else ()) if m.goes_ahead and m.date <= today),
            key=lambda m: m.date,
            reverse=True,
        )
        return [MeetingChoice(m.key, f"{m.group_name or m.group}, {m.date.day} {m.date:%b %Y}")
                for m in found]  # fmt: skip

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        user: SignedIn | None = getattr(request.state, "user", None)
        return pages.render(
            f"secretary/{template}",
            status,
            current="/board",
            request=request,
            in_plan=lambda url: in_plan(request, url),
            may_record=user is not None and user.may(Role.SECRETARY, request.state.plan),
            csrf_field=CSRF_FIELD,
            when=lambda at: f"{at.astimezone(LONDON):%a %-d %b %Y, %H:%M}",
            **context,
        )

    @router.get("/board", response_class=HTMLResponse, dependencies=[Depends(access.page)])
    def board_page(request: Request) -> HTMLResponse:
        return render(request, "board_meetings.html", meetings=held(request))

    def meeting_page(
        request: Request, key: str, status: int = 200, error: str = "", field: str = ""
    ) -> HTMLResponse:
        with Session(engine) as session:
            found = meeting_board(session, request.state.plan, key)
        if found is None:
            raise ErrorPage(404, "There is no plan to show yet", "Import the plan first.")
        return render(
            request,
            "board_meeting.html",
            status,
            meeting=found,
            error=error,
            error_field=field,
            notice=next(
                (k for k in ("attendance", "decision", "csv") if request.query_params.get(k)), ""
            ),
        )

    @router.get(
        "/board/compliance", response_class=HTMLResponse, dependencies=[Depends(access.page)]
    )
    def compliance_page(request: Request, start: str = "", end: str = "") -> HTMLResponse:
        site = by_code.get(request.state.plan)
        if site is None or site.cycles is None:
            raise ErrorPage(
                404,
                "The meeting calendar is not configured",
                "The compliance record needs the plan's cycles.yaml; see docs/cycles.md.",
            )
        now = clock()
        today = now.astimezone(LONDON).date()
        try:
            last = date.fromisoformat(end) if end else today
            first = date.fromisoformat(start) if start else last - timedelta(days=182)
        except ValueError:
            raise ErrorPage(
                400,
                "That is not a period",
                f"From {start[:10]!r} to {end[:10]!r}: expected two dates such as 2025-09-01; "
                "correct them in the address.",
            ) from None
        with Session(engine) as session:
            try:
                found = compliance(
                    session, request.state.plan, site.cycles(now), start=first, end=last, now=now
                )
            except LookupError as exc:
                raise ErrorPage(404, "There is no plan to show yet", str(exc)) from None
        return render(request, "board_compliance.html", compliance=found)

    @router.get(
        "/board/meetings/{key}", response_class=HTMLResponse, dependencies=[Depends(access.page)]
    )
    def one_meeting(request: Request, key: str) -> HTMLResponse:
        return meeting_page(request, key)

    def to_meeting(request: Request, key: str, done: str) -> Response:
        url = in_plan(request, f"/board/meetings/{quote(key, safe=':')}?{done}=1")
        return RedirectResponse(url, status_code=303)

    def post_attendance(request: Request, user: SignedIn, key: str, f: dict[str, str]) -> Response:
        try:
            with Session(engine) as session:
                record_attendance(
                    session,
                    request.state.plan,
                    key,
                    present=f.get("present", "").splitlines(),
                    apologies=f.get("apologies", "").splitlines(),
                    by=user.label,
                    now=clock(),
                )
                session.commit()
        except BoardInputError as e:
            return meeting_page(request, key, 400, e.message, e.field)
        return to_meeting(request, key, "attendance")

    def post_decision(request: Request, user: SignedIn, key: str, f: dict[str, str]) -> Response:
        try:
            action = None
            if any(f.get(k, "").strip() for k in ("ref", "owner", "due")):
                action = NewAction(
                    f.get("ref", ""), f.get("owner", ""), read_due("due", f.get("due", "")),
                    f.get("title", ""),
                )  # fmt: skip
            with Session(engine) as session:
                record_decisions(
                    session,
                    request.state.plan,
                    key,
                    [DecisionInput(f.get("decision", "")[:5000], action)],
                    by=user.label,
                    now=clock(),
                )
                session.commit()
        except BoardInputError as e:
            return meeting_page(request, key, 400, e.message, e.field)
        return to_meeting(request, key, "decision")

    def post_csv(request: Request, user: SignedIn, key: str, data: bytes) -> Response:
        try:
            if len(data) > MAX_CSV:
                raise BoardInputError("file", "file: over 1 MB. Expected a CSV of decisions.")
            found = read_decisions_csv(data)
            with Session(engine) as session:
                record_decisions(
                    session, request.state.plan, key, found, by=user.label, now=clock()
                )
                session.commit()
        except (BoardInputError, UnicodeDecodeError) as e:
            message = e.message if isinstance(e, BoardInputError) else (
                "file: it is not UTF-8 text. Expected a CSV file; save it as CSV UTF-8."
            )  # fmt: skip
            return meeting_page(request, key, 400, message, "file")
        return to_meeting(request, key, "csv")

    @router.post("/board/meetings/{key}/attendance", dependencies=[Depends(may_record)])
    async def attendance(request: Request, key: str) -> Response:
        fields = await fields_of(request)
        return await run_in_threadpool(post_attendance, request, request.state.user, key, fields)

    @router.post("/board/meetings/{key}/decision", dependencies=[Depends(may_record)])
    async def decision(request: Request, key: str) -> Response:
        fields = await fields_of(request)
        return await run_in_threadpool(post_decision, request, request.state.user, key, fields)

    @router.post("/board/meetings/{key}/decisions.csv", dependencies=[Depends(may_record)])
    async def decisions_csv(request: Request, key: str) -> Response:
        form = await request.form()
        upload = form.get("file")
        data = await upload.read(MAX_CSV + 1) if isinstance(upload, UploadFile) else b""
        return await run_in_threadpool(post_csv, request, request.state.user, key, data)

    def back(request: Request, ref: str, done: str) -> Response:
        url = f"/actions/{quote(ref, safe='')}?{done}=1#board"
        if getattr(request.state, "plans", []):
            url = with_plan(url, request.state.plan)
        return RedirectResponse(url, status_code=303)

    def refused(ref: str, error: BoardInputError) -> ErrorPage:
        return ErrorPage(
            400,
            "Nothing was recorded",
            f"{error.message} Go back to action {ref[:40]} and correct it.",
        )

    def post_baseline(request: Request, user: SignedIn, fields: dict[str, str]) -> Response:
        ref = fields.get("ref", "")
        now = clock()
        try:
            with Session(engine) as session:
                due = read_due("due", fields.get("due", ""))
                rebaseline(
                    session,
                    request.state.plan,
                    ref,
                    due,
                    meeting_key=fields.get("meeting", ""),
                    reason=fields.get("reason", "")[:2000],
                    by=user.label,
                    now=now,
                )
                session.commit()
        except BoardInputError as e:
            raise refused(ref, e) from None
        log.info("rebaselined", plan=request.state.plan, ref=ref)
        return back(request, ref, "rebaselined")

    def post_milestone(request: Request, user: SignedIn, fields: dict[str, str]) -> Response:
        ref = fields.get("ref", "")
        now = clock()
        try:
            with Session(engine) as session:
                action = find_action(session, request.state.plan, ref)
                raw = fields.get("milestone", "").strip()
                if not raw.isdigit():
                    raise BoardInputError(
                        "milestone",
                        f"milestone: {raw[:20]!r} is not a milestone number. Expected one of "
                        "the open milestones listed; choose one.",
                    )
                secretary_marks_done(session, action, int(raw), by=user.label, now=now)
                session.commit()
        except BoardInputError as e:
            raise refused(ref, e) from None
        log.info("milestone_done", plan=request.state.plan, ref=ref)
        return back(request, ref, "milestone_done")

    async def fields_of(request: Request) -> dict[str, str]:
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    @router.post("/board/baseline", dependencies=[Depends(may_record)])
    async def baseline(request: Request) -> Response:
        fields = await fields_of(request)
        return await run_in_threadpool(post_baseline, request, request.state.user, fields)

    @router.post("/board/milestone", dependencies=[Depends(may_record)])
    async def milestone(request: Request) -> Response:
        fields = await fields_of(request)
        return await run_in_threadpool(post_milestone, request, request.state.user, fields)

    return router
