"""What a meeting decided, recorded by the secretary after it: attendance, the resolutions and
the new actions they set.

A new action joins the plan as an ordinary ``Action`` (its ref in the plan's own scheme, its
area from the ref, its owner from the plan's people directory, its due date the baseline), so it
is chased like any other; its ``decision`` row says which meeting set it, and its history's
first entry says who recorded it. Decisions are also read from a CSV file
(:func:`read_decisions_csv`), every bad cell named with its row and column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from workflows.access.audit import record
from workflows.board.baselines import meeting_words, read_due
from workflows.board.errors import BoardInputError
from workflows.plan.dates import FuzzyDate
from workflows.store.board_models import Decision, MeetingRecord
from workflows.store.models import Action, Area, ChangeKind, Channel, Person, Plan, StatusChange

MEETING_KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}:\d{4}-\d{2}-\d{2}$")
CSV_COLUMNS = ("decision", "ref", "title", "owner", "due")


@dataclass(frozen=True)
class NewAction:
    """An action the board set: its ref in the plan's scheme, owner (a person code) and due."""

    ref: str
    owner: str
    due: FuzzyDate
    title: str = ""  # the decision's words when empty


@dataclass(frozen=True)
class DecisionInput:
    text: str
    action: NewAction | None = None


def _plan(session: Session, plan_code: str) -> Plan:
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None or plan.id is None:
        raise BoardInputError("plan", f"plan: there is no plan {plan_code!r} in the store.")
    return plan


def _check_meeting(meeting_key: str) -> str:
    key = meeting_key.strip()
    if not MEETING_KEY.match(key):
        raise BoardInputError(
            "meeting",
            f"meeting: {key[:40]!r} is not a meeting. Expected its group and date, e.g. "
            "'SIB:2025-09-30'; choose it from the list.",
        )
    return key


def record_attendance(
    session: Session,
    plan_code: str,
    meeting_key: str,
    *,
    present: Sequence[str],
    apologies: Sequence[str] = (),
    by: str,
    now: datetime,
) -> MeetingRecord:
    """Who attended (and who sent apologies); a later record replaces it. Does not commit."""
    plan = _plan(session, plan_code)
    key = _check_meeting(meeting_key)
    names = [p.strip() for p in present if p.strip()]
    if not names:
        raise BoardInputError(
            "present",
            "present: no one named. Expected the names of those who attended, one on each line.",
        )
    row = session.exec(
        select(MeetingRecord).where(
            MeetingRecord.plan_id == plan.id, MeetingRecord.meeting_key == key
        )
    ).first() or MeetingRecord(plan_id=plan.id or 0, meeting_key=key, recorded_at=now)
    row.present = names
    row.apologies = [a.strip() for a in apologies if a.strip()]
    row.recorded_by, row.recorded_at = by, now
    session.add(row)
    record(
        session,
        "attendance_recorded",
        now=now,
        by=by,
        reason=f"{plan_code} {key}: {len(names)} present, {len(row.apologies)} apologies",
    )
    session.flush()
    return row


def record_decisions(
    session: Session,
    plan_code: str,
    meeting_key: str,
    decisions: Sequence[DecisionInput],
    *,
    by: str,
    now: datetime,
) -> list[Decision]:
    """Record the meeting's decisions, in order, each new action joining the plan. All or
    nothing: the first bad one raises :class:`BoardInputError` and the caller rolls back."""
    plan = _plan(session, plan_code)
    assert plan.id is not None
    key = _check_meeting(meeting_key)
    if not by.strip():
        raise BoardInputError("by", "by: no one named. Say who records it (--by NAME).")
    last = session.exec(
        select(func.max(Decision.position)).where(
            Decision.plan_id == plan.id, Decision.meeting_key == key
        )
    ).one()
    position = int(last or 0)
    made: list[Decision] = []
    for n, item in enumerate(decisions, start=1):
        text = item.text.strip()
        if not text:
            raise BoardInputError(
                "decision", f"decision {n}: no words. Expected the resolution as minuted."
            )
        action = _new_action(session, plan, key, item.action, by, now) if item.action else None
        position += 1
        decision = Decision(
            plan_id=plan.id,
            meeting_key=key,
            position=position,
            text=text,
            action_id=action.id if action else None,
            recorded_by=by,
            recorded_at=now,
        )
        session.add(decision)
        made.append(decision)
    record(
        session,
        "decisions_recorded",
        now=now,
        by=by,
        reason=f"{plan_code} {key}: {len(made)} decision(s), "
        f"{sum(1 for d in made if d.action_id)} new action(s)",
    )
    session.flush()
    return made


def _shape(ref: str) -> str:
    return re.sub(r"\d+", "9", re.sub(r"[A-Za-z]+", "A", ref))


def _new_action(
    session: Session, plan: Plan, key: str, new: NewAction, by: str, now: datetime
) -> Action:
    ref = new.ref.strip()
    existing = list(session.exec(select(Action.ref).where(Action.plan_id == plan.id)))
    if ref in existing:
        raise BoardInputError(
            "ref",
            f"ref: the plan already has an action {ref!r}. Expected a new ref in the plan's "
            "scheme; use the next free number.",
        )
    shapes = {_shape(r) for r in existing}
    if not ref or (shapes and _shape(ref) not in shapes):
        examples = ", ".join(sorted(existing)[:3])
        raise BoardInputError(
            "ref",
            f"ref: {ref[:32]!r} is not in the plan's own scheme. Expected a ref like the plan's "
            f"({examples}); write one the plan would use.",
        )
    number = re.match(r"\D*(\d+)", ref)
    area = (
        session.exec(
            select(Area).where(Area.plan_id == plan.id, Area.number == int(number.group(1)))
        ).first()
        if number
        else None
    )
    if area is None:
        raise BoardInputError(
            "ref",
            f"ref: {ref!r} names no area of the plan. Expected its first number to be the area "
            "the action belongs to (e.g. 2.12 for area 2).",
        )
    owner = session.exec(
        select(Person).where(
            Person.partnership == plan.partnership, Person.code == new.owner.strip()
        )
    ).first()
    if owner is None:
        raise BoardInputError(
            "owner",
            f"owner: no one has the code {new.owner.strip()[:32]!r} in the plan's people "
            "directory. Expected a person's code (e.g. AP); add them with `chaser people "
            "import` first.",
        )
    position = session.exec(
        select(func.max(Action.position)).where(Action.plan_id == plan.id)
    ).one()
    due = new.due
    action = Action(
        plan_id=plan.id or 0,
        area_id=area.id,
        ref=ref,
        position=int(position or 0) + 1,
        title=new.title.strip(),
        accountable_id=owner.id,
        lead_raw=owner.code,
        sro_id=area.sro_id,
        baseline_due=due.last_day,
        baseline_due_precision=str(due.precision),
        forecast_due=due.last_day,
        forecast_due_precision=str(due.precision),
        due_kind="date",
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    session.flush()
    assert action.id is not None
    session.add(
        StatusChange(
            action_id=action.id,
            recorded_at=now,
            channel=str(Channel.ADMIN),
            kind=str(ChangeKind.CREATED),
            due_after=due.last_day,
            due_after_precision=str(due.precision),
            note=f"Set by {meeting_words(key)}; added to the plan by {by}.",
        )
    )
    return action


def read_decisions_csv(data: bytes | str) -> list[DecisionInput]:
    """Decisions from a CSV file with the columns ``decision, ref, title, owner, due`` (``ref``,
    ``title``, ``owner``, ``due`` only for a decision that sets an action). Every bad cell is
    reported at once, by row (as a spreadsheet numbers it) and column."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("decision",) if c not in headers]
    if missing:
        raise BoardInputError(
            "file",
            f"file: no {', '.join(missing)} column in the header row "
            f"({', '.join(headers) or 'empty'}). Expected the columns {', '.join(CSV_COLUMNS)}; "
            "add the header row.",
        )
    found: list[DecisionInput] = []
    problems: list[str] = []
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        words = row.get("decision", "")
        if not words:
            problems.append(f"row {number}, column decision: empty; write the resolution")
        sets = [row.get(c, "") for c in ("ref", "owner", "due")]
        action = None
        if any(sets):
            for column, value in zip(("ref", "owner", "due"), sets, strict=True):
                if not value:
                    problems.append(
                        f"row {number}, column {column}: empty; a decision that sets an action "
                        "needs its ref, owner and due date"
                    )
            due = None
            if sets[2]:
                try:
                    due = read_due("due", sets[2])
                except BoardInputError as e:
                    problems.append(f"row {number}, column {e.message}")
            if all(sets) and due is not None:
                action = NewAction(sets[0], sets[1], due, row.get("title", ""))
        found.append(DecisionInput(words, action))
    if problems:
        raise BoardInputError("file", "; ".join(problems) + ". Nothing was recorded.")
    if not found:
        raise BoardInputError("file", "file: no decisions in it. Expected one row per decision.")
    return found
