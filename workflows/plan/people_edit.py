"""Adding, editing and retiring one person of a people directory, by hand (``chaser people
add|edit|retire``, and the admin's people page).

Each field is checked as the CSV import checks it, every problem named with the field, the
value, what was expected and the fix; nothing is saved while there is one. Every change is an
audit event saying who made it, when, and which fields changed (the values stay in the
directory, not in the audit log).

A person is never deleted: the plan's actions and their history refer to them. **Retiring**
someone marks them away for good (``away_until`` :data:`RETIRED`) with a delegate who answers
for them from then on, so the chase goes to the delegate, as it does for anyone away. Someone
who still leads actions cannot be retired without a delegate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from workflows.access.audit import record
from workflows.plan.people import PersonRecord
from workflows.store.models import Action, Person, Plan

#: ``away_until`` of a retired person: away for good.
RETIRED = date(9999, 12, 31)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9&'-]{0,31}$")
MAX_TEXT = 200

#: The fields a person has, in the order pages and listings show them.
FIELDS = ("name", "role", "email", "teams_id", "delegate_code", "away_until", "is_sro")
LABELS = {
    "code": "Code",
    "name": "Name",
    "role": "Role",
    "email": "Email address",
    "teams_id": "Teams id",
    "delegate_code": "Delegate",
    "away_until": "Away until",
    "is_sro": "Senior responsible officer",
}


@dataclass(frozen=True)
class PersonProblem:
    field: str  # one of FIELDS, or "code"
    value: str
    message: str  # what is wrong and how to fix it

    def __str__(self) -> str:
        return f"{self.field} {self.value!r}: {self.message}"


class PersonEditError(Exception):
    def __init__(self, problems: list[PersonProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class PersonFields:
    """What is set; None leaves a field as it is (when editing)."""

    name: str | None = None
    role: str | None = None
    email: str | None = None
    teams_id: str | None = None
    delegate_code: str | None = None
    away_until: date | None = None
    clear_away: bool = False  # away_until back to none (not away)
    is_sro: bool | None = None


@dataclass(frozen=True)
class LedAction:
    plan: str
    ref: str
    title: str
    withdrawn: bool


def parse_day(text: str) -> date | None:
    """``2026-12-01`` or ``01/12/2026``; None if it is neither."""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def find_person(session: Session, partnership: str, code: str) -> Person | None:
    return session.exec(
        select(Person).where(Person.partnership == partnership, Person.code == code.upper())
    ).first()


def is_retired(person: Person) -> bool:
    return person.away_until == RETIRED


def led_actions(session: Session, person: Person) -> list[LedAction]:
    """The actions ``person`` leads, in every plan, in plan then workbook order."""
    if person.id is None:
        return []
    rows = session.exec(
        select(Action, Plan)
        .where(Action.accountable_id == person.id, Action.plan_id == Plan.id)
        .order_by(col(Plan.code), col(Action.position))
    ).all()
    return [LedAction(p.code, a.ref, a.title, a.withdrawn) for a, p in rows]


def check(
    session: Session,
    partnership: str,
    code: str,
    fields: PersonFields,
    *,
    creating: bool,
    today: date,
) -> list[PersonProblem]:
    """Every problem with adding (``creating``) or changing ``code`` this way."""
    problems: list[PersonProblem] = []
    code = code.strip().upper()
    existing = find_person(session, partnership, code) if _CODE.match(code) else None
    if not _CODE.match(code):
        problems.append(
            PersonProblem(
                "code",
                code,
                "is not usable: write the initials the plan uses, a letter then up to 31 "
                "letters, digits, &, ' or - (e.g. AP)",
            )
        )
    elif creating and existing is not None:
        problems.append(
            PersonProblem(
                "code",
                code,
                f"is already {existing.name or 'someone'}'s: choose other initials, or edit "
                "that person",
            )
        )
    elif not creating and existing is None:
        problems.append(
            PersonProblem(
                "code", code, "is nobody in this directory: `chaser people list` shows the codes"
            )
        )
    if creating and not (fields.name or "").strip():
        problems.append(PersonProblem("name", "", "is required: the person's full name"))
    if fields.name is not None and not creating and not fields.name.strip():
        problems.append(PersonProblem("name", "", "cannot be empty: the person's full name"))
    for name in ("name", "role", "teams_id"):
        value = getattr(fields, name)
        if value is not None and len(value) > MAX_TEXT:
            problems.append(
                PersonProblem(name, value[:40] + "…", f"is longer than {MAX_TEXT} characters")
            )
    if fields.email and not _EMAIL.match(fields.email.strip()):
        problems.append(
            PersonProblem("email", fields.email, "is not an email address: write name@example.org")
        )
    if fields.teams_id and not _EMAIL.match(fields.teams_id.strip()):
        problems.append(
            PersonProblem(
                "teams_id",
                fields.teams_id,
                "is not a Teams sign-in name: write it as an address, name@example.org",
            )
        )
    if fields.delegate_code:
        delegate = fields.delegate_code.strip().upper()
        if delegate == code:
            problems.append(
                PersonProblem("delegate_code", delegate, "is the person themselves: name another")
            )
        else:
            found = find_person(session, partnership, delegate)
            if found is None:
                problems.append(
                    PersonProblem(
                        "delegate_code",
                        delegate,
                        "is nobody in this directory: add them first, or name someone "
                        "`chaser people list` shows",
                    )
                )
            elif is_retired(found):
                problems.append(
                    PersonProblem(
                        "delegate_code",
                        delegate,
                        f"is {found.name or delegate}, who has retired: name someone still here",
                    )
                )
    if fields.away_until is not None and fields.away_until < today and creating:
        problems.append(
            PersonProblem(
                "away_until",
                fields.away_until.isoformat(),
                "is in the past: leave it empty, or give the day they are back",
            )
        )
    return problems


def _apply(person: Person, fields: PersonFields) -> list[str]:
    changed = []
    values: dict[str, object] = {
        "name": fields.name.strip() if fields.name is not None else None,
        "role": fields.role.strip() if fields.role is not None else None,
        "email": fields.email.strip() if fields.email is not None else None,
        "teams_id": fields.teams_id.strip() if fields.teams_id is not None else None,
        "delegate_code": fields.delegate_code.strip().upper()
        if fields.delegate_code is not None
        else None,
        "away_until": fields.away_until,
        "is_sro": fields.is_sro,
    }
    for name, value in values.items():
        if value is None:
            continue
        if getattr(person, name) != value:
            setattr(person, name, value)
            changed.append(name)
    if fields.clear_away and person.away_until is not None:
        person.away_until = None
        changed.append("away_until")
    return changed


def add_person(
    session: Session,
    partnership: str,
    code: str,
    fields: PersonFields,
    *,
    by: str,
    now: datetime,
) -> Person:
    """Add someone; :class:`PersonEditError` naming every problem. Does not commit."""
    problems = check(session, partnership, code, fields, creating=True, today=now.date())
    if problems:
        raise PersonEditError(problems)
    person = Person(partnership=partnership, code=code.strip().upper(), updated_at=now)
    _apply(person, fields)
    session.add(person)
    session.flush()
    record(session, "person_added", now=now, by=by, reason=_reason(partnership, person.code, []))
    return person


def edit_person(
    session: Session,
    partnership: str,
    code: str,
    fields: PersonFields,
    *,
    by: str,
    now: datetime,
) -> tuple[Person, list[str]]:
    """Change someone's fields; the names of those that changed (none: nothing recorded)."""
    problems = check(session, partnership, code, fields, creating=False, today=now.date())
    if problems:
        raise PersonEditError(problems)
    person = find_person(session, partnership, code)
    assert person is not None
    changed = _apply(person, fields)
    if changed:
        person.updated_at = now
        session.add(person)
        record(
            session,
            "person_changed",
            now=now,
            by=by,
            reason=_reason(partnership, person.code, changed),
        )
        session.flush()
    return person, changed


def retire_person(
    session: Session,
    partnership: str,
    code: str,
    *,
    delegate_code: str | None,
    by: str,
    now: datetime,
) -> Person:
    """Retire someone: away for good, their chases going to ``delegate_code`` (or the delegate
    they have). Refused, naming the actions, while they lead actions and have no delegate."""
    person = find_person(session, partnership, code)
    if person is None:
        raise PersonEditError(
            [
                PersonProblem(
                    "code",
                    code.upper(),
                    "is nobody in this directory: `chaser people list` shows the codes",
                )
            ]
        )
    fields = PersonFields(delegate_code=delegate_code, away_until=RETIRED)
    problems = check(session, partnership, code, fields, creating=False, today=now.date())
    delegate = (delegate_code or person.delegate_code or "").strip()
    active = [a for a in led_actions(session, person) if not a.withdrawn]
    if not delegate and active:
        refs = ", ".join(f"{a.ref}" for a in active[:12]) + ("…" if len(active) > 12 else "")
        problems.append(
            PersonProblem(
                "delegate_code",
                "",
                f"is needed: {person.code} leads {len(active)} action"
                f"{'s' if len(active) != 1 else ''} ({refs}); name who answers for them from "
                "now on (--delegate CODE), or change the actions' lead in the plan first",
            )
        )
    if problems:
        raise PersonEditError(problems)
    changed = _apply(person, fields)
    person.updated_at = now
    session.add(person)
    record(
        session,
        "person_retired",
        now=now,
        by=by,
        reason=_reason(partnership, person.code, changed),
    )
    session.flush()
    return person


def _reason(partnership: str, code: str, changed: list[str]) -> str:
    where = f"{partnership}/" if partnership else ""
    return f"{where}{code}" + (f": {', '.join(changed)}" if changed else "")


# -- a people CSV, previewed before it is imported --------------------------------------------


@dataclass(frozen=True)
class ImportChange:
    code: str
    name: str
    kind: str  # "new", "changed" or "unchanged"
    changes: tuple[tuple[str, str, str], ...]  # (field label, before, after) for "changed"


def _shown(value: object) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def preview_import(
    session: Session, partnership: str, records: list[PersonRecord]
) -> list[ImportChange]:
    """What importing ``records`` would change, person by person (nothing is saved)."""
    existing = {
        p.code: p for p in session.exec(select(Person).where(Person.partnership == partnership))
    }
    out: list[ImportChange] = []
    for rec in records:
        person = existing.get(rec.code)
        if person is None:
            out.append(ImportChange(rec.code, rec.name, "new", ()))
            continue
        changes = tuple(
            (LABELS[name], _shown(getattr(person, name)), _shown(value))
            for name, value in (
                ("name", rec.name),
                ("role", rec.role),
                ("email", rec.email),
                ("teams_id", rec.teams_id),
                ("delegate_code", rec.delegate_code),
                ("away_until", rec.away_until),
                ("is_sro", rec.is_sro),
            )
            if getattr(person, name) != value
        )
        out.append(ImportChange(rec.code, rec.name, "changed" if changes else "unchanged", changes))
    return out
