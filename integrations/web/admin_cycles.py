"""``/cycles``: the admin's page for the plan's ``cycles.yaml``, with a preview before saving.

The page shows the file as it is, its meetings for the next 12 months (each papers deadline,
the days each chase step and the digest go out, bank holidays marked) and the versions saved
before. An admin moves, cancels or adds a meeting, adds or removes a recess, edits a group's
members and mandatory invitees, or edits the YAML itself: each change makes a *draft*
(``POST /cycles/preview``), validated as ``chaser cycles validate`` validates the file, each
problem beside its field, and previewed. Nothing is written until ``POST /cycles/save``.

Saving writes the draft (comments kept: :mod:`workflows.calendar.cycles_edit`) and keeps the
text it replaced in ``config_version`` with a diff, under the admin's name. Every form carries
the SHA-256 of the file as it was opened: if the file changed since (another admin saved, or
someone edited it on the server), nothing is written, the admin is told, and their draft is
shown with what differs, so nothing is lost. The running service re-reads the file at its
next tick (:mod:`chaser.config_reload`). GETs need an admin and change nothing; POSTs also need
the session's CSRF token (``Access.change``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from integrations.web.pages import ErrorPage, Pages, with_plan
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import Access
from workflows.access.audit import record
from workflows.access.users import SignedIn
from workflows.calendar import cycles_edit as edit
from workflows.calendar.cycles import LONDON, CyclesConfig, CyclesConfigError, parse_cycles
from workflows.chasing.config import ChasingConfig, ChasingConfigError, load_chasing
from workflows.digest.config import DigestConfig, DigestConfigError, load_digest_config
from workflows.store.admin_models import ConfigVersion
from workflows.store.models import Role
from workflows.views.cycles_preview import PreviewRow, bank_holidays_between, preview

log = structlog.get_logger(__name__)

FILE = "cycles.yaml"
#: The largest cycles.yaml the page takes (the shipped one is about 15 KB).
MAX_TEXT = 256 * 1024
MONTHS = 12
FIELDS = (
    "sha",
    "draft",
    "op",
    "group",
    "kind",
    "slot",
    "moved_to",
    "time",
    "note",
    "index",
    "recess_name",
    "recess_from",
    "recess_to",
    "recess_groups",
    "members",
    "mandatory_invitees",
)


@dataclass(frozen=True)
class PlanConfigFiles:
    """Where one plan's admin-edited files are (the composition root says)."""

    cycles: Path
    chasing: Path | None = None
    digest: Path | None = None
    #: The mapping files a plan upload may be read through (``config/mappings``).
    mappings: Path | None = None


@dataclass
class Draft:
    """What the page shows: the text (saved or not), its problems by field, its preview."""

    text: str
    sha: str
    errors: dict[str, str]
    problems: list[str]
    config: CyclesConfig | None
    changed: bool


def _field_for(key: str, op: Mapping[str, Any]) -> str:
    """The form field a problem's key (``groups[2].exceptions[0].slot``) belongs to."""
    exc = op.get("exception")
    if exc is not None and key.startswith(f"groups[{exc[0]}].exceptions[{exc[1]}]"):
        if key.endswith(".moved_to"):
            return "moved_to"
        if key.endswith(".time"):
            return "time"
        return "slot"
    recess = op.get("recess")
    if recess is not None and key.startswith(f"recesses[{recess}]"):
        for suffix, name in ((".from", "recess_from"), (".to", "recess_to")):
            if key.endswith(suffix):
                return name
        return "recess_groups" if ".groups" in key else "recess_name"
    people = op.get("people")
    if people is not None:
        index, code = people
        for name in edit.PEOPLE_FIELDS:
            if key.startswith(f"groups[{index}].{name}"):
                return f"{name}-{code}"
    return "yaml"


def validate(text: str, source: str, op: Mapping[str, Any] | None = None) -> Draft:
    """The draft checked as ``chaser cycles validate`` checks the file; each problem under the
    field it belongs to (the YAML box for those no form field made)."""
    errors: dict[str, str] = {}
    problems: list[str] = []
    config = None
    try:
        config = parse_cycles(text, source=source)
    except CyclesConfigError as exc:
        for p in exc.problems:
            where = f"line {p.line}: " if p.line else ""
            message = f"{where}{p.key}: {p.message}" if p.key else f"{where}{p.message}"
            problems.append(message)
            field = _field_for(p.key, op or {})
            if field != "yaml":  # beside a form field, the file's line and key are noise
                message = p.message[:1].upper() + p.message[1:]
            errors[field] = f"{errors[field]}; {message}" if field in errors else message
    return Draft(text, "", errors, problems, config, False)


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step (a reader sees the old text or the new, never half)."""
    fd, tmp = tempfile.mkstemp(prefix=".cycles-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cycles_router(
    *,
    pages: Pages,
    engine: Engine,
    clock: Callable[[], dt.datetime],
    access: Access,
    files: Mapping[str, PlanConfigFiles],
) -> APIRouter:
    async def admin_page(request: Request) -> SignedIn:
        return await run_in_threadpool(access.require, request, Role.ADMIN)

    router = APIRouter(dependencies=[Depends(admin_page)])
    may_change = access.change(Role.ADMIN)

    def in_plan(request: Request, url: str) -> str:
        return with_plan(url, request.state.plan) if getattr(request.state, "plans", []) else url

    def plan_files(request: Request) -> PlanConfigFiles:
        found = files.get(request.state.plan) or (
            next(iter(files.values())) if len(files) == 1 else None
        )
        if found is None:
            raise ErrorPage(
                404,
                "This plan has no meeting cycles file here",
                f"Chaser was not given a cycles.yaml for the plan {request.state.plan}.",
            )
        return found

    def read_file(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ErrorPage(
                500,
                "The meeting cycles file cannot be read",
                f"{path.name} could not be read ({type(exc).__name__}). Check it is UTF-8 text "
                "that Chaser may read, on the server.",
            ) from None

    def ladder_configs(
        where: PlanConfigFiles, config: CyclesConfig | None
    ) -> tuple[ChasingConfig | None, DigestConfig | None]:
        chasing = digest = None
        codes = config.codes if config is not None else None
        if where.chasing is not None:
            try:
                chasing = load_chasing(where.chasing, groups=codes)
            except ChasingConfigError:
                chasing = None
        if where.digest is not None:
            try:
                digest = load_digest_config(where.digest, groups=codes)
            except DigestConfigError:
                digest = None
        return chasing, digest

    def history(request: Request) -> list[ConfigVersion]:
        with Session(engine) as session:
            return list(
                session.exec(
                    select(ConfigVersion)
                    .where(
                        ConfigVersion.plan_code == request.state.plan, ConfigVersion.file == FILE
                    )
                    .order_by(col(ConfigVersion.id).desc())
                    .limit(20)
                )
            )

    def page(
        request: Request,
        draft: Draft,
        *,
        status: int = 200,
        banner: str = "",
        conflict: str = "",
        values: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        where = plan_files(request)
        today = clock().astimezone(LONDON).date()
        rows: list[PreviewRow] = []
        holidays: list[tuple[dt.date, str]] = []
        chasing = None
        if draft.config is not None:
            chasing, digest = ladder_configs(where, draft.config)
            rows = preview(draft.config, today, months=MONTHS, chasing=chasing, digest=digest)
            end = today + dt.timedelta(days=round(365.25 * MONTHS / 12) - 1)
            holidays = bank_holidays_between(draft.config, today, end)
        people = edit.group_people(draft.text)
        errors = dict(draft.errors)
        error_list = [{"text": m, "href": f"#{f}"} for f, m in errors.items()]
        groups = draft.config.groups if draft.config is not None else ()
        return pages.render(
            "admin/cycles.html",
            status,
            current="/cycles",
            request=request,
            in_plan=lambda url: in_plan(request, url),
            csrf_field=CSRF_FIELD,
            draft=draft,
            errors=errors,
            error_list=error_list,
            banner=banner,
            conflict=conflict,
            values=values or {},
            rows=rows,
            holidays=holidays,
            chased=bool(chasing),
            groups=groups,
            people=people,
            versions=history(request),
            file_name=where.cycles.name,
            today=today,
            month_name=calendar.month_name,
        )

    def opened(request: Request) -> Draft:
        text = read_file(plan_files(request).cycles)
        draft = validate(text, FILE)
        draft.sha = edit.sha256_of(text)
        return draft

    @router.get("/cycles", response_class=HTMLResponse)
    def cycles_page(request: Request, saved: str = "") -> HTMLResponse:
        draft = opened(request)
        banner = "cycles.yaml was saved. The service uses it from its next tick." if saved else ""
        return page(request, draft, banner=banner)

    @router.get("/cycles/versions/{version_id}", response_class=HTMLResponse)
    def version_page(request: Request, version_id: int) -> HTMLResponse:
        with Session(engine) as session:
            version = session.get(ConfigVersion, version_id)
        if version is None or version.plan_code != request.state.plan:
            raise ErrorPage(404, "Version not found", "Go back to the cycles page.")
        return pages.render(
            "admin/cycles_version.html",
            current="/cycles",
            request=request,
            in_plan=lambda url: in_plan(request, url),
            version=version,
        )

    def apply(form: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        """The draft after the form's change; which part of it the change made; any form value
        that could not be written."""
        text = form.get("draft", "")
        op = form.get("op", "yaml")
        made: dict[str, Any] = {}
        try:
            if op == "exception":
                group = form.get("group", "")
                text, i = edit.add_exception(
                    text,
                    group=group,
                    kind=form.get("kind", ""),
                    slot=form.get("slot", ""),
                    moved_to=form.get("moved_to", ""),
                    time=form.get("time", ""),
                    note=form.get("note", ""),
                )
                made["exception"] = (edit.group_index(text, group), i)
            elif op == "remove_exception":
                text = edit.remove_exception(
                    text, group=form.get("group", ""), slot=form.get("slot", "")
                )
            elif op == "recess":
                codes = [
                    c.strip().upper()
                    for c in form.get("recess_groups", "").replace(";", ",").split(",")
                    if c.strip()
                ]
                text, r = edit.add_recess(
                    text,
                    name=form.get("recess_name", ""),
                    start=form.get("recess_from", ""),
                    end=form.get("recess_to", ""),
                    groups=codes,
                )
                made["recess"] = r
            elif op == "remove_recess":
                text = edit.remove_recess(
                    text, index=_int(form.get("index")), name=form.get("recess_name", "")
                )
            elif op == "people":
                group = form.get("group", "")
                for name in edit.PEOPLE_FIELDS:
                    people = edit.read_people(f"{name}-{group}", form.get(name, ""))
                    text = edit.set_people(text, group=group, field=name, people=people)
                made["people"] = (edit.group_index(text, group), group)
        except edit.EditError as exc:
            return form.get("draft", ""), made, exc.problems
        return text, made, {}

    def post_preview(request: Request, form: dict[str, str]) -> Response:
        if len(form.get("draft", "")) > MAX_TEXT:
            raise ErrorPage(413, "The file is too large", "cycles.yaml must be under 256 KB.")
        text, made, unwritable = apply(form)
        draft = validate(text, FILE, made)
        draft.errors = {**unwritable, **draft.errors}
        values: dict[str, str] = {}
        if draft.errors and form.get("op", "yaml") != "yaml":
            # The change is refused: the page keeps the draft as it was before it (so fixing a
            # field and trying again does not add the change twice) and what was typed.
            before = validate(form.get("draft", ""), FILE)
            before.errors = draft.errors
            draft = before
            values = dict(form)
            if form.get("op") == "people":
                code = form.get("group", "")
                values.update({f"{n}-{code}": form.get(n, "") for n in edit.PEOPLE_FIELDS})
        draft.sha = form.get("sha", "")
        draft.changed = draft.text != read_file(plan_files(request).cycles)
        status = 400 if draft.errors else 200
        banner = (
            "Not saved yet: check the meetings below, then save the file."
            if draft.changed and not draft.errors
            else ""
        )
        return page(request, draft, status=status, banner=banner, values=values)

    def post_save(request: Request, user: SignedIn, form: dict[str, str]) -> Response:
        where = plan_files(request)
        text = form.get("draft", "")
        if len(text) > MAX_TEXT:
            raise ErrorPage(413, "The file is too large", "cycles.yaml must be under 256 KB.")
        draft = validate(text, FILE)
        draft.sha = form.get("sha", "")
        draft.changed = True
        if draft.errors:
            return page(request, draft, status=400)
        current = read_file(where.cycles)
        now_sha = edit.sha256_of(current)
        if now_sha != form.get("sha", ""):
            # Someone saved since this admin opened the file: write nothing, keep their draft,
            # and show what the file holds now against it. Saving again (with the new sha)
            # replaces the file with their draft, knowingly.
            with Session(engine) as session:
                last = session.exec(
                    select(ConfigVersion)
                    .where(
                        ConfigVersion.plan_code == request.state.plan, ConfigVersion.file == FILE
                    )
                    .order_by(col(ConfigVersion.id).desc())
                ).first()
            who = (
                f" {last.saved_by} saved it on "
                f"{last.saved_at.astimezone(LONDON):%a %d %b %Y at %H:%M}."
                if last is not None and last.sha256_after == now_sha
                else " It was changed on the server."
            )
            draft.sha = now_sha
            log.info("cycles_save_conflict")
            return page(
                request,
                draft,
                status=409,
                conflict=(
                    "cycles.yaml was changed after you opened it, so your version was not saved."
                    + who
                    + " Your version is kept below. Compare it with the file as it is now, then "
                    "save again to replace that file with yours, or open the page afresh."
                ),
                values={"diff": edit.unified_diff(current, text)},
            )
        if text == current:
            return RedirectResponse(in_plan(request, "/cycles"), status_code=303)
        now = clock()
        with Session(engine) as session:
            session.add(
                ConfigVersion(
                    plan_code=request.state.plan,
                    file=FILE,
                    saved_at=now,
                    saved_by=user.label,
                    sha256_before=now_sha,
                    sha256_after=edit.sha256_of(text),
                    previous_text=current,
                    diff=edit.unified_diff(current, text),
                )
            )
            record(
                session,
                "cycles_changed",
                now=now,
                by=user.label,
                reason=f"{FILE} of plan {request.state.plan}",
            )
            session.flush()
            write_atomically(where.cycles, text)
            session.commit()
        log.info("cycles_saved", plan=request.state.plan, sha256=edit.sha256_of(text)[:12])
        return RedirectResponse(
            in_plan(request, f"/cycles?{urlencode({'saved': '1'})}"), status_code=303
        )

    async def form_of(request: Request) -> dict[str, str]:
        form = await request.form()
        # Browsers send a textarea's lines ending CR LF: the file keeps its own LF endings.
        return {
            k: v.replace("\r\n", "\n")
            for k, v in form.items()
            if isinstance(v, str) and k in FIELDS
        }

    @router.post("/cycles/preview", dependencies=[Depends(may_change)])
    async def preview_change(request: Request) -> Response:
        form = await form_of(request)
        return await run_in_threadpool(post_preview, request, form)

    @router.post("/cycles/save", dependencies=[Depends(may_change)])
    async def save(request: Request) -> Response:
        form = await form_of(request)
        return await run_in_threadpool(post_save, request, request.state.user, form)

    return router


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1
