"""``chaser cycles``: the governance calendar (validate, preview, ics).

The file is ``<config dir>/cycles.yaml`` (``chaser --config DIR``) unless a verb is given one.
This is part of the composition root: it reads the clock (``--from`` defaults to today in
London) and the files, and hands plain values to the pure calendar in ``workflows``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from chaser.commands.common import plan_file, plan_option, settings_of
from chaser.config_reload import ReloadStatus, read_status
from workflows.calendar.cycles import LONDON, CyclesConfig, CyclesConfigError, load_cycles
from workflows.calendar.meetings import Meeting, MeetingStatus, meetings

PREVIEW_SCHEMA = "chaser.cycles.preview/1"


def _default_file(plan_code: str | None) -> Path:
    return plan_file(settings_of(), plan_code, "cycles.yaml")


def _service_status(path: Path) -> ReloadStatus | None:
    """What the running service last did with this file (each plan's reload is recorded
    apart), or None if it has not looked at it."""
    for status_file in sorted((settings_of().data_dir / "status").glob("cycles-reload*.json")):
        status = read_status(status_file)
        if status is not None and Path(status.path) == path.resolve():
            return status
    return None


def _today() -> dt.date:
    return dt.datetime.now(LONDON).date()


def _load(path: Path) -> CyclesConfig:
    """Load or exit 1 with one line per problem (on stderr)."""
    try:
        return load_cycles(path)
    except CyclesConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        n = len(exc.problems)
        click.echo(
            f"{path}: {n} problem{'s' if n != 1 else ''}; nothing was changed. "
            f"Fix the file and run 'chaser cycles validate' again.",
            err=True,
        )
        raise SystemExit(1) from None


DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def cycles() -> None:
    """Meeting cycles: check config/cycles.yaml and see the dates Chaser works to."""


@cycles.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@plan_option
def validate(file: Path | None, plan_code: str | None) -> None:
    """Check FILE (default: the plan's cycles.yaml, in the config directory).

    Prints each problem as FILE:LINE: KEY: what is wrong and how to fix it, and exits 1 if
    there are any. Otherwise prints how each cadence was read (e.g. 'Six weekly' as every 6
    weeks on Tuesday) and what the running service is using.
    """
    path = file or _default_file(plan_code)
    status = _service_status(path)
    try:
        config = load_cycles(path)
    except CyclesConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        n = len(exc.problems)
        click.echo(f"{path}: {n} problem{'s' if n != 1 else ''}.", err=True)
        if status is not None and status.loaded_at:
            click.echo(
                f"The running service refused this version and keeps the one it loaded at "
                f"{status.loaded_at}.",
                err=True,
            )
        raise SystemExit(1) from None
    click.echo(f"{path}: valid ({len(config.groups)} groups).")
    if config.readings:
        click.echo("How each cadence was read:")
        for reading in config.readings:
            click.echo(f"  {reading}")
    if status is not None and status.state == "rejected":
        click.echo(
            f"The running service last refused an edit of this file (checked "
            f"{status.checked_at}); it will load this version at its next tick."
        )


def _meeting_json(meeting: Meeting, config: CyclesConfig) -> dict[str, Any]:
    group = config.group(meeting.group)
    return {
        "key": meeting.key,
        "group": meeting.group,
        "group_name": meeting.group_name,
        "slot": meeting.slot.isoformat(),
        "date": meeting.date.isoformat(),
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "starts_at_utc": meeting.starts_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "timezone": group.timezone,
        "papers_deadline": meeting.papers_deadline.isoformat(),
        "papers_deadline_working_days": group.papers_deadline_working_days,
        "status": meeting.status.value,
        "note": meeting.note,
        "mandatory_invitees": [
            {"name": p.name, "role": p.role, "email": p.email} for p in group.mandatory_invitees
        ],
    }


@cycles.command()
@click.option(
    "--from", "start", type=DATE, metavar="DATE", help="First day (YYYY-MM-DD; default today)."
)
@click.option(
    "--weeks",
    type=click.IntRange(1, 520),
    default=6,
    show_default=True,
    help="How many weeks to show.",
)
@click.option(
    "--group", "groups", multiple=True, metavar="CODE", help="Only this group (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see docs/cycles.md).")
@click.option(
    "--file", type=click.Path(dir_okay=False, path_type=Path), help="Another cycles.yaml."
)
@plan_option
def preview(
    plan_code: str | None,
    start: dt.datetime | None,
    weeks: int,
    groups: tuple[str, ...],
    as_json: bool,
    file: Path | None,
) -> None:
    """Every meeting in the window with its papers deadline.

    Cancelled meetings (and meetings skipped for a recess) are listed too, marked cancelled.
    """
    path = file or _default_file(plan_code)
    config = _load(path)
    first = start.date() if start else _today()
    last = first + dt.timedelta(weeks=weeks) - dt.timedelta(days=1)
    unknown = [g for g in groups if g not in config.codes]
    if unknown:
        raise click.BadParameter(
            f"no group {', '.join(unknown)} in {path}; use one of {', '.join(config.codes)}",
            param_hint="--group",
        )
    found = meetings(config, first, last, groups=groups or None, include_cancelled=True)
    if as_json:
        doc = {
            "schema": PREVIEW_SCHEMA,
            "config": str(path),
            "from": first.isoformat(),
            "to": last.isoformat(),
            "meetings": [_meeting_json(m, config) for m in found],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.echo(f"Meetings {first:%a %d %b %Y} to {last:%a %d %b %Y} ({path}):")
    if not found:
        click.echo("  (none)")
    width = max((len(m.group) for m in found), default=4)
    for m in found:
        when = f"{m.starts_at:%a %d %b %Y %H:%M}"
        if m.status is MeetingStatus.CANCELLED:
            line = f"  {when}  {m.group:<{width}}  CANCELLED"
        else:
            line = f"  {when}  {m.group:<{width}}  papers due {m.papers_deadline:%a %d %b %Y}"
            if m.status is not MeetingStatus.SCHEDULED:
                line += f"  [{m.status.value}]"
        if m.note:
            line += f"  ({m.note})"
        click.echo(line)


@cycles.command()
@click.option("--group", "group", metavar="CODE", help="Only this group's meetings.")
@click.option(
    "--from", "start", type=DATE, metavar="DATE", help="First day (YYYY-MM-DD; default today)."
)
@click.option(
    "--weeks",
    type=click.IntRange(1, 520),
    default=52,
    show_default=True,
    help="How many weeks the feed covers.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the feed to this file (default: standard output).",
)
@click.option(
    "--file", type=click.Path(dir_okay=False, path_type=Path), help="Another cycles.yaml."
)
@plan_option
def ics(
    plan_code: str | None,
    group: str | None,
    start: dt.datetime | None,
    weeks: int,
    out: Path | None,
    file: Path | None,
) -> None:
    """An iCalendar feed (.ics) of meetings and papers deadlines to subscribe to in Outlook.

    Board meetings list their mandatory invitees as attendees; cancelled meetings stay in the
    feed marked cancelled so that subscribed calendars drop them.
    """
    from integrations.ics import build_ics

    path = file or _default_file(plan_code)
    config = _load(path)
    if group is not None and group not in config.codes:
        raise click.BadParameter(
            f"no group {group} in {path}; use one of {', '.join(config.codes)}",
            param_hint="--group",
        )
    first = start.date() if start else _today()
    last = first + dt.timedelta(weeks=weeks) - dt.timedelta(days=1)
    found = meetings(config, first, last, groups=[group] if group else None, include_cancelled=True)
    name = f"Chaser: {config.group(group).name}" if group else "Chaser: governance meetings"
    data = build_ics(config, found, stamp=dt.datetime.now(dt.UTC), name=name)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)
        click.echo(f"Wrote {len(found)} meetings to {out}.", err=True)
