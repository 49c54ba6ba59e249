"""The people directory: reading it from a CSV and keeping it in the store.

The CSV has a header row with these columns (order free, extra columns ignored):
``code`` (required: the initials the plan uses, e.g. ``AP``), ``name`` (required), ``role``,
``email``, ``teams_upn``, ``delegate_code`` (someone else in the directory who answers while they
are away), ``sro`` (``yes``/``no``), and optionally ``away_until`` (``2026-12-01``).

A file the csv module cannot read, and a cell longer than a spreadsheet cell may be
(:data:`~workflows.plan.sheet.MAX_CELL_CHARS`), are reported as problems; characters no store can
keep (NUL, other control characters) are taken out of the text.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from workflows.plan.leads import DirectoryEntry
from workflows.plan.reading import Problem
from workflows.plan.sheet import (
    MAX_CELL_CHARS,
    column_letter,
    has_control_characters,
    strip_control_characters,
)
from workflows.store.models import Person, Plan

REQUIRED = ("code", "name")
KNOWN = ("code", "name", "role", "email", "teams_upn", "delegate_code", "sro", "away_until")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9&'-]{0,31}$")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


@dataclass(frozen=True)
class PersonRecord:
    code: str
    name: str
    role: str
    email: str
    teams_id: str
    delegate_code: str
    is_sro: bool
    away_until: date | None


class PeopleFileError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def read_people_csv(text: str, *, source: str = "people.csv") -> list[PersonRecord]:
    """Every person in the CSV, or :class:`PeopleFileError` listing every bad cell."""
    rows = _csv_rows(text, source)
    if not rows:
        raise PeopleFileError([Problem(kind="empty", sheet=source, message="the file is empty")])
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PeopleFileError(
            [
                Problem(
                    kind="missing_column",
                    sheet=source,
                    row=1,
                    message=(
                        f"no {', '.join(repr(m) for m in missing)} column in the header row "
                        f"(it has {', '.join(repr(h) for h in header)}); the people CSV needs "
                        f"columns {', '.join(KNOWN)}"
                    ),
                    expected=", ".join(KNOWN),
                )
            ]
        )
    col = {name: header.index(name) for name in KNOWN if name in header}
    problems: list[Problem] = []
    records: list[PersonRecord] = []
    seen: dict[str, int] = {}

    def cell(row: list[str], name: str) -> str:
        i = col.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    def bad(r: int, name: str, value: str, message: str, expected: str) -> None:
        i = col.get(name, 0)
        problems.append(
            Problem(
                kind="bad_cell",
                sheet=source,
                row=r,
                column=column_letter(i),
                header=name,
                value=value,
                expected=expected,
                message=message,
            )
        )

    for r, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        code, name, email = cell(row, "code"), cell(row, "name"), cell(row, "email")
        if not _CODE.match(code):
            bad(r, "code", code, f"code {code!r} is not usable", "initials such as 'AP'")
            continue
        if code.upper() in seen:
            bad(
                r,
                "code",
                code,
                f"code {code!r} is already used on row {seen[code.upper()]}",
                "a code used once",
            )
            continue
        seen[code.upper()] = r
        if not name:
            bad(r, "name", name, f"{code} has no name", "the person's name")
        if email and not _EMAIL.match(email):
            bad(
                r,
                "email",
                email,
                f"email {email!r} of {code} is not an address",
                "name@example.org",
            )
        sro = cell(row, "sro").lower()
        if sro not in _YES | _NO:
            bad(r, "sro", sro, f"sro {sro!r} of {code} is not yes or no", "yes or no")
        away_text = cell(row, "away_until")
        away = _parse_day(away_text) if away_text else None
        if away_text and away is None:
            bad(
                r,
                "away_until",
                away_text,
                f"away_until {away_text!r} of {code} is not a date",
                "2026-12-01",
            )
        records.append(
            PersonRecord(
                code=code.upper(),
                name=name,
                role=cell(row, "role"),
                email=email,
                teams_id=cell(row, "teams_upn"),
                delegate_code=cell(row, "delegate_code").upper(),
                is_sro=sro in _YES,
                away_until=away,
            )
        )
    codes = {p.code for p in records}
    for p in records:
        if p.delegate_code and p.delegate_code not in codes:
            bad(
                seen[p.code],
                "delegate_code",
                p.delegate_code,
                f"delegate {p.delegate_code!r} of {p.code} is not in this file",
                "the code of another person in the file",
            )
        if p.delegate_code == p.code:
            bad(
                seen[p.code],
                "delegate_code",
                p.delegate_code,
                f"{p.code} cannot delegate to themselves",
                "another person's code",
            )
    if problems:
        raise PeopleFileError(problems)
    return records


def _csv_rows(text: str, source: str) -> list[list[str]]:
    """The file's rows, each cell within the length a cell may have and without characters no
    store can keep; :class:`PeopleFileError` if the csv module cannot read it."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows: list[list[str]] = []
    problems: list[Problem] = []
    try:
        for row in reader:
            for c, cell in enumerate(row):
                if len(cell) > MAX_CELL_CHARS:
                    problems.append(_too_long(source, len(rows) + 1, c, f"{len(cell):,}"))
                    row[c] = ""
                elif has_control_characters(cell):
                    row[c] = strip_control_characters(cell)
            rows.append(row)
    except csv.Error as exc:
        r = len(rows) + 1
        if "field larger than field limit" in str(exc):
            problems.append(_too_long(source, r, None, "more than 131,072"))
        else:
            problems.append(
                Problem(
                    kind="bad_file",
                    sheet=source,
                    row=r,
                    message=(
                        f"row {r} cannot be read as CSV ({exc}); export the people directory "
                        "from Excel again as CSV UTF-8"
                    ),
                )
            )
    if problems:
        raise PeopleFileError(problems)
    return rows


def _too_long(source: str, r: int, c: int | None, length: str) -> Problem:
    where = f"cell {column_letter(c)}{r}" if c is not None else f"a cell of row {r}"
    hint = (
        "" if c is not None else ' (a quote (") left open joins the rest of the file into one cell)'
    )
    return Problem(
        kind="bad_cell",
        sheet=source,
        row=r,
        column=column_letter(c) if c is not None else "",
        message=(
            f"{where} holds {length} characters, but a cell may hold at most "
            f"{MAX_CELL_CHARS:,}{hint}; shorten it and import again"
        ),
        expected=f"at most {MAX_CELL_CHARS:,} characters",
    )


def _parse_day(text: str) -> date | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class PeopleMerge:
    created: int
    updated: int
    unchanged: int


def upsert_people(
    session: Session, records: list[PersonRecord], *, now: datetime, partnership: str = ""
) -> PeopleMerge:
    """Add or update people by code, in ``partnership``'s directory (another partnership's
    person with the same code is someone else). People missing from the file are kept: plans
    refer to them."""
    existing = {p.code: p for p in people_of(session, partnership)}
    created = updated = unchanged = 0
    for rec in records:
        person = existing.get(rec.code)
        values: dict[str, Any] = {
            "name": rec.name,
            "role": rec.role,
            "email": rec.email,
            "teams_id": rec.teams_id,
            "delegate_code": rec.delegate_code,
            "is_sro": rec.is_sro,
            "away_until": rec.away_until,
        }
        if person is None:
            session.add(Person(partnership=partnership, code=rec.code, updated_at=now, **values))
            created += 1
            continue
        if all(getattr(person, k) == v for k, v in values.items()):
            unchanged += 1
            continue
        for k, v in values.items():
            setattr(person, k, v)
        person.updated_at = now
        updated += 1
    session.flush()
    return PeopleMerge(created=created, updated=updated, unchanged=unchanged)


def directory(session: Session, partnership: str = "") -> list[DirectoryEntry]:
    """A partnership's people directory as the lead resolver wants it."""
    return [
        DirectoryEntry(code=p.code, name=p.name, role=p.role)
        for p in people_of(session, partnership)
    ]


def people_of(session: Session, partnership: str) -> list[Person]:
    """Everyone in a partnership's directory, by code."""
    return list(
        session.exec(select(Person).where(Person.partnership == partnership).order_by(Person.code))
    )


def plan_people(session: Session, plan: Plan) -> list[Person]:
    """The people a plan's actions can name: its partnership's directory."""
    return people_of(session, plan.partnership)
