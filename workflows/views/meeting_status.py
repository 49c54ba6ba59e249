"""Where the chase for each meeting stands: who was asked, who has updated, who is outstanding.

A lead counts as *updated* for a meeting when every action their request listed
(``Delivery.action_refs``) has a change from anyone, other than an import, recorded since the
request went out (its ``sent_at``, or when it was queued if it has not gone yet). An action
not yet updated but answered by a reply received since then that waits on the review queue is
*replied, awaiting review*, with the reply's number for the queue's link; a lead whose every
action is updated or awaiting review is not outstanding. The email and Teams copies of one
message count once; an escalation listing several silent leads shows under each of them (the
leads of the actions it lists) and counts once. Pure queries: a session and arguments in,
frozen dataclasses out; a few queries per page whatever the number of leads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON
from workflows.calendar.meetings import Meeting, meeting_date, meeting_label
from workflows.chasing.state import WaitingReply, awaiting_review
from workflows.store.models import (
    Action,
    Channel,
    Delivery,
    DeliveryState,
    Person,
    Plan,
    StatusChange,
)

CHASE_STEPS = ("request", "reminder", "final_reminder", "escalation")
KIND_WORDS = {
    "request": "Update request",
    "reminder": "Reminder",
    "final_reminder": "Final reminder",
    "escalation": "Escalation",
    "nudge_before": "Reminder: due soon",
    "nudge_due": "Reminder: due today",
    "nudge_overdue": "Reminder: overdue",
    "nudge": "Reminder: due dates",
    "digest": "Digest",
}
STATE_WORDS = {
    str(DeliveryState.PENDING): "Queued",
    str(DeliveryState.SENDING): "Sending",
    str(DeliveryState.SUBMITTING): "Sending",
    str(DeliveryState.SENT): "Sent",
    str(DeliveryState.DEAD): "Not delivered",
}


def message_kind(kind: str) -> str:
    """``final_reminder`` → ``Final reminder``."""
    return KIND_WORDS.get(kind, kind.replace("_", " ").capitalize())


def delivery_state(state: str) -> str:
    return STATE_WORDS.get(state, state.capitalize())


@dataclass(frozen=True)
class MessageLine:
    """One message of the chase (its email and Teams copies together)."""

    kind: str  # "reminder"
    kind_text: str  # "Reminder"
    to_code: str
    to_name: str
    channels: tuple[str, ...]
    state: str  # the best of its copies: sent, else queued, else dead
    state_text: str
    at: datetime  # sent at, or queued at if not sent
    error: str  # why a dead copy was not delivered
    ids: tuple[int, ...] = ()  # its outbox rows: one message listed under several leads


@dataclass(frozen=True)
class ScopeAction:
    ref: str
    title: str
    updated_at: datetime | None  # the first change since the request, None if none
    late: bool  # an update since the request was recorded as late
    #: The reply waiting for review that answers it (received since the request), if any and
    #: the action is not updated since.
    review_reply: int | None = None

    @property
    def updated(self) -> bool:
        return self.updated_at is not None

    @property
    def awaiting_review(self) -> bool:
        return not self.updated and self.review_reply is not None

    @property
    def answered(self) -> bool:
        return self.updated or self.awaiting_review


@dataclass(frozen=True)
class LeadChase:
    code: str
    name: str
    request: MessageLine | None
    actions: tuple[ScopeAction, ...]
    messages: tuple[MessageLine, ...]  # reminders, the final reminder, escalations
    dead: tuple[MessageLine, ...]  # messages to or about them that were not delivered

    @property
    def asked_at(self) -> datetime | None:
        return self.request.at if self.request else None

    @property
    def updated_all(self) -> bool:
        return bool(self.actions) and all(a.updated for a in self.actions)

    @property
    def updated_count(self) -> int:
        return sum(1 for a in self.actions if a.updated)

    @property
    def answered_all(self) -> bool:
        """Every action updated or answered by a reply that waits for review."""
        return bool(self.actions) and all(a.answered for a in self.actions)

    @property
    def awaiting_review(self) -> bool:
        """Replied, awaiting review: answered every action, some of it still on the queue."""
        return self.answered_all and not self.updated_all

    @property
    def review_replies(self) -> tuple[int, ...]:
        """The replies on the review queue that answer their actions, oldest first."""
        return tuple(
            sorted({a.review_reply for a in self.actions if a.awaiting_review and a.review_reply})
        )

    def sent(self, kind: str) -> tuple[MessageLine, ...]:
        return tuple(m for m in self.messages if m.kind == kind and m.state == "sent")


@dataclass(frozen=True)
class MeetingChase:
    key: str  # "SIB:2025-09-30"
    group: str
    group_name: str
    label: str  # "SIB meeting on 30 September 2025"
    held_on: date | None  # when it takes place (the slot date when the calendar is not known)
    papers_deadline: date | None
    status: str  # "scheduled", "moved", "added"; "" when only known from the outbox
    leads: tuple[LeadChase, ...]  # in name order
    digest_sent_at: datetime | None
    digest_state: str  # "" when no digest was queued

    @property
    def asked(self) -> int:
        return len(self.leads)

    @property
    def updated(self) -> int:
        return sum(1 for lead in self.leads if lead.updated_all)

    @property
    def outstanding(self) -> tuple[LeadChase, ...]:
        """Leads who have not answered every action (a reply awaiting review is an answer)."""
        return tuple(lead for lead in self.leads if not lead.answered_all)

    @property
    def awaiting_review(self) -> tuple[LeadChase, ...]:
        """Leads who have replied, with the reply (or part of it) awaiting review."""
        return tuple(lead for lead in self.leads if lead.awaiting_review)

    def sent(self, kind: str) -> int:
        """Messages of ``kind`` sent: one escalation listing three leads counts once."""
        seen: set[tuple[int, ...]] = set()
        count = 0
        for lead in self.leads:
            for line in lead.sent(kind):
                if line.ids and line.ids in seen:
                    continue
                seen.add(line.ids)
                count += 1
        return count

    @property
    def dead(self) -> int:
        return sum(len(lead.dead) for lead in self.leads)


def meeting_chases(
    session: Session, plan_code: str, meetings: Sequence[Meeting] | None = None
) -> list[MeetingChase] | None:
    """Each chased meeting (``meetings``, or else every meeting the outbox names), oldest first.

    None when the store has no such plan."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None or plan.id is None:
        return None
    known = {m.key: m for m in meetings} if meetings is not None else None
    if known is not None:
        keys = list(known)
    else:  # every meeting the outbox names (one indexed query)
        keys = _keys_by_date(
            session.exec(
                select(Delivery.meeting_key)
                .where(Delivery.plan_id == plan.id, Delivery.meeting_key != "")
                .distinct()
            )
        )
    deliveries = _of_meetings(session, plan.id, keys)
    return _assemble(session, plan.id, keys, known or {}, deliveries, titles=False)


def _of_meetings(session: Session, plan_id: int, keys: Sequence[str]) -> list[Delivery]:
    """The messages of these meetings only, by the outbox's (plan, meeting) index."""
    if not keys:
        return []
    return list(
        session.exec(
            select(Delivery)
            .options(defer(Delivery.payload))  # type: ignore[arg-type]  # the message: not shown
            .where(Delivery.plan_id == plan_id, col(Delivery.meeting_key).in_(sorted(set(keys))))
            .order_by(col(Delivery.id))
        )
    )


def meeting_chase(
    session: Session, plan_code: str, key: str, meetings: Sequence[Meeting] | None = None
) -> MeetingChase | None:
    """One meeting's chase, lead by lead; None for an unknown plan or a meeting never chased
    (neither in ``meetings`` nor named by any message)."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None or plan.id is None:
        return None
    known = {m.key: m for m in meetings or () if m.key == key}
    deliveries = _of_meetings(session, plan.id, [key])
    if not deliveries and key not in known:
        return None
    return _assemble(session, plan.id, [key], known, deliveries)[0]


def _keys_by_date(keys: Iterable[str]) -> list[str]:
    return sorted(set(keys), key=lambda k: (meeting_date(k) or date.max, k))


def _assemble(
    session: Session,
    plan_id: int,
    keys: Sequence[str],
    known: Mapping[str, Meeting],
    deliveries: Sequence[Delivery],
    *,
    titles: bool = True,
) -> list[MeetingChase]:
    """The meetings' chases from their messages; ``titles`` False leaves the actions' titles
    out (the list of meetings shows none: it reads only the escalated actions' leads)."""
    by_meeting: dict[str, list[Delivery]] = defaultdict(list)
    wanted = set(keys)
    for d in deliveries:
        if d.meeting_key in wanted:
            by_meeting[d.meeting_key].append(d)
    plan = session.get(Plan, plan_id)
    named = {c for d in deliveries for c in (d.person_code, d.recipient_code) if c}
    people = (
        {
            p.code: p
            for p in session.exec(
                select(Person).where(
                    Person.partnership == plan.partnership, col(Person.code).in_(sorted(named))
                )
            )
        }
        if plan is not None and named
        else {}
    )
    requests = [
        d for key in keys for d in by_meeting.get(key, ()) if d.kind == "request" and d.action_refs
    ]
    changes = _changes_since(session, plan_id, requests)
    escalated = {r for d in deliveries if d.kind == "escalation" for r in d.action_refs or ()}
    titled = {r for d in requests for r in d.action_refs} if titles else set()
    names, leads_of = _titles(session, plan_id, titled | escalated)
    extra = set(leads_of.values()) - set(people)  # the leads escalations are about
    if extra and plan is not None:
        people.update(
            {
                p.code: p
                for p in session.exec(
                    select(Person).where(
                        Person.partnership == plan.partnership, col(Person.code).in_(sorted(extra))
                    )
                )
            }
        )
    waiting = awaiting_review(session, plan_id) if requests else {}
    out = []
    for key in keys:
        meeting = known.get(key)
        mine = by_meeting.get(key, [])
        digest = [d for d in mine if d.kind == "digest"]
        sent_digest = [d for d in digest if d.state == DeliveryState.SENT]
        group = meeting.group if meeting else key.partition(":")[0]
        due = [d.due_by for d in mine if d.kind == "request" and d.due_by is not None]
        out.append(
            MeetingChase(
                key=key,
                group=group,
                group_name=meeting.group_name if meeting else "",
                label=_label(meeting) if meeting else meeting_label(key),
                held_on=meeting.date if meeting else meeting_date(key),
                papers_deadline=(
                    meeting.papers_deadline
                    if meeting
                    else (due[0].astimezone(LONDON).date() if due else None)
                ),
                status=str(meeting.status) if meeting else "",
                leads=_leads(mine, people, changes, names, leads_of, waiting),
                digest_sent_at=min((_at(d) for d in sent_digest), default=None),
                digest_state=_best_state(digest) if digest else "",
            )
        )
    return out


def _label(meeting: Meeting) -> str:
    return f"{meeting.group} meeting on {meeting.date.day} {meeting.date:%B %Y}"


def _at(d: Delivery) -> datetime:
    return d.sent_at or d.created_at


def _best_state(copies: Sequence[Delivery]) -> str:
    states = {d.state for d in copies}
    if DeliveryState.SUBMITTING in states:
        states.add(DeliveryState.SENDING)
    for state in (DeliveryState.SENT, DeliveryState.SENDING, DeliveryState.PENDING):
        if state in states:
            return str(state)
    return str(DeliveryState.DEAD)


def _message(copies: Sequence[Delivery], people: Mapping[str, Person]) -> MessageLine:
    first = copies[0]
    state = _best_state(copies)
    chosen = [d for d in copies if d.state == state]
    to = people.get(first.recipient_code)
    to_name = (to.name or to.code) if to else first.recipient_code
    if to is None and first.recipient_code == "secretary":  # an escalation with no officer
        to_name = "the secretary"
    return MessageLine(
        kind=first.kind,
        kind_text=message_kind(first.kind),
        to_code=first.recipient_code,
        to_name=to_name,
        channels=tuple(sorted({d.channel for d in copies})),
        state=state,
        state_text=delivery_state(state),
        at=min(_at(d) for d in chosen),
        error="; ".join(d.last_error for d in copies if d.state == DeliveryState.DEAD)[:300],
        ids=tuple(sorted(d.id for d in copies if d.id is not None)),
    )


def _leads(
    deliveries: Sequence[Delivery],
    people: Mapping[str, Person],
    changes: Mapping[str, Sequence[tuple[datetime, bool]]],
    titles: Mapping[str, str],
    leads_of: Mapping[str, str],
    waiting: Mapping[str, Sequence[WaitingReply]],
) -> tuple[LeadChase, ...]:
    by_lead: dict[str, dict[tuple[str, str], list[Delivery]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for d in deliveries:
        if d.kind not in CHASE_STEPS or not d.person_code:
            continue
        about = {d.person_code}
        if d.kind == "escalation":  # to an officer, about the leads of the actions it lists
            about = {leads_of[r] for r in d.action_refs or () if r in leads_of} or about
        for code in about:
            by_lead[code][(d.kind, d.recipient_code)].append(d)
    leads = []
    for code, messages in by_lead.items():
        lines = {k: _message(v, people) for k, v in messages.items()}
        requests = [k for k in messages if k[0] == "request"]
        request = lines[requests[0]] if requests else None
        request_rows = messages[requests[0]] if requests else []
        since = min((_at(d) for d in request_rows), default=None)
        refs = list(dict.fromkeys(r for d in request_rows for r in d.action_refs))
        person = people.get(code)
        leads.append(
            LeadChase(
                code=code,
                name=(person.name or code) if person else code,
                request=request,
                actions=tuple(_scope_action(ref, titles, changes, since, waiting) for ref in refs),
                messages=tuple(
                    sorted(
                        (line for k, line in lines.items() if k[0] != "request"),
                        key=lambda m: (CHASE_STEPS.index(m.kind), m.at),
                    )
                ),
                dead=tuple(
                    _message([d], people)
                    for copies in messages.values()
                    for d in copies
                    if d.state == DeliveryState.DEAD
                ),
            )
        )
    return tuple(sorted(leads, key=lambda lead: (lead.name.lower(), lead.code)))


def _scope_action(
    ref: str,
    titles: Mapping[str, str],
    changes: Mapping[str, Sequence[tuple[datetime, bool]]],
    since: datetime | None,
    waiting: Mapping[str, Sequence[WaitingReply]],
) -> ScopeAction:
    after = [(at, late) for at, late in changes.get(ref, ()) if since is not None and at >= since]
    replies = [
        w.reply_id
        for w in waiting.get(ref, ())
        if since is not None and _utc(w.received_at) >= _utc(since)
    ]
    return ScopeAction(
        ref=ref,
        title=titles.get(ref, ""),
        updated_at=min((at for at, _ in after), default=None),
        late=any(late for _, late in after),
        review_reply=min(replies, default=None),
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _changes_since(
    session: Session, plan_id: int, requests: Sequence[Delivery]
) -> dict[str, list[tuple[datetime, bool]]]:
    """(when, late) of every change not from an import since the earliest request, by ref."""
    if not requests:
        return {}
    since = min(_at(d) for d in requests) - timedelta(seconds=1)
    refs = {r for d in requests for r in d.action_refs}
    found: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
    # the plan's changes since the first request (by the history's time index), not a list
    # of every ref asked about: a meeting of a large plan asks about thousands
    for ref, at, late in session.execute(
        select(Action.ref, StatusChange.recorded_at, StatusChange.late)
        .join(Action, col(Action.id) == StatusChange.action_id)
        .where(
            Action.plan_id == plan_id,
            StatusChange.channel != str(Channel.IMPORT),
            col(StatusChange.recorded_at) >= since,
        )
    ):
        if ref in refs:
            found[ref].append((at, bool(late)))
    return found


def _titles(
    session: Session, plan_id: int, refs: set[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each action's title, and the code of its accountable lead, by ref (one query)."""
    if not refs:
        return {}, {}
    titles: dict[str, str] = {}
    leads: dict[str, str] = {}
    for ref, title, code in session.execute(
        select(Action.ref, Action.title, Person.code)
        .outerjoin(Person, col(Person.id) == Action.accountable_id)
        .where(Action.plan_id == plan_id, col(Action.ref).in_(sorted(refs)))
    ):
        titles[ref] = title
        if code:
            leads[ref] = code
    return titles, leads
