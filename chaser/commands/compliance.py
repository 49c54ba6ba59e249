"""`chaser compliance --plan CODE [--from DATE] [--to DATE] [--json]`: each monitoring duty of
the improvement notice with the records that prove it over the period, and every gap named
(workflows/board/compliance.py). Exits 1 when a duty has a gap, so a scheduled run can alert."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import click

from chaser.commands.common import fail, parse_now, plan_files, plan_option, runtime_from
from chaser.settings import Settings
from workflows.calendar.cycles import LONDON


@click.group(invoke_without_command=True)
@plan_option
@click.option(
    "--from",
    "start",
    metavar="DATE",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The first day of the period (default: 182 days before --to).",
)
@click.option(
    "--to",
    "end",
    metavar="DATE",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The last day of the period (default: today).",
)
@click.option(
    "--now",
    "now_text",
    metavar="TIME",
    hidden=True,
    help="As if it were this moment (tests and rehearsals).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the duties as JSON.")
@click.pass_obj
def compliance(
    settings: Settings, plan_code: str | None, start: Any, end: Any, now_text: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Evidence of the improvement notice's duties over a period, with the gaps named."""
    from sqlmodel import Session

    from workflows.board.compliance import compliance as check

    files = plan_files(settings, plan_code)
    runtime = runtime_from(settings, only=files.code)
    now = parse_now(now_text)
    last: date = end.date() if end else now.astimezone(LONDON).date()
    first: date = start.date() if start else last - timedelta(days=182)
    if first > last:
        fail(f"--from {first} is after --to {last}; give the period's first day first")
    with Session(runtime.engine) as session:
        try:
            found = check(
                session, runtime.plan.code, runtime.plan.cycles(now), start=first, end=last,
                now=now,
            )  # fmt: skip
        except LookupError as exc:
            fail(str(exc))
    runtime.close()
    if as_json:
        click.echo(json.dumps(_as_json(found), indent=2))
    else:
        click.echo(
            f"{found.plan_code}: the improvement notice's duties, {_day(first)} to {_day(last)} "
            f"(board: {found.board or 'no group has mandatory invitees'})"
        )
        for duty in found.duties:
            click.echo(f"\n{'MET' if duty.met else 'GAPS'}  {duty.title}")
            for line in duty.evidence:
                click.echo(f"  {line}")
            for gap in duty.gaps:
                click.echo(f"  gap: {gap}")
        click.echo(f"\n{found.gaps} gap(s).")
    if found.gaps:
        raise SystemExit(1)


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _as_json(found: Any) -> dict[str, Any]:
    return {
        "plan": found.plan_code,
        "from": found.start.isoformat(),
        "to": found.end.isoformat(),
        "board": found.board,
        "gaps": found.gaps,
        "duties": [
            {"code": d.code, "title": d.title, "met": d.met, "evidence": list(d.evidence),
             "gaps": list(d.gaps)}
            for d in found.duties
        ],
    }  # fmt: skip
