"""``chaser people``: the people directory (import a CSV, list it)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlmodel import Session, select

from chaser.commands.common import engine_from
from chaser.settings import Settings
from workflows.plan.people import PeopleFileError
from workflows.store.models import Person


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
        from chaser.importing import import_people

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
