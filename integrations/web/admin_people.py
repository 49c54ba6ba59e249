"""``/people``: the admin's page for the people directory of the plan's partnership.

Everyone in it with their email, delegate and whether they are away or retired, and how many
actions each leads; a form to add someone, one page per person to change their details, see the
actions they lead and retire them. Every GET needs an admin of the plan and changes nothing;
every POST also needs the session's CSRF token and this site's origin (``Access.change``), and
is recorded under the admin's name (:mod:`workflows.plan.people_edit`, which ``chaser people``
uses too). Each problem is shown beside its field, and nothing is saved while there is one.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from integrations.spreadsheets import SpreadsheetError, read_text_csv
from integrations.web.pages import ErrorPage, Pages, with_plan
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import Access
from workflows.access.audit import record
from workflows.access.users import SignedIn
from workflows.plan.people import PeopleFileError, read_people_csv, upsert_people
from workflows.plan.people_edit import (
    LABELS,
    PersonEditError,
    PersonFields,
    add_person,
    edit_person,
    find_person,
    is_retired,
    led_actions,
    parse_day,
    preview_import,
    retire_person,
)
from workflows.store.models import Action, Person, Plan, Role

log = structlog.get_logger(__name__)

FORM_FIELDS = ("code", "name", "role", "email", "teams_id", "delegate_code", "away_until", "sro")
NO_PERSON = ErrorPage(
    404, "Person not found", "Go back to the people page and choose someone from the list."
)
SAVED = {
    "added": "{name} was added",
    "changed": "{name}'s details were saved",
    "unchanged": "Nothing was changed",
    "retired": "{name} was retired",
    "imported": "People imported: {name}",
}
#: The largest people CSV the page takes (its text goes back in the confirming form).
MAX_UPLOAD = 512 * 1024


def _fields_from(form: Mapping[str, str]) -> tuple[PersonFields, dict[str, str]]:
    """The form's fields as the directory takes them, and any that cannot be read."""
    problems: dict[str, str] = {}
    away_text = form.get("away_until", "").strip()
    away = parse_day(away_text) if away_text else None
    if away_text and away is None:
        problems["away_until"] = (
            f"Away until must be a date, like 2026-12-01 (you wrote {away_text[:20]!r})"
        )
    return (
        PersonFields(
            name=form.get("name", "").strip(),
            role=form.get("role", "").strip(),
            email=form.get("email", "").strip(),
            teams_id=form.get("teams_id", "").strip(),
            delegate_code=form.get("delegate_code", "").strip(),
            away_until=away,
            clear_away=not away_text,
            is_sro=form.get("sro") == "yes",
        ),
        problems,
    )


def _choices(people: Iterable[Person]) -> list[dict[str, str]]:
    return [{"value": p.code, "text": f"{p.name or p.code} ({p.code})"} for p in people]


def _messages(exc: PersonEditError) -> dict[str, str]:
    """Each problem as the page says it, by field."""
    out: dict[str, str] = {}
    for p in exc.problems:
        name = "code" if p.field == "code" else p.field
        label = LABELS.get(p.field, p.field)
        value = f" {p.value!r}" if p.value else ""
        out.setdefault(name, f"{label}{value} {p.message}")
    return out


def people_router(
    *, pages: Pages, engine: Engine, clock: Callable[[], datetime], access: Access
) -> APIRouter:
    async def admin_page(request: Request) -> SignedIn:
        # A GET of an admin page needs the admin role too (Access.page asks only for a viewer).
        return await run_in_threadpool(access.require, request, Role.ADMIN)

    router = APIRouter(dependencies=[Depends(admin_page)])
    may_change = access.change(Role.ADMIN)

    def in_plan(request: Request, url: str) -> str:
        return with_plan(url, request.state.plan) if getattr(request.state, "plans", []) else url

    def partnership(session: Session, request: Request) -> str:
        plan = session.exec(select(Plan).where(Plan.code == request.state.plan)).first()
        if plan is None:
            raise ErrorPage(
                404,
                "There is no plan to show yet",
                f"The store has no plan called {request.state.plan}. Import it first.",
            )
        return plan.partnership

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return pages.render(
            template,
            status,
            current="/people",
            request=request,
            in_plan=lambda url: in_plan(request, url),
            person_href=lambda code: in_plan(request, "/people/" + quote(code, safe="")),
            csrf_field=CSRF_FIELD,
            is_retired=is_retired,
            labels=LABELS,
            **context,
        )

    def directory(session: Session, where: str) -> tuple[list[Person], dict[int, int]]:
        people = list(
            session.exec(select(Person).where(Person.partnership == where).order_by(Person.code))
        )
        ids = [p.id for p in people if p.id is not None]
        leads: dict[int, int] = {}
        if ids:
            for person_id in session.exec(
                select(Action.accountable_id).where(
                    col(Action.accountable_id).in_(ids), col(Action.withdrawn).is_(False)
                )
            ):
                if person_id is not None:
                    leads[person_id] = leads.get(person_id, 0) + 1
        return people, leads

    def list_page(
        request: Request,
        *,
        status: int = 200,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
        banner: str = "",
        problems: list[str] | None = None,
    ) -> HTMLResponse:
        with Session(engine) as session:
            where = partnership(session, request)
            people, leads = directory(session, where)
        return render(
            request,
            "admin/people.html",
            status,
            people=people,
            leads=leads,
            values=values or {},
            errors=errors or {},
            error_list=[{"text": m, "href": f"#{f}"} for f, m in (errors or {}).items()],
            banner=banner,
            problems=problems or [],
            delegates=_choices(p for p in people if not is_retired(p)),
        )

    @router.get("/people", response_class=HTMLResponse)
    def people_page(request: Request, saved: str = "", name: str = "") -> HTMLResponse:
        banner = SAVED.get(saved, "").format(name=name[:80]) if saved else ""
        return list_page(request, banner=banner)

    def person_page(
        request: Request,
        code: str,
        *,
        status: int = 200,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
        banner: str = "",
    ) -> HTMLResponse:
        with Session(engine) as session:
            where = partnership(session, request)
            person = find_person(session, where, code)
            if person is None:
                raise NO_PERSON
            led = led_actions(session, person)
            others = [
                p
                for p in directory(session, where)[0]
                if p.code != person.code and not is_retired(p)
            ]
        current = {
            "name": person.name,
            "role": person.role,
            "email": person.email,
            "teams_id": person.teams_id,
            "delegate_code": person.delegate_code,
            "away_until": ""
            if person.away_until is None or is_retired(person)
            else person.away_until.isoformat(),
            "sro": "yes" if person.is_sro else "",
        }
        return render(
            request,
            "admin/person.html",
            status,
            person=person,
            led=[a for a in led if not a.withdrawn],
            values={**current, **(values or {})},
            errors=errors or {},
            error_list=[{"text": m, "href": f"#{f}"} for f, m in (errors or {}).items()],
            banner=banner,
            delegates=_choices(others),
        )

    @router.get("/people/{code}", response_class=HTMLResponse)
    def show_person(request: Request, code: str, saved: str = "") -> HTMLResponse:
        banner = SAVED.get(saved, "").format(name="Their") if saved else ""
        if saved == "changed":
            banner = "Their details were saved"
        return person_page(request, code, banner=banner)

    def done(request: Request, url: str, **query: str) -> Response:
        return RedirectResponse(in_plan(request, f"{url}?{urlencode(query)}"), status_code=303)

    def post_add(request: Request, user: SignedIn, form: dict[str, str]) -> Response:
        fields, unread = _fields_from(form)
        code = form.get("code", "").strip().upper()
        if unread:
            return list_page(request, status=400, values=form, errors=unread)
        with Session(engine) as session:
            try:
                person = add_person(
                    session, partnership(session, request), code, fields, by=user.label, now=clock()
                )
            except PersonEditError as exc:
                return list_page(request, status=400, values=form, errors=_messages(exc))
            session.commit()
            name = person.name
        log.info("person_added")
        return done(request, "/people", saved="added", name=name)

    def post_edit(request: Request, user: SignedIn, code: str, form: dict[str, str]) -> Response:
        fields, unread = _fields_from(form)
        if unread:
            return person_page(request, code, status=400, values=form, errors=unread)
        with Session(engine) as session:
            try:
                person, changed = edit_person(
                    session, partnership(session, request), code, fields, by=user.label, now=clock()
                )
            except PersonEditError as exc:
                return person_page(request, code, status=400, values=form, errors=_messages(exc))
            session.commit()
            person_code = person.code
        log.info("person_changed", fields=len(changed))
        return done(
            request,
            "/people/" + quote(person_code, safe=""),
            saved="changed" if changed else "unchanged",
        )

    def post_retire(request: Request, user: SignedIn, code: str, form: dict[str, str]) -> Response:
        delegate = form.get("successor", "").strip() or None
        with Session(engine) as session:
            try:
                person = retire_person(
                    session,
                    partnership(session, request),
                    code,
                    delegate_code=delegate,
                    by=user.label,
                    now=clock(),
                )
            except PersonEditError as exc:
                problems = _messages(exc)
                if "delegate_code" in problems:
                    problems["successor"] = problems.pop("delegate_code")
                return person_page(request, code, status=400, errors=problems)
            session.commit()
            name = person.name
        log.info("person_retired")
        return done(request, "/people", saved="retired", name=name)

    async def form_of(request: Request, known: tuple[str, ...]) -> dict[str, str]:
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str) and k in known}

    @router.post("/people", dependencies=[Depends(may_change)])
    async def add(request: Request) -> Response:
        form = await form_of(request, FORM_FIELDS)
        return await run_in_threadpool(post_add, request, request.state.user, form)

    def post_preview(request: Request, name: str, data: bytes) -> Response:
        if len(data) > MAX_UPLOAD:
            return list_page(
                request,
                status=400,
                errors={
                    "file": f"The file is larger than {MAX_UPLOAD // 1024} KB: a people CSV "
                    "is much smaller; check it is the right file"
                },
            )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            try:
                text = read_text_csv(path)
            except SpreadsheetError as exc:
                message = str(exc).replace(str(path), name)
                return list_page(request, status=400, errors={"file": message})
        try:
            records = read_people_csv(text, source=name)
        except PeopleFileError as exc:
            return list_page(
                request,
                status=400,
                errors={
                    "file": f"{name} has {len(exc.problems)} problem"
                    f"{'s' if len(exc.problems) != 1 else ''}; fix the file and choose it again"
                },
                problems=[str(p) for p in exc.problems],
            )
        with Session(engine) as session:
            changes = preview_import(session, partnership(session, request), records)
        return render(
            request,
            "admin/people_import.html",
            changes=changes,
            counts={
                k: sum(1 for c in changes if c.kind == k) for k in ("new", "changed", "unchanged")
            },
            source=name,
            csv_text=text,
        )

    def post_confirm(request: Request, user: SignedIn, form: dict[str, str]) -> Response:
        name = form.get("source", "people.csv")[:200]
        try:
            records = read_people_csv(form.get("csv", ""), source=name)
        except PeopleFileError as exc:
            return list_page(
                request,
                status=400,
                errors={"file": f"{name} could not be read again; choose the file again"},
                problems=[str(p) for p in exc.problems],
            )
        now = clock()
        with Session(engine) as session:
            result = upsert_people(
                session, records, now=now, partnership=partnership(session, request)
            )
            record(
                session,
                "people_imported",
                now=now,
                by=user.label,
                reason=f"{name}: {result.created} added, {result.updated} changed",
            )
            session.commit()
        log.info("people_imported_from_page", created=result.created, updated=result.updated)
        return done(
            request,
            "/people",
            saved="imported",
            name=f"{result.created} added, {result.updated} changed, {result.unchanged} unchanged",
        )

    @router.post("/people/import", dependencies=[Depends(may_change)])
    async def import_preview(request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await run_in_threadpool(
                lambda: list_page(
                    request, status=400, errors={"file": "Choose a CSV file of people"}
                )
            )
        name = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(upload.filename).name)[:100] or "people.csv"
        data = await upload.read(MAX_UPLOAD + 1)
        return await run_in_threadpool(post_preview, request, name, data)

    @router.post("/people/import/confirm", dependencies=[Depends(may_change)])
    async def import_confirm(request: Request) -> Response:
        form = await form_of(request, ("csv", "source"))
        return await run_in_threadpool(post_confirm, request, request.state.user, form)

    @router.post("/people/{code}", dependencies=[Depends(may_change)])
    async def edit(request: Request, code: str) -> Response:
        form = await form_of(request, FORM_FIELDS)
        return await run_in_threadpool(post_edit, request, request.state.user, code, form)

    @router.post("/people/{code}/retire", dependencies=[Depends(may_change)])
    async def retire(request: Request, code: str) -> Response:
        form = await form_of(request, ("successor",))
        return await run_in_threadpool(post_retire, request, request.state.user, code, form)

    return router
