"""``chaser plan``: import a council's plan workbook, check one first, list its actions."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlmodel import Session

from chaser.commands.common import engine_from, fail, partnership_of, settings_of
from chaser.settings import Settings
from workflows.plan.mapping import MappingError
from workflows.views.plan_list import ActionLine, list_actions

if TYPE_CHECKING:
    from chaser.importing import ImportOutcome
    from workflows.plan.check import ChaseSetup
    from workflows.plan.leads import DirectoryEntry


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
        mapping = choose_mapping(settings.config_dir, mapping_file, plan_code=plan_code)
    except MappingError as exc:
        fail(str(exc))
    code = plan_code or mapping.plan.code
    engine = engine_from(settings)
    outcome = import_plan(
        engine,
        file,
        mapping=mapping,
        now=datetime.now(UTC),
        plan_code=plan_code,
        sheet=sheet,
        dry_run=dry_run,
        partnership=partnership_of(settings, code),
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


@plan.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="The layout of this workbook (default: as for `plan import`).",
)
@click.option("--sheet", metavar="NAME", help="The sheet to read (default: the mapping's sheet).")
@click.option(
    "--plan",
    "plan_code",
    metavar="CODE",
    help="The plan it would be imported into (default: the mapping's plan.code).",
)
@click.option(
    "--people",
    "people_file",
    type=click.Path(path_type=Path),
    metavar="CSV",
    help="Resolve leads against this people CSV (default: the store's people directory).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def plan_check(
    file: Path,
    mapping_file: Path | None,
    sheet: str | None,
    plan_code: str | None,
    people_file: Path | None,
    as_json: bool,
) -> None:
    """Read a plan workbook and report what Chaser makes of it; nothing is saved.

    Actions per area, leads resolved and not, due dates by how they are written, and which
    actions no meeting would chase, and why (chasing.yaml's meetings, cycles.yaml's scopes).
    """
    from chaser.importing import choose_mapping
    from integrations.spreadsheets import SpreadsheetError, read_grid
    from workflows.plan.check import check_plan
    from workflows.plan.reading import PlanReadError, read_plan

    settings = settings_of()
    try:
        mapping = choose_mapping(settings.config_dir, mapping_file, plan_code=plan_code)
    except MappingError as exc:
        fail(str(exc))
    code = plan_code or mapping.plan.code
    try:
        grid = read_grid(file, sheet if sheet is not None else mapping.sheet)
    except SpreadsheetError as exc:
        fail(str(exc))
    if file.suffix.lower() == ".csv":
        grid.sheet = file.name
    setup, problem, partnership = _check_setup(settings.config_dir, code)
    people = _check_directory(settings, people_file, partnership)
    try:
        parsed = read_plan(grid, mapping, people)
    except PlanReadError as exc:
        for error in exc.problems[:-1]:
            click.echo(f"error: {file}: {error.message}", err=True)
        fail(f"{file}: {exc.problems[-1].message}")
    report = check_plan(
        parsed, mapping=mapping.name, plan_code=code, setup=setup, setup_problem=problem
    )
    if as_json:
        click.echo(
            json.dumps({**report.as_json(), "people": len(people)}, indent=2, ensure_ascii=False)
        )
        return
    for line in report.report():
        click.echo(line)
    if not people:
        click.echo(
            "\nThe people directory is empty, so no lead could be resolved: pass --people "
            "FILE.csv, or run `chaser people import FILE.csv` first."
        )


def _check_directory(
    settings: Settings, people_file: Path | None, partnership: str
) -> list[DirectoryEntry]:
    """The people directory to resolve leads in: the CSV given, else the plan's in the store."""
    from workflows.plan.leads import DirectoryEntry
    from workflows.plan.people import PeopleFileError, directory, read_people_csv

    if people_file is None:
        with Session(engine_from(settings)) as session:
            return directory(session, partnership)
    try:
        raw = people_file.read_bytes()
    except OSError as exc:
        fail(f"{people_file}: cannot be read ({exc.strerror or exc}); check the path")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    try:
        records = read_people_csv(text, source=people_file.name)
    except PeopleFileError as exc:
        for p in exc.problems[:-1]:
            click.echo(f"error: {p}", err=True)
        fail(str(exc.problems[-1]) if exc.problems else str(exc))
    return [DirectoryEntry(code=r.code, name=r.name, role=r.role) for r in records]


def _check_setup(config_dir: Path, plan_code: str) -> tuple[ChaseSetup | None, str, str]:
    """The meetings chased and their scopes (the configuration of plan ``plan_code``, else of
    the first plan configured, so that the report can say it chases another plan), or None and
    why not; and the plan's partnership."""
    from chaser.plans import configured_plans
    from workflows.calendar.cycles import CyclesConfigError, load_cycles
    from workflows.chasing.config import ChasingConfigError, load_chasing
    from workflows.plan.check import chase_setup

    try:
        plans = configured_plans(config_dir)
        files = plans.get(plan_code) or next(iter(plans.values()))
        cycles = load_cycles(files.cycles)
        chasing = load_chasing(files.chasing, groups=cycles.codes)
    except (CyclesConfigError, ChasingConfigError) as exc:
        return None, str(exc), ""
    partnership = files.partnership if files.code == plan_code else ""
    return chase_setup(cycles, chasing), "", partnership


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
