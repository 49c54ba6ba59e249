"""``chaser requests record``: update requests another system sent, so replies are linked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chaser.commands.common import engine_from, fail, plan_files

if TYPE_CHECKING:
    from chaser.settings import Settings
    from workflows.calendar.cycles import CyclesConfig


@click.group()
def requests() -> None:
    """Update requests sent by another system: record them so replies to them are linked."""


@requests.command("record")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--plan",
    "plan_code",
    metavar="CODE",
    help="The plan of rows without a plan column, and of .eml files (default: the only one).",
)
@click.option(
    "--meeting",
    metavar="GROUP:YYYY-MM-DD",
    default="",
    help="The meeting an .eml file's request was for, e.g. SIB:2025-09-30.",
)
@click.option(
    "--actions",
    "refs",
    metavar="REFS",
    default="",
    help="The actions an .eml file asked about, e.g. 2.5,2.6 (default: the refs it names).",
)
@click.option("--by", "by", required=True, metavar="NAME", help="Who is recording them.")
@click.option("--dry-run", is_flag=True, help="Check and show them; record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see docs/chasing.md).")
@click.pass_obj
def record(
    settings: Settings,
    files: tuple[Path, ...],
    plan_code: str | None,
    meeting: str,
    refs: str,
    by: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record requests another system sent (a CSV, or .eml files from Sent Items).

    CSV columns: message_id, recipient (email or code), meeting (SIB:2025-09-30) and actions
    (refs separated by spaces, commas or semicolons); optionally plan, lead (when the
    recipient answers for someone else), sent_at and subject. An .eml file gives its
    Message-ID, first To address and Date; --meeting (and --actions, unless it names the
    refs) say the rest. All are recorded, or none when any has a problem.
    """
    from sqlmodel import Session

    from chaser.plans import configured_plans
    from workflows.calendar.cycles import CyclesConfigError, load_cycles
    from workflows.replies.external import (
        ExternalRequest,
        Problem,
        read_csv,
        read_eml,
        record_requests,
    )

    default_plan = plan_files(settings, plan_code).code
    plans = configured_plans(settings.config_dir)

    @cache
    def cycles_for(code: str) -> CyclesConfig | None:
        files_of = plans.get(code)
        if files_of is None:
            return None
        try:
            return load_cycles(files_of.cycles)
        except CyclesConfigError as exc:
            fail(str(exc))

    wanted = tuple(r for r in refs.replace(";", ",").replace(" ", ",").split(",") if r)
    found: list[ExternalRequest] = []
    problems: list[Problem] = []
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file; give a .csv file or .eml files")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            got, bad = read_csv(path)
        elif suffix == ".eml":
            got, bad = read_eml(path, meeting=meeting, refs=wanted, plan=plan_code or "")
        else:
            fail(f"{path}: not a .csv or .eml file; save the list as CSV, or the messages as .eml")
        found += got
        problems += bad
    if not found and not problems:
        fail("no requests in " + ", ".join(str(f) for f in files) + "; nothing recorded")
    engine = engine_from(settings)
    with Session(engine) as session:
        result = record_requests(
            session,
            found,
            default_plan=default_plan,
            cycles_for=cycles_for,
            now=datetime.now(UTC),
            by=by,
            dry_run=dry_run or bool(problems),
        )
    problems += result.problems
    if as_json:
        click.echo(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "recorded": [] if problems or dry_run else result.created,
                    "would_record": result.created if dry_run and not problems else [],
                    "unchanged": result.unchanged,
                    "problems": [
                        {
                            "source": p.source,
                            "field": p.field,
                            "value": p.value,
                            "expected": p.expected,
                            "fix": p.fix,
                            "message": str(p),
                        }
                        for p in problems
                    ],
                },
                indent=2,
            )
        )
        if problems:
            raise SystemExit(1)
        return
    if problems:
        for p in problems:
            click.echo(str(p), err=True)
        n = len(problems)
        fail(f"{n} problem{'s' if n != 1 else ''}; nothing was recorded. Fix them and run again.")
    verb = "would record" if dry_run else "recorded"
    for item in result.created:
        click.echo(
            f"{verb} {item['message_id']} to {item['recipient']} for {item['meeting']}: "
            f"{', '.join(item['actions'])} ({item['source']})"
        )
    for item in result.unchanged:
        click.echo(f"already recorded: {item['message_id']} ({item['source']})")
    click.echo(
        f"{len(result.created)} {verb}, {len(result.unchanged)} already recorded"
        + (" (dry run: nothing saved)" if dry_run else "")
    )
