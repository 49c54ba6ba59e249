"""``chaser people``: the people directory (import a CSV, list it)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlmodel import Session, select

from chaser.commands.common import engine_from, fail, partnership_of, plan_option
from chaser.settings import Settings
from workflows.plan.people import PeopleFileError
from workflows.plan.people_edit import (
    LABELS,
    PersonEditError,
    PersonFields,
    add_person,
    edit_person,
    find_person,
    is_retired,
    led_actions,
    parse_day,
    retire_person,
)
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
    """Everyone in the directory (of the plan's partnership): code, name, email, delegate."""
    partnership = partnership_of(settings, plan_code)
    engine = engine_from(settings)
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(Person).where(Person.partnership == partnership).order_by(Person.code)
            )
        )
    if as_json:
        click.echo(json.dumps([_as_json(p) for p in rows], indent=2))
        return
    if not rows:
        click.echo("nobody in the directory yet: `chaser people import FILE` or `people add`")
    for p in rows:
        notes = []
        if p.delegate_code:
            notes.append(f"delegate {p.delegate_code}")
        if is_retired(p):
            notes.append("retired")
        elif p.away_until:
            notes.append(f"away until {p.away_until:%d %b %Y}")
        if p.is_sro:
            notes.append("SRO")
        click.echo(
            f"{p.code:<5} {p.name[:24]:<24} {(p.email or '(no email)')[:40]:<40} "
            + ", ".join(notes)
        )


def _as_json(p: Person) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "role": p.role,
        "email": p.email,
        "teams_id": p.teams_id,
        "delegate": p.delegate_code or None,
        "away_until": p.away_until.isoformat() if p.away_until else None,
        "retired": is_retired(p),
        "sro": p.is_sro,
    }


def _person_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--name", help="Their full name."),
            click.option("--role", help="Their job title."),
            click.option("--email", metavar="ADDRESS", help="Where emails go ('' for none)."),
            click.option(
                "--teams-id", metavar="UPN", help="Their Teams sign-in name ('' for none)."
            ),
            click.option(
                "--delegate",
                metavar="CODE",
                help="Who answers while they are away ('' for nobody).",
            ),
            click.option(
                "--away-until",
                metavar="DATE",
                help="Away until this day (YYYY-MM-DD); '' when they are back.",
            ),
            click.option("--sro/--not-sro", default=None, help="A senior responsible officer."),
            click.option("--by", required=True, metavar="NAME", help="Who made the change (kept)."),
            plan_option,
        ]
    ):
        f = option(f)
    return f


def _fields(
    name: str | None,
    role: str | None,
    email: str | None,
    teams_id: str | None,
    delegate: str | None,
    away_until: str | None,
    sro: bool | None,
) -> PersonFields:
    away = None
    if away_until:
        away = parse_day(away_until)
        if away is None:
            fail(
                f"--away-until {away_until!r} is not a date; write it as YYYY-MM-DD "
                "(e.g. 2026-12-01), or '' when they are back"
            )
    return PersonFields(
        name=name,
        role=role,
        email=email,
        teams_id=teams_id,
        delegate_code=delegate,
        away_until=away,
        clear_away=away_until == "",
        is_sro=sro,
    )


def _refused(code: str, exc: PersonEditError) -> NoReturn:
    for problem in exc.problems:
        flag = _FLAGS.get(problem.field, problem.field)
        click.echo(f"error: {code.upper()}: {flag} {problem.value!r} {problem.message}", err=True)
    click.echo("nothing was changed.", err=True)
    sys.exit(1)


_FLAGS = {
    "code": "code",
    "name": "--name",
    "role": "--role",
    "email": "--email",
    "teams_id": "--teams-id",
    "delegate_code": "--delegate",
    "away_until": "--away-until",
    "is_sro": "--sro",
}


@people.command("add")
@click.argument("code")
@_person_options
@click.pass_obj
def people_add(
    settings: Settings,
    code: str,
    name: str | None,
    role: str | None,
    email: str | None,
    teams_id: str | None,
    delegate: str | None,
    away_until: str | None,
    sro: bool | None,
    by: str,
    plan_code: str | None,
) -> None:
    """Add someone to the directory: CODE is the initials the plan uses (e.g. AP)."""
    fields = _fields(name, role, email, teams_id, delegate, away_until, sro)
    partnership = partnership_of(settings, plan_code)
    with Session(engine_from(settings)) as session:
        try:
            person = add_person(session, partnership, code, fields, by=by, now=datetime.now(UTC))
        except PersonEditError as exc:
            _refused(code, exc)
        session.commit()
        click.echo(f"added {person.code} {person.name}" + _where(partnership))


@people.command("edit")
@click.argument("code")
@_person_options
@click.pass_obj
def people_edit(
    settings: Settings,
    code: str,
    name: str | None,
    role: str | None,
    email: str | None,
    teams_id: str | None,
    delegate: str | None,
    away_until: str | None,
    sro: bool | None,
    by: str,
    plan_code: str | None,
) -> None:
    """Change someone's details: only the options given change."""
    fields = _fields(name, role, email, teams_id, delegate, away_until, sro)
    partnership = partnership_of(settings, plan_code)
    with Session(engine_from(settings)) as session:
        try:
            person, changed = edit_person(
                session, partnership, code, fields, by=by, now=datetime.now(UTC)
            )
        except PersonEditError as exc:
            _refused(code, exc)
        session.commit()
        if not changed:
            click.echo(f"{person.code}: nothing to change")
            return
        words = ", ".join(LABELS[c].lower() for c in changed)
        click.echo(f"changed {person.code} {person.name}: {words}")


@people.command("retire")
@click.argument("code")
@click.option(
    "--delegate", metavar="CODE", help="Who answers for them from now on (needed if they lead)."
)
@click.option("--by", required=True, metavar="NAME", help="Who retired them (kept).")
@plan_option
@click.pass_obj
def people_retire(
    settings: Settings, code: str, delegate: str | None, by: str, plan_code: str | None
) -> None:
    """Retire someone who has left: they are never chased again, their delegate is instead.
    They stay in the directory, since the plan's history names them."""
    partnership = partnership_of(settings, plan_code)
    with Session(engine_from(settings)) as session:
        try:
            person = retire_person(
                session, partnership, code, delegate_code=delegate, by=by, now=datetime.now(UTC)
            )
        except PersonEditError as exc:
            _refused(code, exc)
        session.commit()
        click.echo(
            f"retired {person.code} {person.name}"
            + (f"; {person.delegate_code} answers for them" if person.delegate_code else "")
        )


@people.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@plan_option
@click.pass_obj
def people_show(settings: Settings, code: str, as_json: bool, plan_code: str | None) -> None:
    """One person: their details and the actions they lead."""
    partnership = partnership_of(settings, plan_code)
    with Session(engine_from(settings)) as session:
        person = find_person(session, partnership, code)
        if person is None:
            fail(f"nobody has code {code.upper()!r} in this directory; `chaser people list`")
        led = led_actions(session, person)
    if as_json:
        data = _as_json(person) | {
            "leads": [
                {"plan": a.plan, "ref": a.ref, "title": a.title, "withdrawn": a.withdrawn}
                for a in led
            ]
        }
        click.echo(json.dumps(data, indent=2))
        return
    status = (
        "retired"
        if is_retired(person)
        else f"away until {person.away_until:%d %b %Y}"
        if person.away_until
        else "-"
    )
    for label, value in (
        ("code", person.code),
        ("name", person.name),
        ("role", person.role or "-"),
        ("email", person.email or "-"),
        ("teams id", person.teams_id or "-"),
        ("delegate", person.delegate_code or "-"),
        ("away", status),
        ("SRO", "yes" if person.is_sro else "no"),
    ):
        click.echo(f"{label + ':':<10}{value}")
    active = [a for a in led if not a.withdrawn]
    click.echo(f"leads {len(active)} action{'s' if len(active) != 1 else ''}:")
    for a in active:
        click.echo(f"  {a.plan}  {a.ref:<6} {' '.join(a.title.split())[:90]}")


def _where(partnership: str) -> str:
    return f" in partnership {partnership}" if partnership else ""
