"""``chaser digest``: the secretary's compiled status before a meeting, by hand."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from chaser.commands.common import fail, parse_now, runtime_from
from chaser.digests import DigestError, digest_key, enqueue_one, find_meeting, prepare
from chaser.service import tick
from chaser.settings import Settings
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


@click.command()
@click.option("--group", required=True, metavar="CODE", help="The group, e.g. SIB.")
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
@click.pass_obj
def digest(
    settings: Settings,
    group: str,
    meeting_day: Any,
    out_dir: Path | None,
    send: bool,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Build the digest for a meeting: exceptions, the action and impact log, who is silent."""
    runtime = runtime_from(settings)
    if runtime.digests is None:
        fail(f"{settings.config_dir / 'digest.yaml'} is missing; copy the shipped one and edit it")
    now = parse_now(now_text)
    on: date | None = meeting_day.date() if meeting_day else None
    try:
        meeting = find_meeting(runtime, group, on, now)
    except DigestError as exc:
        fail(str(exc))
    folder = out_dir or settings.data_dir / "digests" / group / meeting.date.isoformat()
    built = prepare(runtime, runtime.digests, group, meeting, now, folder)
    files = list(built.files)
    if built.message is not None:
        (folder / "digest.html").write_text(built.message.html, encoding="utf-8")
        (folder / "digest.txt").write_text(built.message.text, encoding="utf-8")
        files += [folder / "digest.html", folder / "digest.txt"]
    sent = False
    if send:
        if built.message is None:
            fail(f"{group} has no secretary with an email address in cycles.yaml")
        enqueue_one(runtime, built.message, meeting, now)
        report = tick(runtime, now)
        sent = (digest_key(meeting), "sent") in (report.dispatch.by_key if report.dispatch else [])
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
