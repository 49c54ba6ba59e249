"""``/upload``: the admin uploads the plan's workbook, checks the dry run, then confirms.

``POST /upload`` keeps the file in the data directory (``uploads/``) under a random name and
runs the import as ``chaser plan import --dry-run`` does (the same reader, mapping and merge,
rolled back): what would be new, changed, withdrawn or reinstated and whose forecast would
change, action by action, and every warning. Nothing in the store changes until ``POST
/upload/confirm``, which imports the kept file (all or nothing), records it under the admin's
name and deletes the file; ``POST /upload/abandon`` deletes it. A file neither imported nor
abandoned (the tab closed on the dry run) is refused and deleted once
:data:`integrations.uploads.KEPT_FOR` has passed, by the next upload or the service's tick
(:func:`integrations.uploads.sweep_uploads`). A file that is not a
spreadsheet, too large, password-protected or unreadable gets the reader's own message
(:class:`integrations.spreadsheets.SpreadsheetError`). GETs need an admin and change nothing;
POSTs also need the session's CSRF token (``Access.change``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from integrations.spreadsheets import MAX_FILE_BYTES, SpreadsheetError, read_grid
from integrations.uploads import KEPT_FOR, SUFFIXES, expired, keep_upload, sweep_uploads
from integrations.web.admin_cycles import PlanConfigFiles
from integrations.web.pages import ErrorPage, Pages, with_plan
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import Access
from workflows.access.audit import record
from workflows.access.users import SignedIn
from workflows.chasing.config import ChasingConfigError, load_chasing
from workflows.plan.mapping import Mapping as PlanMapping
from workflows.plan.mapping import MappingError, load_mapping
from workflows.plan.merge import MergeResult, merge_plan
from workflows.plan.people import directory
from workflows.plan.reading import PlanReadError, Problem, read_plan
from workflows.store.models import Action, Plan, Role

log = structlog.get_logger(__name__)

GONE = "It was imported or abandoned already. Upload the workbook again."
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
AUTO = "auto"


@dataclass(frozen=True)
class ActionChange:
    ref: str
    title: str
    #: new | changed | withdrawn | reinstated
    kind: str
    #: What changed, as the page says it ("forecast: Mar 2026 to Jun 2026").
    details: tuple[str, ...] = ()
    forecast_changed: bool = False


@dataclass
class Report:
    """A dry run (or an import): counts, per-action changes, warnings and errors."""

    source: str
    mapping: str = ""
    actions: int = 0
    merge: MergeResult | None = None
    changes: list[ActionChange] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_FIELDS = {
    "title": "title",
    "baseline_due": "due date",
    "forecast_due": "forecast",
    "lead_raw": "lead",
    "reporting_group": "reporting group",
    "status_label": "status",
    "outcomes": "outcomes",
    "evidence": "evidence",
}


def _snapshot(session: Session, plan_code: str) -> dict[str, dict[str, Any]]:
    """What the page compares of each of the plan's actions, by ref: plain rows, not ORM
    objects (loading a plan of 20,000 as objects, before the merge and after, took as long as
    the import itself)."""
    names = [*_FIELDS, "withdrawn"]
    actions = Action.__table__  # type: ignore[attr-defined]
    query = (
        select(actions.c.ref, *(actions.c[n] for n in names))
        .join(Plan, col(Plan.id) == actions.c.plan_id)
        .where(Plan.code == plan_code)
    )
    return {ref: dict(zip(names, values, strict=True)) for ref, *values in session.execute(query)}


def _shown(value: Any) -> str:
    if isinstance(value, dt.date):
        return f"{value.day} {value:%b %Y}"
    text = str(value or "").strip()
    return (text[:60] + "…") if len(text) > 60 else (text or "none")


def _changes(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> list[ActionChange]:
    out: list[ActionChange] = []
    for ref, now in after.items():
        was = before.get(ref)
        title = str(now["title"] or "")
        if was is None:
            out.append(ActionChange(ref, title, "new"))
            continue
        if now["withdrawn"] and not was["withdrawn"]:
            out.append(ActionChange(ref, title, "withdrawn"))
            continue
        details = tuple(
            f"{label}: {_shown(was[k])} to {_shown(now[k])}"
            for k, label in _FIELDS.items()
            if was[k] != now[k]
        )
        if was["withdrawn"] and not now["withdrawn"]:
            out.append(ActionChange(ref, title, "reinstated", details))
        elif details:
            forecast = was["forecast_due"] != now["forecast_due"]
            out.append(ActionChange(ref, title, "changed", details, forecast))
    order = {"new": 0, "changed": 1, "withdrawn": 2, "reinstated": 3}
    return sorted(out, key=lambda c: (order[c.kind], c.ref))


def run_import(
    engine: Engine,
    path: Path,
    *,
    source: str,
    mapping: PlanMapping,
    plan_code: str,
    partnership: str,
    now: dt.datetime,
    dry_run: bool,
) -> Report:
    """The import ``chaser plan import`` does, with each action's change; rolled back when
    ``dry_run`` or when there is an error."""
    report = Report(source=source, mapping=mapping.name)
    try:
        grid = read_grid(path, mapping.sheet)
    except SpreadsheetError as exc:
        report.errors.append(str(exc).replace(str(path), source))
        return report
    if path.suffix.lower() == ".csv":
        grid.sheet = source
    with Session(engine) as session:
        people = directory(session, partnership)
        try:
            parsed = read_plan(grid, mapping, people)
        except PlanReadError as exc:
            report.errors.extend(p.message.replace(str(path), source) for p in exc.problems)
            return report
        report.actions = len(parsed.actions)
        report.warnings.extend(parsed.warnings)
        before = _snapshot(session, plan_code)
        try:
            result = merge_plan(
                session,
                parsed,
                mapping,
                plan_code=plan_code,
                now=now,
                source_name=source,
                source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                partnership=partnership,
            )
        except PlanReadError as exc:
            session.rollback()
            report.errors.extend(p.message for p in exc.problems)
            return report
        session.flush()
        report.merge = result
        report.warnings.extend(result.matches_by_wording)
        report.changes = _changes(before, _snapshot(session, plan_code))
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return report


def plan_router(
    *,
    pages: Pages,
    engine: Engine,
    clock: Callable[[], dt.datetime],
    access: Access,
    files: Mapping[str, PlanConfigFiles],
    data_dir: Path,
) -> APIRouter:
    async def admin_page(request: Request) -> SignedIn:
        return await run_in_threadpool(access.require, request, Role.ADMIN)

    router = APIRouter(dependencies=[Depends(admin_page)])
    may_change = access.change(Role.ADMIN)
    uploads = data_dir / "uploads"

    def in_plan(request: Request, url: str) -> str:
        return with_plan(url, request.state.plan) if getattr(request.state, "plans", []) else url

    def config(request: Request) -> PlanConfigFiles:
        found = files.get(request.state.plan)
        if found is None:
            raise ErrorPage(404, "Plan upload is not set up for this plan")
        return found

    def mapping_files(request: Request) -> list[Path]:
        where = config(request).mappings
        if where is None or not where.is_dir():
            return []
        return sorted(where.glob("*.yaml")) + sorted(where.glob("*.yml"))

    def partnership(request: Request) -> str:
        chasing = config(request).chasing
        if chasing is None:
            return ""
        try:
            return load_chasing(chasing).partnership
        except ChasingConfigError:
            return ""

    def choose(request: Request, choice: str) -> PlanMapping:
        """The mapping chosen, or (auto) the only one, or the one for this plan, as
        ``chaser plan import`` chooses; a MappingError saying which to choose otherwise."""
        found = mapping_files(request)
        if not found:
            raise MappingError(
                "There are no mapping files in config/mappings; add one (see docs/mappings.md)"
            )
        if choice != AUTO:
            named = [p for p in found if p.name == choice]
            if not named:
                raise MappingError(f"There is no mapping {choice[:60]!r}; choose one from the list")
            mapping = load_mapping(named[0])
        elif len(found) == 1:
            mapping = load_mapping(found[0])
        else:
            loaded = []
            for path in found:
                try:
                    loaded.append(load_mapping(path))
                except MappingError:
                    continue
            ours = [m for m in loaded if m.plan.code == request.state.plan]
            if len(ours) != 1:
                raise MappingError(
                    f"Several mappings could read this plan ({', '.join(p.name for p in found)}); "
                    "choose one"
                )
            mapping = ours[0]
        if mapping.plan.code != request.state.plan:
            raise MappingError(
                f"The mapping {mapping.name} is for the plan {mapping.plan.code}, not "
                f"{request.state.plan}; choose this plan's mapping"
            )
        return mapping

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return pages.render(
            template,
            status,
            current="/upload",
            request=request,
            in_plan=lambda url: in_plan(request, url),
            csrf_field=CSRF_FIELD,
            **context,
        )

    def form_page(
        request: Request,
        *,
        status: int = 200,
        errors: Mapping[str, str] | None = None,
        banner: str = "",
        problems: list[str] | None = None,
        chosen: str = AUTO,
    ) -> HTMLResponse:
        errors = dict(errors or {})
        return render(
            request,
            "admin/upload.html",
            status,
            errors=errors,
            error_list=[{"text": m, "href": f"#{f}"} for f, m in errors.items()],
            banner=banner,
            problems=problems or [],
            mappings=[{"value": AUTO, "text": "Choose for me (the mapping of this plan)"}]
            + [
                {"value": p.name, "text": p.name, "selected": p.name == chosen}
                for p in mapping_files(request)
            ],
            max_mb=MAX_FILE_BYTES // (1024 * 1024),
        )

    @router.get("/upload", response_class=HTMLResponse)
    def upload_page(request: Request, done: str = "") -> HTMLResponse:
        return form_page(request, banner=f"The plan was imported: {done[:200]}" if done else "")

    def kept(token: str, suffix: str) -> Path:
        if not TOKEN.match(token) or suffix not in SUFFIXES:
            raise ErrorPage(404, "This upload is no longer here", GONE)
        path = uploads / f"{token}{suffix}"
        if not path.is_file():
            raise ErrorPage(404, "This upload is no longer here", GONE)
        if expired(path, clock()):
            path.unlink(missing_ok=True)
            hours = int(KEPT_FOR.total_seconds() // 3600)
            raise ErrorPage(
                404,
                "This upload is no longer here",
                f"An upload waits {hours} hours to be imported, and this one was checked "
                "longer ago: the plan may have changed since. Upload the workbook again to "
                "see what it would change now.",
            )
        return path

    def post_check(request: Request, name: str, data: bytes, choice: str) -> Response:
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            return form_page(
                request,
                status=400,
                chosen=choice,
                errors={
                    "file": f"{name} is not a spreadsheet: choose the plan's workbook, an .xlsx, "
                    ".xls or .csv file"
                },
            )
        if len(data) > MAX_FILE_BYTES:
            return form_page(
                request,
                status=400,
                chosen=choice,
                errors={
                    "file": f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, the "
                    "largest workbook Chaser reads; remove other sheets or images and save it "
                    "again"
                },
            )
        try:
            mapping = choose(request, choice)
        except MappingError as exc:
            return form_page(request, status=400, chosen=choice, errors={"mapping": str(exc)})
        now = clock()
        sweep_uploads(uploads, now)
        token = secrets.token_urlsafe(18)
        path = uploads / f"{token}{suffix}"
        keep_upload(path, data, now)
        report = run_import(
            engine,
            path,
            source=name,
            mapping=mapping,
            plan_code=request.state.plan,
            partnership=partnership(request),
            now=now,
            dry_run=True,
        )
        if report.errors:
            path.unlink(missing_ok=True)
            return form_page(
                request,
                status=400,
                chosen=choice,
                errors={"file": report.errors[0]},
                problems=report.errors[1:],
            )
        log.info("plan_upload_checked", actions=report.actions)
        return render(
            request,
            "admin/upload_check.html",
            report=report,
            token=token,
            suffix=suffix,
            choice=choice,
            counts={
                k: sum(1 for c in report.changes if c.kind == k)
                for k in ("new", "changed", "withdrawn", "reinstated")
            },
        )

    @router.post("/upload", dependencies=[Depends(may_change)])
    async def check(request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        choice = form.get("mapping")
        choice = choice if isinstance(choice, str) and choice else AUTO
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await run_in_threadpool(
                lambda: form_page(
                    request, status=400, errors={"file": "Choose the plan's workbook"}
                )
            )
        name = re.sub(r"[^A-Za-z0-9._ ()-]", "_", Path(upload.filename).name)[:100] or "plan.xlsx"
        data = await upload.read(MAX_FILE_BYTES + 1)
        return await run_in_threadpool(post_check, request, name, data, choice)

    def post_confirm(request: Request, user: SignedIn, form: Mapping[str, str]) -> Response:
        path = kept(form.get("token", ""), form.get("suffix", ""))
        source = form.get("source", "plan.xlsx")[:100]
        try:
            mapping = choose(request, form.get("mapping", AUTO))
        except MappingError as exc:
            return form_page(request, status=400, errors={"mapping": str(exc)})
        now = clock()
        report = run_import(
            engine,
            path,
            source=source,
            mapping=mapping,
            plan_code=request.state.plan,
            partnership=partnership(request),
            now=now,
            dry_run=False,
        )
        if report.errors:
            return form_page(
                request, status=400, errors={"file": report.errors[0]}, problems=report.errors[1:]
            )
        path.unlink(missing_ok=True)
        merge = report.merge
        summary = (
            f"{merge.created} new, {merge.updated} changed, {merge.withdrawn} withdrawn, "
            f"{merge.forecast_changes} forecast changes"
            if merge is not None
            else ""
        )
        with Session(engine) as session:
            record(
                session,
                "plan_imported",
                now=now,
                by=user.label,
                reason=f"{source} ({mapping.name}): {summary}",
            )
            session.commit()
        log.info("plan_imported_from_page", actions=report.actions)
        return RedirectResponse(
            in_plan(request, f"/upload?{urlencode({'done': summary})}"), status_code=303
        )

    def post_abandon(request: Request, form: Mapping[str, str]) -> Response:
        kept(form.get("token", ""), form.get("suffix", "")).unlink(missing_ok=True)
        return RedirectResponse(in_plan(request, "/upload"), status_code=303)

    async def fields(request: Request) -> dict[str, str]:
        form = await request.form()
        return {
            k: v
            for k, v in form.items()
            if isinstance(v, str) and k in ("token", "suffix", "mapping", "source")
        }

    @router.post("/upload/confirm", dependencies=[Depends(may_change)])
    async def confirm(request: Request) -> Response:
        form = await fields(request)
        return await run_in_threadpool(post_confirm, request, request.state.user, form)

    @router.post("/upload/abandon", dependencies=[Depends(may_change)])
    async def abandon(request: Request) -> Response:
        form = await fields(request)
        return await run_in_threadpool(post_abandon, request, form)

    return router
