"""`chaser measures`: import a council's scorecard and its figures, list how each measure is
doing."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chaser.commands.common import engine_from, fail, partnership_of, plan_option, settings_of
from chaser.settings import Settings

if TYPE_CHECKING:
    from chaser.measures_import import Outcome


@click.group()
def measures() -> None:
    """Impact measures: import a scorecard and its readings, list them."""


def print_outcome(outcome: Outcome, what: str) -> None:
    for error in outcome.errors:
        click.echo(f"error: {error.message}", err=True)
    if not outcome.ok:
        click.echo("nothing was imported; fix the file and import it again", err=True)
        return
    for w in outcome.warnings:
        click.echo(f"warning: {w}")
    prefix = "dry run, nothing saved: " if outcome.dry_run else ""
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in outcome.counts.items())
    click.echo(f"{prefix}{what} for plan {outcome.plan_code}: {counts}")


@measures.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@plan_option
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="The scorecard's layout (default: the one in config/mappings/scorecards/).",
)
@click.option(
    "--by", "given_by", default="", metavar="NAME", help="Who is importing (kept with each figure)."
)
@click.option("--dry-run", is_flag=True, help="Read and report everything; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def measures_import(
    settings: Settings,
    file: Path,
    plan_code: str | None,
    mapping_file: Path | None,
    given_by: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import (or re-import) a scorecard workbook or CSV: merges by code, never loses a figure."""
    from chaser.measures_import import choose, import_scorecard
    from workflows.measures.mapping import ScorecardMappingError, load_scorecard_mapping

    try:
        mapping = choose(
            settings.config_dir,
            "scorecards",
            mapping_file,
            plan_code,
            load_scorecard_mapping,
            ScorecardMappingError,
        )
    except ScorecardMappingError as exc:
        fail(str(exc))
    code = plan_code or mapping.plan.code
    outcome = import_scorecard(
        engine_from(settings),
        file,
        mapping=mapping,
        now=datetime.now(UTC),
        plan_code=code,
        partnership=partnership_of(settings, code),
        given_by=given_by or "import",
        dry_run=dry_run,
    )
    if as_json:
        click.echo(json.dumps(outcome.as_json(), indent=2, ensure_ascii=False))
    else:
        print_outcome(outcome, "scorecard read")
    if not outcome.ok:
        sys.exit(1)


@measures.command("readings")
@click.argument("file", type=click.Path(path_type=Path))
@plan_option
@click.option(
    "--by",
    "given_by",
    default="",
    metavar="NAME",
    help="Who gave the figures (when the file has no 'Given by' column).",
)
@click.option("--dry-run", is_flag=True, help="Check every row; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def measures_readings(
    settings: Settings,
    file: Path,
    plan_code: str | None,
    given_by: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import figures from a CSV with columns Measure, Period, Value (and Given by)."""
    from chaser.measures_import import import_readings_file

    code = plan_code or _only_plan(settings)
    outcome = import_readings_file(
        engine_from(settings),
        file,
        plan_code=code,
        now=datetime.now(UTC),
        given_by=given_by or "import",
        dry_run=dry_run,
    )
    if as_json:
        click.echo(json.dumps(outcome.as_json(), indent=2, ensure_ascii=False))
    else:
        print_outcome(outcome, "figures read")
    if not outcome.ok:
        sys.exit(1)


def _only_plan(settings: Settings) -> str:
    from sqlmodel import Session, select

    from workflows.store.models import Plan

    with Session(engine_from(settings)) as session:
        codes = list(session.exec(select(Plan.code)))
    if len(codes) != 1:
        fail(f"the store has {len(codes)} plans ({', '.join(codes) or 'none'}); pass --plan CODE")
    return codes[0]


@measures.command("list")
@plan_option
@click.option(
    "--on", "on_day", metavar="YYYY-MM-DD", help="Assess as on this day (default: today)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def measures_list(plan_code: str | None, on_day: str | None, as_json: bool) -> None:
    """List each measure: latest figure, expected, target, RAG, direction and flags."""
    from sqlmodel import Session, select

    from workflows.measures.scoring import show_period, show_value
    from workflows.measures.store import scorecard_lines
    from workflows.store.models import Plan

    settings = settings_of()
    code = plan_code or _only_plan(settings)
    today = _day(on_day)
    with Session(engine_from(settings)) as session:
        plan = session.exec(select(Plan).where(Plan.code == code)).first()
        if plan is None or plan.id is None:
            fail(
                f"there is no plan {code!r} in the store; pass --plan with an imported plan's code"
            )
        lines = scorecard_lines(session, plan.id, today)
    if as_json:
        click.echo(json.dumps([_json(line) for line in lines], indent=2, ensure_ascii=False))
        return
    if not lines:
        click.echo(f"plan {code} has no measures yet: `chaser measures import SCORECARD`")
    for line in lines:
        s = line.status
        latest = (
            f"{show_value(s.latest.value, line.unit)} ({show_period(s.latest.day, line.frequency)})"
            if s.latest
            else "no figure"
        )
        expected = show_value(round(s.expected, 1), line.unit) if s.expected is not None else "-"
        target = show_value(s.target.value, line.unit) if s.target else "-"
        click.echo(
            f"{line.code:<5} {line.name}: {latest} {s.arrow} {s.direction or ''}; "
            f"expected {expected}, target {target}; {s.rag.upper() or 'no RAG'}"
        )
        for flag in s.flags:
            click.echo(f"      ! {flag.message}")


def _day(text: str | None) -> date:
    if not text:
        from workflows.calendar.cycles import LONDON

        return datetime.now(LONDON).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--on {text!r} is not a date; write e.g. 2025-09-30")


def _json(line: object) -> dict[str, object]:
    from workflows.measures.store import MeasureLine

    assert isinstance(line, MeasureLine)
    s = line.status
    return {
        "code": line.code,
        "name": line.name,
        "unit": line.unit,
        "owner": line.owner,
        "actions": list(line.action_refs),
        "latest": {"period": s.latest.day.isoformat(), "value": s.latest.value}
        if s.latest
        else None,
        "previous": {"period": s.previous.day.isoformat(), "value": s.previous.value}
        if s.previous
        else None,
        "expected": s.expected,
        "target": {"date": s.target.day.isoformat(), "value": s.target.value} if s.target else None,
        "rag": s.rag,
        "direction": s.direction,
        "flags": [{"kind": f.kind, "message": f.message} for f in s.flags],
    }
