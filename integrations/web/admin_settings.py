"""``/settings/chasing`` and ``/settings/digest``: the admin's pages for a plan's
``chasing.yaml`` and ``digest.yaml`` (issue 19, item 4).

Each page shows the file in a YAML box, checked exactly as ``chaser chasing validate`` and
``chaser digest validate`` check it (the loaders of :mod:`workflows.chasing.config` and
:mod:`workflows.digest.config`, against the plan's ``cycles.yaml`` codes), each problem with its
line and key beside the box, and a short summary of what the settings mean. Nothing is written
until ``POST /settings/<name>/save``; saving keeps the text it replaced in ``config_version``
with a diff and records ``chasing_changed`` / ``digest_changed`` in the audit log, under the
admin's name. Every form carries the SHA-256 of the file as it was opened: a stale copy is
refused, and the admin's draft is shown again with what differs, so nothing is lost.

The running service picks a saved file up at its next tick, within a minute
(:mod:`chaser.settings_reload`); the page says so, and names the few keys of ``chasing.yaml``
that wait for a restart.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from integrations.web.admin_cycles import PlanConfigFiles, write_atomically
from integrations.web.pages import ErrorPage, Pages, with_plan
from integrations.web.security import CSRF_FIELD
from integrations.web.signin import Access
from workflows.access.audit import record
from workflows.access.users import SignedIn
from workflows.calendar import cycles_edit as edit
from workflows.calendar.cycles import LONDON, CyclesConfigError, load_cycles
from workflows.chasing.config import ChasingConfig, load_chasing
from workflows.digest.config import DigestConfig, load_digest_config
from workflows.store.admin_models import ConfigVersion
from workflows.store.models import Role
from workflows.yaml_files import ConfigFileError

log = structlog.get_logger(__name__)

#: The largest settings file the pages take (the shipped ones are about 3 KB).
MAX_TEXT = 128 * 1024
#: What the page says once a file is saved (chasing.yaml's keys that wait for a restart are
#: named on the page itself).
APPLIES = "The running service applies it at its next tick, within a minute."


@dataclass(frozen=True)
class SettingsFile:
    """One of the settings files a page edits."""

    name: str  # "chasing": the page is /settings/chasing
    title: str  # "Chasing settings"
    file: str  # "chasing.yaml"
    command: str  # "chaser chasing validate"
    doc: str  # "docs/chasing.md"
    load: Callable[[Path, list[str] | None], Any]
    summary: Callable[[Any], list[tuple[str, str]]]

    def path(self, files: PlanConfigFiles) -> Path | None:
        return files.chasing if self.name == "chasing" else files.digest


def _days(offset: int | None, of: str) -> str:
    if offset is None:
        return "not sent"
    if offset == 0:
        return f"on the day of {of}"
    n = abs(offset)
    unit = "working day" if n == 1 else "working days"
    return f"{n} {unit} {'before' if offset < 0 else 'after'} {of}"


def chasing_summary(config: ChasingConfig) -> list[tuple[str, str]]:
    """What ``chasing.yaml`` means, in a few lines."""
    ladder = config.ladder
    deadline = "the papers deadline"
    nudges = config.nudges
    window = config.send_window
    people = ", ".join(f"{code}: {' and '.join(c)}" for code, c in config.channels.people.items())
    return [
        ("Meetings chased", ", ".join(config.meetings)),
        ("Update request", _days(ladder.request, deadline)),
        ("Reminder", _days(ladder.reminder, deadline)),
        ("Final reminder", _days(ladder.final_reminder, deadline)),
        ("Escalation", _days(ladder.escalation, deadline)),
        (
            "Due-date nudges",
            "; ".join(
                [
                    f"{nudges.before_due_days} days before it is due"
                    if nudges.before_due_days
                    else "none before it is due",
                    "on the due date" if nudges.on_due else "none on the due date",
                    _days(nudges.overdue_working_days, "it was due")
                    if nudges.overdue_working_days
                    else "none once overdue",
                ]
            ),
        ),
        (
            "Sent",
            f"{window.start:%H:%M} to {window.end:%H:%M} London time, "
            + ("working days only" if window.working_days_only else "every day"),
        ),
        (
            "From",
            f"{config.sender.name} <{config.sender.mailbox}>, at most "
            f"{config.sender.rate_per_minute or 'any number of'} a minute",
        ),
        (
            "Channels",
            " and ".join(config.channels.default) + (f" (except {people})" if people else ""),
        ),
        (
            "Retries",
            f"up to {config.retry.max_attempts} attempts, waiting "
            f"{config.retry.first_delay_seconds:g} seconds after the first, then longer each "
            f"time, at most {config.retry.max_delay_seconds:g} seconds",
        ),
    ]


def digest_summary(config: DigestConfig) -> list[tuple[str, str]]:
    """What ``digest.yaml`` means, in a few lines."""
    days = config.send.working_days_before
    paper = config.board_paper
    rules = ", ".join(sorted(config.slippage)) if config.slippage else "the defaults"
    return [
        ("Digest for", ", ".join(config.groups)),
        ("Cycles counted from", ", ".join(config.cycle_groups) or "the digest's groups"),
        (
            "Sent",
            (
                f"{days} working day{'s' if days != 1 else ''} before the meeting"
                if days
                else "on the meeting day"
            )
            + ", from the start of chasing.yaml's send window",
        ),
        ("Slippage rules set", rules),
        ("Board paper", paper.title or "(no title)"),
        ("Classification", paper.classification),
        ("Recommendations", str(len(paper.recommendations))),
    ]


FILES = (
    SettingsFile(
        "chasing",
        "Chasing settings",
        "chasing.yaml",
        "chaser chasing validate",
        "docs/chasing.md",
        lambda path, groups: load_chasing(path, groups=groups),
        chasing_summary,
    ),
    SettingsFile(
        "digest",
        "Digest settings",
        "digest.yaml",
        "chaser digest validate",
        "docs/digest.md",
        lambda path, groups: load_digest_config(path, groups=groups),
        digest_summary,
    ),
)


@dataclass
class Draft:
    """What the page shows: the text (saved or not), its problems, what it means."""

    text: str
    sha: str
    problems: list[str]
    summary: list[tuple[str, str]]
    changed: bool = False


def validate(kind: SettingsFile, text: str, where: PlanConfigFiles, plan: str) -> Draft:
    """The text checked as ``chaser <name> validate`` checks the file: the same loader, against
    the plan's cycles.yaml codes, on a copy beside the file (so paths relative to it resolve)."""
    path = kind.path(where)
    assert path is not None
    try:
        groups: list[str] | None = list(load_cycles(where.cycles).codes)
    except CyclesConfigError:
        groups = None
    fd, tmp = tempfile.mkstemp(prefix=f".{kind.name}-draft-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        config = kind.load(Path(tmp), groups)
    except ConfigFileError as exc:
        problems = [
            (f"line {p.line}: " if p.line else "")
            + (f"{p.key}: {p.message}" if p.key else p.message)
            for p in exc.problems
        ] or [str(exc)]
        return Draft(text, "", problems, [])
    finally:
        Path(tmp).unlink(missing_ok=True)
    problems = []
    if kind.name == "chasing" and config.plan != plan:
        problems.append(
            f"plan: is {config.plan!r}, but this is the file of the plan {plan!r}; keep "
            f"plan: {plan}"
        )
    return Draft(text, "", problems, [] if problems else kind.summary(config))


def settings_router(
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

    def plan_files(request: Request, kind: SettingsFile) -> tuple[PlanConfigFiles, Path]:
        found = files.get(request.state.plan) or (
            next(iter(files.values())) if len(files) == 1 else None
        )
        path = kind.path(found) if found is not None else None
        if found is None or path is None:
            raise ErrorPage(
                404,
                f"This plan has no {kind.file} here",
                f"Chaser was not given a {kind.file} for the plan {request.state.plan}.",
            )
        return found, path

    def read_file(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ErrorPage(
                500,
                f"{path.name} cannot be read",
                f"{path.name} could not be read ({type(exc).__name__}). Check it is UTF-8 text "
                "that Chaser may read, on the server.",
            ) from None

    def history(request: Request, kind: SettingsFile) -> list[ConfigVersion]:
        with Session(engine) as session:
            return list(
                session.exec(
                    select(ConfigVersion)
                    .where(
                        ConfigVersion.plan_code == request.state.plan,
                        ConfigVersion.file == kind.file,
                    )
                    .order_by(col(ConfigVersion.id).desc())
                    .limit(20)
                )
            )

    def page(
        request: Request,
        kind: SettingsFile,
        draft: Draft,
        *,
        status: int = 200,
        banner: str = "",
        conflict: str = "",
        diff: str = "",
    ) -> HTMLResponse:
        _, path = plan_files(request, kind)
        return pages.render(
            "admin/settings.html",
            status,
            current=f"/settings/{kind.name}",
            request=request,
            in_plan=lambda url: in_plan(request, url),
            csrf_field=CSRF_FIELD,
            kind=kind,
            draft=draft,
            error_list=[{"text": p, "href": "#yaml"} for p in draft.problems],
            banner=banner,
            conflict=conflict,
            diff=diff,
            versions=history(request, kind),
            file_name=path.name,
        )

    def opened(request: Request, kind: SettingsFile) -> Draft:
        where, path = plan_files(request, kind)
        text = read_file(path)
        draft = validate(kind, text, where, request.state.plan)
        draft.sha = edit.sha256_of(text)
        return draft

    def show(kind: SettingsFile, request: Request, saved: str) -> HTMLResponse:
        banner = f"{kind.file} was saved. {APPLIES}" if saved else ""
        return page(request, kind, opened(request, kind), banner=banner)

    def version(kind: SettingsFile, request: Request, version_id: int) -> HTMLResponse:
        with Session(engine) as session:
            found = session.get(ConfigVersion, version_id)
        if found is None or found.plan_code != request.state.plan or found.file != kind.file:
            raise ErrorPage(404, "Version not found", f"Go back to the {kind.title.lower()}.")
        return pages.render(
            "admin/settings_version.html",
            current=f"/settings/{kind.name}",
            request=request,
            in_plan=lambda url: in_plan(request, url),
            kind=kind,
            version=found,
        )

    def post_preview(kind: SettingsFile, request: Request, form: dict[str, str]) -> Response:
        where, path = plan_files(request, kind)
        text = form.get("draft", "")
        if len(text) > MAX_TEXT:
            raise ErrorPage(413, "The file is too large", f"{kind.file} must be under 128 KB.")
        draft = validate(kind, text, where, request.state.plan)
        draft.sha = form.get("sha", "")
        draft.changed = text != read_file(path)
        banner = (
            f"Not saved yet: check what the settings mean below, then save {kind.file}."
            if draft.changed and not draft.problems
            else ""
        )
        return page(request, kind, draft, status=400 if draft.problems else 200, banner=banner)

    def post_save(
        kind: SettingsFile, request: Request, user: SignedIn, form: dict[str, str]
    ) -> Response:
        where, path = plan_files(request, kind)
        text = form.get("draft", "")
        if len(text) > MAX_TEXT:
            raise ErrorPage(413, "The file is too large", f"{kind.file} must be under 128 KB.")
        draft = validate(kind, text, where, request.state.plan)
        draft.sha = form.get("sha", "")
        draft.changed = True
        if draft.problems:
            return page(request, kind, draft, status=400)
        current = read_file(path)
        now_sha = edit.sha256_of(current)
        if now_sha != form.get("sha", ""):
            with Session(engine) as session:
                last = session.exec(
                    select(ConfigVersion)
                    .where(
                        ConfigVersion.plan_code == request.state.plan,
                        ConfigVersion.file == kind.file,
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
            log.info("settings_save_conflict", file=kind.file)
            return page(
                request,
                kind,
                draft,
                status=409,
                conflict=(
                    f"{kind.file} was changed after you opened it, so your version was not "
                    f"saved.{who} Your version is kept below. Compare it with the file as it is "
                    "now, then save again to replace that file with yours, or open the page "
                    "afresh."
                ),
                diff=edit.unified_diff(current, text, name=kind.file),
            )
        if text == current:
            return RedirectResponse(in_plan(request, f"/settings/{kind.name}"), status_code=303)
        now = clock()
        with Session(engine) as session:
            session.add(
                ConfigVersion(
                    plan_code=request.state.plan,
                    file=kind.file,
                    saved_at=now,
                    saved_by=user.label,
                    sha256_before=now_sha,
                    sha256_after=edit.sha256_of(text),
                    previous_text=current,
                    diff=edit.unified_diff(current, text, name=kind.file),
                )
            )
            record(
                session,
                f"{kind.name}_changed",
                now=now,
                by=user.label,
                reason=f"{kind.file} of plan {request.state.plan}",
            )
            session.flush()
            write_atomically(path, text)
            session.commit()
        log.info(
            "settings_saved",
            file=kind.file,
            plan=request.state.plan,
            sha256=edit.sha256_of(text)[:12],
        )
        return RedirectResponse(in_plan(request, f"/settings/{kind.name}?saved=1"), status_code=303)

    async def form_of(request: Request) -> dict[str, str]:
        form = await request.form()
        # Browsers send a textarea's lines ending CR LF: the file keeps its own LF endings.
        return {
            k: v.replace("\r\n", "\n")
            for k, v in form.items()
            if isinstance(v, str) and k in ("sha", "draft")
        }

    def routes(kind: SettingsFile) -> None:
        base = f"/settings/{kind.name}"

        @router.get(base, response_class=HTMLResponse)
        def settings_page(request: Request, saved: str = "") -> HTMLResponse:
            return show(kind, request, saved)

        @router.get(base + "/versions/{version_id}", response_class=HTMLResponse)
        def version_page(request: Request, version_id: int) -> HTMLResponse:
            return version(kind, request, version_id)

        @router.post(base + "/preview", dependencies=[Depends(may_change)])
        async def preview_change(request: Request) -> Response:
            form = await form_of(request)
            return await run_in_threadpool(post_preview, kind, request, form)

        @router.post(base + "/save", dependencies=[Depends(may_change)])
        async def save(request: Request) -> Response:
            form = await form_of(request)
            return await run_in_threadpool(post_save, kind, request, request.state.user, form)

    for kind in FILES:
        routes(kind)
    return router
