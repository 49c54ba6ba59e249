"""``chaser people``: the people directory (import a CSV, list it)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlmodel import Session, select

from chaser.commands.common import engine_from, partnership_of, plan_option
from chaser.settings import Settings
from workflows.plan.people import PeopleFileError
from workflows.store.models import Person


@click.group()
def people() -> None:
    """The people directory: who leads what, their email, Teams id and delegate."""


@people.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; change nothing.")
@plan_option
@click.pass_obj
def people_import(settings: Settings, file: Path, dry_run: bool, plan_code: str | None) -> None:
    """Add or update people from a CSV (columns: code, role, name, email, teams_upn,
    delegate_code, sro, and optionally away_until).

    They join the directory of the plan's partnership (chasing.yaml's ``partnership:``), which
    every plan of that partnership shares."""
    partnership = partnership_of(settings, plan_code)
    engine = engine_from(settings)
    try:
        from chaser.importing import import_people

        result = import_people(
            engine, file, now=datetime.now(UTC), dry_run=dry_run, partnership=partnership
        )
    except PeopleFileError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    verb = "would add" if dry_run else "added"
    where = f" in partnership {partnership}" if partnership else ""
    click.echo(
        f"{verb} {result.created}, updated {result.updated}, unchanged {result.unchanged} "
        f"people{where}"
    )


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@plan_option
@click.pass_obj
def people_list(settings: Settings, as_json: bool, plan_code: str | None) -> None:
    """Everyone in the directory (of the plan's partnership)."""
    partnership = partnership_of(settings, plan_code)
    engine = engine_from(settings)
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(Person).where(Person.partnership == partnership).order_by(Person.code)
            )
        )
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
