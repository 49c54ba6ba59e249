"""``chaser digest``: the secretary's compiled status before a meeting, by hand."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from chaser.commands.common import (
    fail,
    parse_now,
    plan_files,
    plan_option,
    report_problems,
    runtime_from,
    settings_of,
)
from chaser.digests import (
    DigestError,
    digest_folder,
    digest_key,
    enqueue_one,
    find_meeting,
    prepare,
)
from chaser.service import tick
from chaser.settings import Settings
from workflows.calendar.cycles import LONDON, CyclesConfigError, load_cycles
from workflows.digest.config import DigestConfigError, load_digest_config
from workflows.digest.contents import Digest


def _summary(digest: Digest, files: list[Path], sent: bool) -> dict[str, Any]:
    return {
        "group": digest.group_code,
        "meeting": digest.meeting_date.isoformat(),
        "papers_deadline": digest.papers_deadline.isoformat(),
        "actions": len(digest.log),
        "exceptions": [
            {
                "ref": row.ref,
                "lead": row.lead_code,
                "status": row.status_label,
                "flags": [
                    {"rule": f.rule, "severity": f.severity.name.lower(), "reason": f.reason}
                    for f in row.flags
                ],
            }
            for row in digest.exceptions
        ],
        "not_replied": [p.code for p in digest.not_replied],
        "escalated": [p.code for p in digest.escalated],
        "dead_letters": len(digest.dead_letters),
        "files": [str(f) for f in files],
        "sent": sent,
    }


@click.group(invoke_without_command=True)
@plan_option
@click.option(
    "--group",
    metavar="CODE",
    help="The group, e.g. SIB (default: the board, the first of digest.yaml's groups).",
)
@click.option(
    "--meeting",
    "meeting_day",
    metavar="DATE",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The meeting's date (default: the group's next meeting).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the email (HTML and text), the XLSX log and the DOCX paper here.",
)
@click.option(
    "--send", is_flag=True, help="Send it to the group's secretary now, through the outbox."
)
@click.option("--now", "now_text", metavar="DATETIME", help="Act as if it were this moment.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (see docs/digest.md).")
@click.pass_context
def digest(
    ctx: click.Context,
    plan_code: str | None,
    group: str | None,
    meeting_day: Any,
    out_dir: Path | None,
    send: bool,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Build the digest for a meeting: exceptions, the action and impact log, who is silent.

    ``chaser digest validate`` checks config/digest.yaml instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings: Settings = ctx.obj
    files_ = plan_files(settings, plan_code)
    runtime = runtime_from(settings, only=files_.code)
    plan = runtime.plan
    if plan.digests is None:
        fail(f"{files_.folder / 'digest.yaml'} is missing; copy the shipped one and edit it")
    chosen = group is None
    if group is None:  # the board: the first group digest.yaml gives a digest
        group = plan.digests.groups[0]
    now = parse_now(now_text)
    on: date | None = meeting_day.date() if meeting_day else None
    try:
        meeting = find_meeting(plan, group, on, now)
    except DigestError as exc:
        fail(str(exc))
    if on is None:
        away = (meeting.date - now.astimezone(LONDON).date()).days
        whose = (
            f"no --group: the board, {group} ({meeting.group_name})"
            if chosen
            else f"{group} ({meeting.group_name})"
        )
        click.echo(
            f"{whose}, its next meeting: {meeting.date:%a %d %b %Y} "
            f"(in {away} day{'s' if away != 1 else ''}); --group and --meeting YYYY-MM-DD "
            "choose another",
            err=as_json,
        )
    folder = out_dir or digest_folder(runtime, plan, meeting)
    built = prepare(runtime, plan, group, meeting, now, folder)
    files = list(built.files)
    if built.message is not None:
        (folder / "digest.html").write_text(built.message.html, encoding="utf-8")
        (folder / "digest.txt").write_text(built.message.text, encoding="utf-8")
        files += [folder / "digest.html", folder / "digest.txt"]
    sent = False
    if send:
        if built.message is None:
            fail(f"{group} has no secretary with an email address in cycles.yaml")
        enqueue_one(runtime, plan, built.message, meeting, now)
        report = tick(runtime, now)
        key = digest_key(plan, meeting)
        sent = (key, "sent") in (report.dispatch.by_key if report.dispatch else [])
    if as_json:
        click.echo(json.dumps(_summary(built.digest, files, sent), indent=2, ensure_ascii=False))
        return
    d = built.digest
    click.echo(
        f"{d.group_name}, {d.meeting_date:%a %d %b %Y}: {len(d.log)} actions, "
        f"{len(d.exceptions)} flagged, {len(d.not_replied)} leads not replied"
    )
    for path in files:
        click.echo(f"  {path}")
    if send:
        click.echo("sent to the secretary" if sent else "queued for the secretary")


@digest.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@plan_option
def validate(file: Path | None, plan_code: str | None) -> None:
    """Check FILE (default: digest.yaml in the config directory) against cycles.yaml beside it.

    Prints each problem as FILE:LINE: KEY: what is wrong and how to fix it, and exits 1 if
    there are any; otherwise which meetings get a digest, and when.
    """
    files_ = None if file else plan_files(settings_of(), plan_code)
    path = file or (
        files_.digest if files_ and files_.digest else settings_of().config_dir / "digest.yaml"
    )
    cycles_file = files_.cycles if files_ else path.parent / "cycles.yaml"
    try:
        groups = load_cycles(cycles_file).codes
        config = load_digest_config(path, groups=groups)
    except (DigestConfigError, CyclesConfigError) as exc:
        report_problems(path, exc.problems, fallback=str(exc))
    days = config.send.working_days_before
    click.echo(f"{path}: valid (a digest before each {', '.join(config.groups)} meeting).")
    click.echo(
        f"  sent {days} working day{'s' if days != 1 else ''} before the meeting; slippage rules: "
        + (", ".join(sorted(config.slippage)) + " as set, the rest" if config.slippage else "all")
        + " as docs/digest.md describes"
    )
