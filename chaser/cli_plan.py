"""``chaser db``, ``chaser people`` and ``chaser plan``: the store, the directory and the plan."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import ImportOutcome, choose_mapping, import_people, import_plan
from chaser.settings import Settings
from chaser.store import StoreNotReady, open_store
from workflows.plan.mapping import MappingError
from workflows.plan.people import PeopleFileError
from workflows.store.db import DatabaseURLError, current_revision, make_engine, upgrade
from workflows.store.models import Person
from workflows.views.plan_list import ActionLine, list_actions


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def engine_from(settings: Settings) -> Engine:
    try:
        return open_store(settings.database_url)
    except (StoreNotReady, DatabaseURLError) as exc:
        fail(str(exc))


# -- db --------------------------------------------------------------------------------------
@click.group()
def db() -> None:
    """The status store: create or upgrade its schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Create the tables, or migrate them to this version of Chaser."""
    try:
        engine = make_engine(settings.database_url)
    except DatabaseURLError as exc:
        fail(str(exc))
    upgrade(engine)
    click.echo(f"database is at revision {current_revision(engine)}")


# -- people ----------------------------------------------------------------------------------
@click.group()
def people() -> None:
    """The people directory: who leads what, their email, Teams id and delegate."""


@people.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; change nothing.")
@click.pass_obj
def people_import(settings: Settings, file: Path, dry_run: bool) -> None:
    """Add or update people from a CSV (columns: code, role, name, email, teams_upn,
    delegate_code, sro, and optionally away_until)."""
    engine = engine_from(settings)
    try:
        result = import_people(engine, file, now=datetime.now(UTC), dry_run=dry_run)
    except PeopleFileError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    verb = "would add" if dry_run else "added"
    click.echo(
        f"{verb} {result.created}, updated {result.updated}, unchanged {result.unchanged} people"
    )


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def people_list(settings: Settings, as_json: bool) -> None:
    """Everyone in the directory."""
    engine = engine_from(settings)
    with Session(engine) as session:
        rows = list(session.exec(select(Person).order_by(Person.code)))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "code": p.code,
                        "name": p.name,
                        "role": p.role,
                        "email": p.email,
                        "teams_id": p.teams_id,
                        "delegate": p.delegate_code or None,
                        "away_until": p.away_until.isoformat() if p.away_until else None,
                        "sro": p.is_sro,
                    }
                    for p in rows
                ],
                indent=2,
            )
        )
        return
    for p in rows:
        click.echo(f"{p.code:<5} {p.name:<24} {p.role[:60]}")


# -- plan ------------------------------------------------------------------------------------
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
