"""``chaser report``: reports for others than the board.

``chaser report dfe --plan CODE [--as-of DATE] [--to FILE]`` writes the council's own
assessment for the Department for Education before a review (§7 of the improvement notice): a
DOCX and, beside it, an XLSX of the same figures. See docs/digest.md.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
from sqlmodel import Session, col, select

from chaser.commands.common import fail, plan_files, plan_option, runtime_from
from chaser.digests import DigestError, build, digest_key, find_meeting, invited_to
from chaser.runtime import PlanRuntime, Runtime
from chaser.settings import Settings
from workflows.calendar.cycles import LONDON
from workflows.calendar.meetings import meetings
from workflows.plan.people import people_of
from workflows.store.board_models import MeetingRecord
from workflows.store.models import Delivery, DeliveryState, Plan

#: How far back the governance record goes.
GOVERNANCE_DAYS = 365


@click.group()
def report() -> None:
    """Reports for others: the Department's stock-take of progress, measures and milestones."""


@report.command("dfe")
@plan_option
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The day the assessment is as at (default: today).",
)
@click.option(
    "--to",
    "to",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The DOCX to write (the XLSX goes beside it). Default: reports/ in the data directory.",
)
@click.pass_obj
def dfe(settings: Settings, plan_code: str | None, as_of: Any, to: Path | None) -> None:
    """The council's self-assessment for the Department: progress, measures, milestones."""
    files = plan_files(settings, plan_code)
    runtime = runtime_from(settings, only=files.code)
    if runtime.plan.digests is None:
        fail(f"{files.folder / 'digest.yaml'} is missing; copy the shipped one and edit it")
    day = as_of.date() if as_of else datetime.now(LONDON).date()
    if to is not None and to.suffix.lower() != ".docx":
        fail(f"--to {to}: expected a .docx file name, e.g. --to dfe-stocktake.docx")
    try:
        docx_path, xlsx_path, summary = write_dfe(runtime, runtime.plan, day, to)
    except DigestError as exc:
        fail(str(exc))
    click.echo(summary)
    click.echo(f"  {docx_path}")
    click.echo(f"  {xlsx_path}")


def write_dfe(
    runtime: Runtime, plan: PlanRuntime, day: date, to: Path | None = None
) -> tuple[Path, Path, str]:
    """Write the self-assessment as at ``day`` (the DOCX at ``to``, default
    ``reports/dfe-{plan}-{day}.docx`` in the data directory, and the XLSX beside it); returns
    both paths and a one-line summary. It is built as at 17:00 London on ``day``, for the
    board's (the first of digest.yaml's groups) next meeting."""
    from notifications.dfe_report import GovernanceLine, dfe_docx, dfe_xlsx

    if plan.digests is None:
        raise DigestError("the plan has no digest.yaml; copy the shipped one and edit it")
    now = datetime.combine(day, time(17, 0), tzinfo=LONDON)
    group = plan.digests.groups[0]  # the board
    meeting = find_meeting(plan, group, None, now)
    digest = build(runtime, plan, group, meeting, now)

    cycles = plan.cycles(now)
    mandatory = cycles.group(group).mandatory_invitees
    held = meetings(cycles, day - timedelta(days=GOVERNANCE_DAYS), meeting.date, groups=[group])
    with Session(runtime.engine) as session:
        row = session.exec(select(Plan).where(Plan.code == plan.code)).first()
        if row is None:
            raise DigestError(f"there is no plan {plan.code!r} in the store; import it first")
        roles = {p.code: p.role for p in people_of(session, row.partnership)}
        sent = set(
            session.exec(
                select(Delivery.key).where(
                    Delivery.key.in_([digest_key(plan, m) for m in held]),  # type: ignore[attr-defined]
                    Delivery.state == DeliveryState.SENT,
                )
            )
        )
    with Session(runtime.engine) as session:
        attendance = {
            r.meeting_key: r
            for r in session.exec(
                select(MeetingRecord).where(
                    MeetingRecord.plan_id == row.id,
                    col(MeetingRecord.meeting_key).in_([m.key for m in held]),
                )
            )
        }
    governance = []
    for m in held:
        invited = {e.lower() for e in invited_to(runtime, plan, m)}
        record = attendance.get(m.key)
        governance.append(
            GovernanceLine(
                attended=tuple(record.present) if record is not None else None,
                apologies=tuple(record.apologies) if record is not None else (),
                meeting=m.date,
                held=m.date <= day,
                invited=len(invited),
                mandatory_missing=tuple(
                    p.name for p in mandatory if not p.email or p.email.lower() not in invited
                ),
                digest_sent=digest_key(plan, m) in sent,
            )
        )

    cover = plan.digests.board_paper
    template = Path(cover.template).read_bytes() if cover.template else None
    target = to or runtime.data_dir / "reports" / f"dfe-{plan.code}-{day.isoformat()}.docx"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(
        dfe_docx(
            digest, as_of=day, roles=roles, governance=governance, cover=cover, template=template
        )
    )
    workbook = target.with_suffix(".xlsx")
    workbook.write_bytes(dfe_xlsx(digest, roles=roles))
    summary = (
        f"Self-assessment for the Department as at {day:%d %b %Y}: {len(digest.log)} actions, "
        f"{len(digest.areas)} areas, {len(governance)} board meetings"
    )
    return target, workbook, summary
