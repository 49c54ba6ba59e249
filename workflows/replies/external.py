"""Update requests another system sent: recorded so that replies to them are linked.

A council may send some update requests itself (from a shared mailbox, a mail merge) before
or beside Chaser. ``chaser requests record`` reads each such request, from a CSV file or from
the ``.eml`` files of the Sent Items folder, and records it as an outbox row that is already
*sent* on the ``external`` channel: its ``provider_id`` is the request's Message-ID, so a reply
(``In-Reply-To``/``References``) finds it exactly as it finds Chaser's own requests
(:func:`workflows.replies.intake._find_request`), and through it the lead, the meeting, the
actions asked about and the papers deadline. Nothing is ever sent for such a row.

Reading is pure (:func:`read_csv`, :func:`read_eml`); :func:`record_requests` checks every
request against the store and the calendar, and writes all of them or none. Every problem names
the file and row (or ``.eml`` file), the column or header, the value, what was expected and
the fix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON, CyclesConfig
from workflows.calendar.meetings import meeting_date, meetings
from workflows.plan.people import plan_people
from workflows.store.models import Action, Delivery, DeliveryAction, DeliveryState, Person, Plan

#: The outbox channel of a request Chaser did not send (nothing dispatches it).
EXTERNAL = "external"
#: The CSV's columns: the first four are required.
REQUIRED_COLUMNS = ("message_id", "recipient", "meeting", "actions")
OPTIONAL_COLUMNS = ("plan", "lead", "sent_at", "subject")
_REF_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one request, said so that it can be fixed."""

    source: str  # "requests.csv row 3", "Sent/update.eml"
    field: str  # the column or header: "recipient", "Message-ID"
    value: str
    expected: str
    fix: str

    def __str__(self) -> str:
        value = f" {self.value!r}" if self.value else " (empty)"
        return f"{self.source}, {self.field}:{value}: expected {self.expected}; {self.fix}"


@dataclass(frozen=True)
class ExternalRequest:
    """An update request as read, before it is checked against the store."""

    source: str
    message_id: str
    recipient: str  # an email address or a people code
    meeting: str  # "SIB:2025-09-30"
    refs: tuple[str, ...]
    plan: str = ""  # "" = the plan the command was given
    lead: str = ""  # "" = the recipient
    sent_at: datetime | None = None
    subject: str = ""
    #: The text of an .eml file, where the refs are looked for when none were given.
    text: str = ""


@dataclass
class RecordResult:
    created: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def bare_id(message_id: str) -> str:
    """``<abc@x>`` → ``abc@x``: how a Message-ID is compared (lower case, no brackets)."""
    return message_id.strip().strip("<>").strip().lower()


# -- reading ---------------------------------------------------------------------------------


def read_csv(path: Path, text: str | None = None) -> tuple[list[ExternalRequest], list[Problem]]:
    """The requests of a CSV file with a header row (columns: :data:`REQUIRED_COLUMNS`, and
    optionally :data:`OPTIONAL_COLUMNS`); rows are numbered as a spreadsheet numbers them."""
    name = path.name
    if text is None:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return [], [
                Problem(name, "file", "", "UTF-8 text", f"save it as CSV UTF-8 ({exc.reason})")
            ]
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return [], [
            Problem(
                f"{name} row 1",
                "header",
                ",".join(header),
                "the columns " + ", ".join(REQUIRED_COLUMNS) + " (and optionally "
                f"{', '.join(OPTIONAL_COLUMNS)})",
                f"add the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                "to the first row",
            )
        ]
    requests: list[ExternalRequest] = []
    problems: list[Problem] = []
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        source = f"{name} row {number}"
        sent_at = None
        if row.get("sent_at"):
            try:
                sent_at = _aware(datetime.fromisoformat(row["sent_at"]))
            except ValueError:
                problems.append(
                    Problem(
                        source,
                        "sent_at",
                        row["sent_at"],
                        "a date and time, e.g. 2025-09-16T09:30 (London time if no zone)",
                        "correct it, or leave it empty for now",
                    )
                )
                continue
        requests.append(
            ExternalRequest(
                source=source,
                message_id=row.get("message_id", ""),
                recipient=row.get("recipient", ""),
                meeting=row.get("meeting", ""),
                refs=_refs(row.get("actions", "")),
                plan=row.get("plan", ""),
                lead=row.get("lead", ""),
                sent_at=sent_at,
                subject=row.get("subject", ""),
            )
        )
    return requests, problems


def read_eml(
    path: Path, *, meeting: str = "", refs: Sequence[str] = (), plan: str = ""
) -> tuple[list[ExternalRequest], list[Problem]]:
    """The request an ``.eml`` file holds: its Message-ID, first To address, Date and
    subject; the meeting (and the actions, unless given) come from the command line, else
    the actions are the plan's refs the message mentions."""
    name = path.name
    try:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    except OSError as exc:
        return [], [Problem(name, "file", "", "a readable .eml file", str(exc))]
    message_id = str(message.get("Message-ID", "") or "").strip()
    to = [a for _, a in getaddresses([str(v) for v in message.get_all("To", [])]) if a]
    sent_at = None
    if message.get("Date"):
        try:
            sent_at = parsedate_to_datetime(str(message["Date"]))
            sent_at = sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            sent_at = None
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            text = str(body.get_content())
        except (LookupError, ValueError):
            text = ""
    subject = " ".join(str(message.get("Subject", "") or "").split())
    return [
        ExternalRequest(
            source=name,
            message_id=message_id,
            recipient=to[0] if to else "",
            meeting=meeting,
            refs=tuple(refs),
            plan=plan,
            sent_at=sent_at,
            subject=subject,
            text=f"{subject}\n{text}",
        )
    ], []


def _refs(cell: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for r in _REF_SPLIT.split(cell) if r))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=LONDON) if value.tzinfo is None else value


# -- checking and recording ------------------------------------------------------------------


def record_requests(
    session: Session,
    requests: Iterable[ExternalRequest],
    *,
    default_plan: str,
    cycles_for: Callable[[str], CyclesConfig | None],
    now: datetime,
    by: str,
    dry_run: bool = False,
) -> RecordResult:
    """Check every request and, if none has a problem (and not ``dry_run``), record them all
    as sent outbox rows on the ``external`` channel. A Message-ID already recorded is left as
    it is (``unchanged``), so running the same file twice records nothing twice."""
    result = RecordResult()
    rows: list[Delivery] = []
    seen: dict[str, str] = {}
    plans: dict[str, tuple[Plan, Mapping[str, Person], Mapping[str, Action]] | None] = {}
    for request in requests:
        problems_before = len(result.problems)
        code = request.plan or default_plan
        if code not in plans:
            plans[code] = _plan(session, code)
        found = plans[code]
        if found is None:
            known = ", ".join(p.code for p in session.exec(select(Plan))) or "none yet"
            result.problems.append(
                Problem(
                    request.source,
                    "plan",
                    code,
                    f"a plan in the store ({known})",
                    "correct the plan's code, or import the plan with `chaser plan import`",
                )
            )
            continue
        plan, people, actions = found
        message_id = request.message_id.strip()
        field_name = "message_id" if " row " in request.source else "Message-ID"
        if not bare_id(message_id) or " " in bare_id(message_id):
            result.problems.append(
                Problem(
                    request.source,
                    field_name,
                    message_id,
                    "the request's Message-ID, e.g. <CAF1234@mail.example.org>",
                    "copy it from the sent message's headers (Outlook: File > Properties > "
                    "Internet headers)",
                )
            )
        elif bare_id(message_id) in seen:
            result.problems.append(
                Problem(
                    request.source,
                    field_name,
                    message_id,
                    "each request once",
                    f"remove it: {seen[bare_id(message_id)]} has the same Message-ID",
                )
            )
        else:
            seen[bare_id(message_id)] = request.source
        recipient = _person(people, request.recipient)
        if recipient is None:
            result.problems.append(
                Problem(
                    request.source,
                    "recipient" if " row " in request.source else "To",
                    request.recipient,
                    f"the email address or code of someone in {plan.code}'s people directory",
                    "correct it, or add them with `chaser people import`",
                )
            )
        lead = _person(people, request.lead) if request.lead else recipient
        if request.lead and lead is None:
            result.problems.append(
                Problem(
                    request.source,
                    "lead",
                    request.lead,
                    f"the email address or code of a lead in {plan.code}'s people directory",
                    "correct it, or leave it empty when the recipient is the lead",
                )
            )
        deadline = _meeting(request, code, cycles_for, result.problems)
        refs = request.refs
        if not refs and request.text:
            refs = _mentioned(request.text, actions, lead.id if lead else None)
        if not refs:
            result.problems.append(
                Problem(
                    request.source,
                    "actions",
                    "",
                    "the refs of the actions the request asked about, e.g. 2.5 2.6",
                    "fill in the actions column"
                    if " row " in request.source
                    else "pass --actions 2.5,2.6 (the message names none of the plan's refs)",
                )
            )
        unknown = [r for r in refs if r not in actions]
        if unknown:
            result.problems.append(
                Problem(
                    request.source,
                    "actions",
                    " ".join(unknown),
                    f"refs of actions in {plan.code}",
                    "correct them (`chaser plan list` shows the refs)",
                )
            )
        if len(result.problems) > problems_before:
            continue
        assert recipient is not None and lead is not None and plan.id is not None
        key = external_key(plan.code, message_id)
        summary = {
            "source": request.source,
            "key": key,
            "message_id": message_id,
            "plan": plan.code,
            "lead": lead.code,
            "recipient": recipient.code,
            "meeting": request.meeting,
            "actions": list(refs),
        }
        if session.exec(select(Delivery.id).where(Delivery.key == key)).first() is not None:
            result.unchanged.append(summary)
            continue
        sent = (request.sent_at or now).astimezone(UTC)
        digest = hashlib.sha256(bare_id(message_id).encode()).hexdigest()
        rows.append(
            Delivery(
                key=key,
                reference=f"EXT-{digest[:12].upper()}",
                kind="request",
                channel=EXTERNAL,
                plan_id=plan.id,
                person_code=lead.code,
                recipient_code=recipient.code,
                meeting_key=request.meeting,
                action_refs=list(refs),
                due_by=deadline,
                payload={
                    "external": True,
                    "message_id": message_id,
                    "subject": request.subject,
                    "source": request.source,
                    "recorded_by": by,
                    "recorded_at": now.astimezone(UTC).isoformat(),
                },
                state=DeliveryState.SENT,
                not_before=sent,
                provider_id=message_id,
                created_at=sent,
                updated_at=now.astimezone(UTC),
                sent_at=sent,
            )
        )
        result.created.append(summary)
    if result.problems or dry_run:
        return result
    for row in rows:
        session.add(row)
    session.flush()
    for row in rows:
        assert row.id is not None and row.plan_id is not None
        for ref in dict.fromkeys(row.action_refs):
            session.add(
                DeliveryAction(
                    delivery_id=row.id, ref=ref, plan_id=row.plan_id, lead_code=row.person_code
                )
            )
    session.commit()
    return result


def external_key(plan_code: str, message_id: str) -> str:
    """The outbox key of a recorded request: the plan's code, then a hash of its Message-ID."""
    digest = hashlib.sha256(bare_id(message_id).encode()).hexdigest()
    return f"{plan_code}/{EXTERNAL}:{digest[:32]}"


def _plan(
    session: Session, code: str
) -> tuple[Plan, Mapping[str, Person], Mapping[str, Action]] | None:
    plan = session.exec(select(Plan).where(Plan.code == code)).first() if code else None
    if plan is None:
        return None
    people: dict[str, Person] = {}
    for p in plan_people(session, plan):
        people[p.code.casefold()] = p
        if p.email:
            people.setdefault(p.email.strip().casefold(), p)
    actions = {
        a.ref: a
        for a in session.exec(
            select(Action).where(Action.plan_id == plan.id, col(Action.withdrawn).is_(False))
        )
    }
    return plan, people, actions


def _person(people: Mapping[str, Person], value: str) -> Person | None:
    addresses = [a for _, a in getaddresses([value]) if a] or [value]
    return people.get(addresses[0].strip().casefold()) if addresses[0].strip() else None


def _meeting(
    request: ExternalRequest,
    plan_code: str,
    cycles_for: Callable[[str], CyclesConfig | None],
    problems: list[Problem],
) -> datetime | None:
    """The end of the papers deadline of the request's meeting, London time (None, and a
    problem, when the meeting is not one of the calendar's)."""
    key = request.meeting.strip()
    group, _, _ = key.partition(":")
    slot = meeting_date(key)
    column = "meeting" if " row " in request.source else "--meeting"
    if not group or slot is None:
        problems.append(
            Problem(
                request.source,
                column,
                key,
                "a meeting as GROUP:YYYY-MM-DD, e.g. SIB:2025-09-30 (the group's code in "
                "cycles.yaml and the date in its cycle)",
                "correct it (`chaser cycles preview` lists the meetings)",
            )
        )
        return None
    cycles = cycles_for(plan_code)
    if cycles is None:
        problems.append(
            Problem(
                request.source,
                "plan",
                plan_code,
                "a plan configured in config/ (its chasing.yaml and cycles.yaml)",
                "configure the plan, or correct its code",
            )
        )
        return None
    codes = [g.code for g in cycles.groups]
    if group not in codes:
        problems.append(
            Problem(
                request.source,
                column,
                key,
                f"one of the groups in cycles.yaml ({', '.join(codes)})",
                "correct the group's code",
            )
        )
        return None
    found = [
        m
        for m in meetings(
            cycles,
            slot - timedelta(days=120),
            slot + timedelta(days=120),
            groups=[group],
            include_cancelled=True,
        )
        if m.key == key
    ]
    if not found:
        problems.append(
            Problem(
                request.source,
                column,
                key,
                f"a date in {group}'s cycle",
                "correct the date (`chaser cycles preview` lists the meetings)",
            )
        )
        return None
    deadline: date = found[0].papers_deadline
    return datetime.combine(deadline, time(23, 59, 59), tzinfo=LONDON).astimezone(UTC)


def _mentioned(text: str, actions: Mapping[str, Action], lead_id: int | None) -> tuple[str, ...]:
    """The plan's refs the text names, each as a whole word, in plan order: those the lead is
    accountable for when there are any (a number in a signature or a phone extension that
    looks like someone else's ref is left out), else all of them."""
    found = [
        action
        for ref, action in sorted(actions.items(), key=lambda kv: kv[1].position)
        if re.search(rf"(?<![\w.]){re.escape(ref)}(?![\w]|\.\d)", text)
    ]
    theirs = [a for a in found if lead_id is not None and a.accountable_id == lead_id]
    return tuple(a.ref for a in (theirs or found))
