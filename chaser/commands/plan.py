"""``chaser plan``: import a council's plan workbook, list its actions."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlmodel import Session

from chaser.commands.common import engine_from, fail
from chaser.settings import Settings
from workflows.plan.mapping import MappingError
from workflows.views.plan_list import ActionLine, list_actions

if TYPE_CHECKING:
    from chaser.importing import ImportOutcome


@click.group()
def plan() -> None:
    """The improvement plan: import a council workbook, list its actions."""


@plan.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--plan",
    "plan_code",
    metavar="CODE",
    help="The plan this import belongs to (default: the mapping's plan.code).",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="The layout of this workbook (default: the one file in config/mappings/).",
)
@click.option("--sheet", metavar="NAME", help="The sheet to read (default: the mapping's sheet).")
@click.option("--dry-run", is_flag=True, help="Read and report everything; change nothing.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"actions": N, "warnings": [...], "errors": [...]} (see README).',
)
@click.pass_obj
def plan_import(
    settings: Settings,
    file: Path,
    plan_code: str | None,
    mapping_file: Path | None,
    sheet: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import (or re-import) a plan workbook (.xlsx, .xls or .csv)."""
    from chaser.importing import choose_mapping, import_plan

    try:
        mapping = choose_mapping(settings.config_dir, mapping_file)
    except MappingError as exc:
        fail(str(exc))
    engine = engine_from(settings)
    outcome = import_plan(
        engine,
        file,
        mapping=mapping,
        now=datetime.now(UTC),
        plan_code=plan_code,
        sheet=sheet,
        dry_run=dry_run,
    )
    if as_json:
        click.echo(json.dumps(outcome.as_json(), indent=2, ensure_ascii=False))
    else:
        _print_outcome(outcome)
    if not outcome.ok:
        sys.exit(1)


def _print_outcome(outcome: ImportOutcome) -> None:
    for error in outcome.errors:
        click.echo(f"error: {error.message}", err=True)
    if not outcome.ok:
        return
    for w in outcome.warnings:
        click.echo(f"warning: {w}")
    m = outcome.merge
    assert m is not None
    prefix = "dry run, nothing saved: " if outcome.dry_run else ""
    click.echo(
        f"{prefix}{outcome.actions} actions read into plan {outcome.plan_code}: "
        f"{m.created} new, {m.updated} updated, {m.unchanged} unchanged, {m.withdrawn} withdrawn, "
        f"{m.reinstated} reinstated, {m.forecast_changes} forecast changes; "
        f"{len(outcome.warnings)} warnings"
    )


@plan.command("list")
@click.option("--plan", "plan_code", metavar="CODE", help="Only this plan.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see README).")
@click.pass_obj
def plan_list(settings: Settings, plan_code: str | None, as_json: bool) -> None:
    """Actions with their accountable lead, due date (at its precision), forecast and status."""
    engine = engine_from(settings)
    with Session(engine) as session:
        lines = list_actions(session, plan_code)
    if as_json:
        click.echo(json.dumps([line.as_json() for line in lines], indent=2, ensure_ascii=False))
        return
    print_actions(lines)


def print_actions(lines: list[ActionLine]) -> None:
    click.echo(f"{'REF':<7} {'LEAD':<5} {'DUE':<10} {'FORECAST':<10} {'STATUS':<10} TITLE")
    for line in lines:
        status = "withdrawn" if line.withdrawn else (line.status_label or line.status or "-")
        title = line.title.replace("\n", " ")
        if len(title) > 60:
            title = title[:59] + "…"
        click.echo(
            f"{line.ref:<7} {line.accountable or '?':<5} {line.due or '-':<10} "
            f"{line.forecast or '-':<10} {status:<10} {title}"
        )
