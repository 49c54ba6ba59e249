"""One action in full, with its history: every change, the replies about it, the messages sent.

Pure queries: :func:`action_history` reads a dozen small queries whatever the length of the
history or the size of the plan (only the people the page names; the messages by the outbox's
(plan, person) and (plan, kind) indexes; the replies by the request they answer or their
sender), and returns frozen dataclasses for the secretary's ``/actions/{ref}`` page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from workflows.calendar.meetings import meeting_label
from workflows.digest.contents import Flag
from workflows.plan.dates import show_date
from workflows.replies.review import refs_named
from workflows.store.models import (
    Action,
    ActionContributor,
    Area,
    ChangeKind,
    Channel,
    Delivery,
    DeliveryAction,
    Measure,
    MeasureReading,
    Milestone,
    Person,
    Plan,
    Reply,
    ReplyVerdict,
    StatusChange,
)
from workflows.views.meeting_status import delivery_state, message_kind
from workflows.views.plan_status import (
    ScaleOption,
    Status,
    area_heading,
    find_plan,
    scale_options,
    sro_names,
    status_of,
)

CHANNEL_WORDS = {
    str(Channel.FORM): "Reply form",
    str(Channel.EMAIL): "Email",
    str(Channel.TEAMS): "Teams",
    str(Channel.IMPORT): "Plan import",
    str(Channel.ADMIN): "Admin",
}
CHANGE_WORDS = {
    str(ChangeKind.CREATED): "Added to the plan",
    str(ChangeKind.STATUS): "Status changed",
    str(ChangeKind.FORECAST): "Forecast changed",
    str(ChangeKind.MILESTONE_FORECAST): "Milestone forecast changed",
    str(ChangeKind.WITHDRAWN): "Withdrawn",
    str(ChangeKind.REINSTATED): "Reinstated",
    str(ChangeKind.UPDATE): "Update",
    str(ChangeKind.EDITED): "Changed in the workbook",
}
VERDICT_WORDS = {
    str(ReplyVerdict.APPLIED): "Applied",
    str(ReplyVerdict.REVIEW): "Waiting for review",
    str(ReplyVerdict.AUTO_REPLY): "Out of office",
    str(ReplyVerdict.DUPLICATE): "Duplicate",
    str(ReplyVerdict.REJECTED): "Rejected",
}


def channel_words(channel: str) -> str:
    return CHANNEL_WORDS.get(channel, channel.capitalize())


@dataclass(frozen=True)
class MilestoneLine:
    position: int
    label: str
    start: str
    due: str
    forecast: str  # "" when the same as the due date
    complete: bool


@dataclass(frozen=True)
class ReadingLine:
    period_end: date
    value: float
    recorded_at: datetime
    who: str
    channel: str


@dataclass(frozen=True)
class MeasureLine:
    name: str
    unit: str
    baseline: float | None
    target: float | None
    higher_is_better: bool
    readings: tuple[ReadingLine, ...]  # newest first


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    who: str  # a name; "" when no one is recorded (an import)
    channel: str  # "form", "email", "import", …
    how: str  # "Reply form", "Email, applied from the review queue by …"
    kind: str  # a ChangeKind value
    what: str  # "Update", "Added to the plan"
    status_before: str  # the plan's label before ("" when none)
    status_after: str  # the plan's label after ("" when none)
    due_before: str
    due_after: str
    narrative: str
    evidence: str
    late: bool
    note: str
    reply_id: int | None

    @property
    def status_changed(self) -> bool:
        return self.status_before != self.status_after

    @property
    def due_changed(self) -> bool:
        return bool(self.due_after) and self.due_before != self.due_after


@dataclass(frozen=True)
class ReplyLine:
    reply_id: int
    received_at: datetime
    channel: str
    sender: str  # a name when known, else the address it came from
    verdict: str
    verdict_text: str
    reason: str
    decided_by: str
    late: bool

    @property
    def pending(self) -> bool:
        return self.verdict == ReplyVerdict.REVIEW


@dataclass(frozen=True)
class DeliveryLine:
    kind: str
    kind_text: str
    channel: str
    at: datetime  # sent at, or queued at when not sent
    to: str  # the recipient's name
    lead: str  # whose actions it was about
    meeting: str  # "SIB meeting on 30 September 2025", "" for nudges
    meeting_key: str
    state: str
    state_text: str
    error: str


@dataclass(frozen=True)
class ActionHistory:
    plan_title: str
    ref: str
    title: str
    area_number: int | None
    area: str  # "Priority action area 1", "" when in no area
    area_title: str
    lead: str  # "Aisha Pendleford (AP)", or as the plan wrote it
    contributors: tuple[str, ...]
    sros: tuple[str, ...]
    reporting_group: str
    start: str
    due: str
    forecast: str  # "" when the same as the baseline
    status: Status
    embedded: bool
    withdrawn: bool
    outcomes: str
    progress: str
    evidence: str
    milestones: tuple[MilestoneLine, ...]
    measures: tuple[MeasureLine, ...]
    flags: tuple[Flag, ...]
    history: tuple[HistoryEntry, ...]  # newest first
    replies: tuple[ReplyLine, ...]  # newest first
    deliveries: tuple[DeliveryLine, ...]  # newest first


def action_history(
    session: Session,
    plan_code: str | Plan,
    ref: str,
    *,
    flags: Mapping[str, Sequence[Flag]] | None = None,
) -> ActionHistory | None:
    """Everything about action ``ref`` of the plan; None when there is no such action."""
    plan = find_plan(session, plan_code) if isinstance(plan_code, str) else plan_code
    if plan is None or plan.id is None:
        return None
    action = session.exec(
        select(Action).where(Action.plan_id == plan.id, Action.ref == ref)
    ).first()
    if action is None or action.id is None:
        return None
    scale = scale_options(plan)
    area = session.get(Area, action.area_id) if action.area_id is not None else None
    links = list(
        session.exec(
            select(ActionContributor)
            .where(ActionContributor.action_id == action.id)
            .order_by(col(ActionContributor.position))
        )
    )
    changes = list(
        session.exec(
            select(StatusChange)
            .where(StatusChange.action_id == action.id)
            .order_by(col(StatusChange.recorded_at), col(StatusChange.id))
        )
    )
    # only the people this page names: its lead, officers, contributors and who changed it
    people = _people(
        session,
        plan.partnership,
        ids={
            action.accountable_id,
            action.sro_id,
            area.sro_id if area else None,
            *(link.person_id for link in links),
            *(c.person_id for c in changes),
        },
        codes=set(area.sro_codes or ()) if area else set(),
    )
    by_code = {p.code: p for p in people.values() if p.partnership == plan.partnership}
    contributors = [people[link.person_id] for link in links if link.person_id in people]
    deliveries = _deliveries_of(session, plan.id, ref)
    replies = _replies(
        session,
        plan.id,
        ref,
        {c.reply_id for c in changes if c.reply_id},
        {d.id: d for d, _ in deliveries if d.id is not None},
        {i for i in (action.accountable_id,) if i is not None},
    )
    missing = {r.person_id for r in replies.values() if r.person_id not in people} - {None}
    if missing:
        people.update(_people(session, plan.partnership, ids=missing, codes=set()))
    known = {code for d, then in deliveries for code in (d.recipient_code, d.person_code, then)}
    known.discard("")
    if known - set(by_code):
        found = _people(session, plan.partnership, ids=set(), codes=known - set(by_code))
        by_code.update({p.code: p for p in found.values() if p.partnership == plan.partnership})
    lead = people.get(action.accountable_id) if action.accountable_id is not None else None
    sro = people.get(action.sro_id) if action.sro_id is not None else None
    due = show_date(action.baseline_due, action.baseline_due_precision) or _no_date(action)
    forecast = show_date(action.forecast_due, action.forecast_due_precision)
    return ActionHistory(
        plan_title=plan.title,
        ref=action.ref,
        title=action.title,
        area_number=area.number if area else None,
        area=area_heading(area) if area else "",
        area_title=area.title if area else "",
        lead=f"{lead.name} ({lead.code})" if lead else action.lead_raw,
        contributors=tuple(f"{p.name} ({p.code})" for p in contributors),
        sros=(sro.name,) if sro else (sro_names(area, people, plan.partnership) if area else ()),
        reporting_group=action.reporting_group,
        start=show_date(action.start_date, action.start_precision, end=False),
        due=due,
        forecast=forecast if forecast != due else "",
        status=status_of(scale, action.status, action.status_label),
        embedded=action.embedded,
        withdrawn=action.withdrawn,
        outcomes=action.outcomes,
        progress=action.progress,
        evidence=action.evidence,
        milestones=_milestones(session, action.id),
        measures=_measures(session, action.id, people),
        flags=tuple((flags or {}).get(action.ref, ())),
        history=_history(changes, scale, people, replies),
        replies=tuple(
            sorted(
                (_reply_line(r, people) for r in replies.values()),
                key=lambda r: (r.received_at, r.reply_id),
                reverse=True,
            )
        ),
        deliveries=_delivery_lines(deliveries, by_code, lead.code if lead else ""),
    )


def _no_date(action: Action) -> str:
    words = {"tbc": "TBC", "completed": "Completed", "unreadable": "(unreadable)"}
    return words.get(action.due_kind, "") or action.due_note


def _history(
    changes: Sequence[StatusChange],
    scale: Sequence[ScaleOption],
    people: Mapping[int | None, Person],
    replies: Mapping[int, Reply],
) -> tuple[HistoryEntry, ...]:
    entries = []
    label: str = ""  # the plan's label as it stood before each change, oldest first
    for change in changes:
        before = label if change.status_before is not None else ""
        if change.status_before is not None and not before:
            before = status_of(scale, change.status_before, "").label
        after = (
            status_of(scale, change.status_after, change.status_label_after).label
            if change.status_after is not None
            else ""
        )
        if change.status_after is not None:  # older import rows recorded no status
            label = after
        who = people.get(change.person_id) if change.person_id is not None else None
        how = channel_words(change.channel)
        reply = replies.get(change.reply_id) if change.reply_id is not None else None
        if reply is not None and reply.decided_by:
            how += f", applied from the review queue by {reply.decided_by}"
        entries.append(
            HistoryEntry(
                at=change.recorded_at,
                who=(who.name or who.code) if who else "",
                channel=change.channel,
                how=how,
                kind=change.kind,
                what=CHANGE_WORDS.get(change.kind, change.kind.replace("_", " ").capitalize()),
                status_before=before,
                status_after=after,
                due_before=show_date(change.due_before, change.due_before_precision),
                due_after=show_date(change.due_after, change.due_after_precision),
                narrative=change.narrative,
                evidence=change.evidence,
                late=change.late,
                note=change.note,
                reply_id=change.reply_id,
            )
        )
    return tuple(reversed(entries))


def _people(
    session: Session, partnership: str, *, ids: set[int | None], codes: set[str]
) -> dict[int | None, Person]:
    """The people with these ids, and those with these codes in the plan's partnership (one
    query: the page never reads the whole directory)."""
    wanted = sorted(i for i in ids if i is not None)
    if not wanted and not codes:
        return {}
    return {
        p.id: p
        for p in session.exec(
            select(Person).where(
                or_(
                    col(Person.id).in_(wanted),
                    and_(
                        col(Person.partnership) == partnership, col(Person.code).in_(sorted(codes))
                    ),
                )
            )
        )
    }


def _replies(
    session: Session,
    plan_id: int,
    ref: str,
    linked: set[int],
    requests: Mapping[int, Delivery],
    senders: set[int],
) -> dict[int, Reply]:
    """Replies that changed the action, and those waiting for review or rejected that name it:
    among the answers to the messages that asked about it (``requests``) and those its lead
    (``senders``) sent, so the page reads a few replies however many the plan has."""
    found = (
        {
            r.id: r
            for r in session.exec(select(Reply).where(col(Reply.id).in_(sorted(linked))))
            if r.id is not None
        }
        if linked
        else {}
    )
    if not requests and not senders:
        return found
    undecided = list(
        session.exec(
            select(Reply)
            .options(defer(Reply.raw))  # type: ignore[arg-type]  # as received: not shown
            .where(
                col(Reply.verdict).in_([str(ReplyVerdict.REVIEW), str(ReplyVerdict.REJECTED)]),
                Reply.plan_id == plan_id,
                or_(
                    col(Reply.delivery_id).in_(sorted(requests)),
                    col(Reply.person_id).in_(sorted(senders)),
                ),
            )
        )
    )
    by_id = dict(requests)
    other = sorted({r.delivery_id for r in undecided if r.delivery_id is not None} - set(by_id))
    if other:
        by_id.update(
            {
                d.id: d
                for d in session.exec(select(Delivery).where(col(Delivery.id).in_(other)))
                if d.id is not None
            }
        )
    for reply in undecided:
        request = by_id.get(reply.delivery_id) if reply.delivery_id is not None else None
        if reply.id is not None and ref in refs_named(reply, request):
            found[reply.id] = reply
    return found


def _reply_line(reply: Reply, people: Mapping[int | None, Person]) -> ReplyLine:
    assert reply.id is not None
    person = people.get(reply.person_id) if reply.person_id is not None else None
    return ReplyLine(
        reply_id=reply.id,
        received_at=reply.received_at,
        channel=reply.channel,
        sender=(person.name or person.code) if person else reply.sender,
        verdict=reply.verdict,
        verdict_text=VERDICT_WORDS.get(reply.verdict, reply.verdict),
        reason=reply.reason,
        decided_by=reply.decided_by,
        late=reply.late,
    )


def _deliveries_of(session: Session, plan_id: int, ref: str) -> list[tuple[Delivery, str]]:
    """Every message that asked about action ``ref``, whoever it went to (its lead, a lead it
    had before, a delegate, an officer), with whose action it was then ("" if not recorded), by
    ``delivery_action``'s (plan, ref) index, never by reading every message of the plan."""
    found = session.exec(
        select(Delivery, DeliveryAction.lead_code)
        .options(defer(Delivery.payload))  # type: ignore[arg-type]  # the message: not shown
        .join(DeliveryAction, col(DeliveryAction.delivery_id) == col(Delivery.id))
        .where(col(DeliveryAction.plan_id) == plan_id, col(DeliveryAction.ref) == ref)
    )
    return [(delivery, lead_code) for delivery, lead_code in found]


def _delivery_lines(
    deliveries: Sequence[tuple[Delivery, str]], people: Mapping[str, Person], lead_code: str = ""
) -> tuple[DeliveryLine, ...]:
    """The messages about the action, newest first."""
    lines = []
    for d, then in deliveries:
        # whose action it was when asked; an older escalation (to an officer about several
        # leads) did not say: the action's lead now
        about = then or (lead_code if d.kind == "escalation" and lead_code else d.person_code)
        to, lead = people.get(d.recipient_code), people.get(about)
        lines.append(
            DeliveryLine(
                kind=d.kind,
                kind_text=message_kind(d.kind),
                channel=d.channel,
                at=d.sent_at or d.created_at,
                to=(to.name or to.code) if to else d.recipient_code,
                lead=(lead.name or lead.code) if lead else about,
                meeting=meeting_label(d.meeting_key),
                meeting_key=d.meeting_key,
                state=d.state,
                state_text=delivery_state(d.state),
                error=d.last_error[:300] if d.state == "dead" else "",
            )
        )
    return tuple(sorted(lines, key=lambda line: line.at, reverse=True))


def _milestones(session: Session, action_id: int) -> tuple[MilestoneLine, ...]:
    lines = []
    for m in session.exec(
        select(Milestone).where(Milestone.action_id == action_id).order_by(col(Milestone.position))
    ):
        due = show_date(m.baseline_due, m.baseline_due_precision)
        forecast = show_date(m.forecast_due, m.forecast_due_precision)
        lines.append(
            MilestoneLine(
                position=m.position,
                label=m.label
                if m.label and not m.label.isdigit()
                else f"Milestone {m.label or m.position}",
                start=show_date(m.start_date, m.start_precision, end=False),
                due=due,
                forecast=forecast if forecast != due else "",
                complete=m.complete,
            )
        )
    return tuple(lines)


def _measures(
    session: Session, action_id: int, people: Mapping[int | None, Person]
) -> tuple[MeasureLine, ...]:
    measures = list(
        session.exec(
            select(Measure).where(Measure.action_id == action_id).order_by(col(Measure.id))
        )
    )
    ids = [m.id for m in measures if m.id is not None]
    readings: dict[int, list[ReadingLine]] = {}
    if ids:
        found = list(
            session.exec(
                select(MeasureReading)
                .where(col(MeasureReading.measure_id).in_(ids))
                .order_by(col(MeasureReading.period_end).desc(), col(MeasureReading.id).desc())
            )
        )
        missing = {r.person_id for r in found if r.person_id not in people} - {None}
        if missing:
            people = {**people, **_people(session, "", ids=missing, codes=set())}
        for r in found:
            who = people.get(r.person_id) if r.person_id is not None else None
            readings.setdefault(r.measure_id, []).append(
                ReadingLine(
                    period_end=r.period_end,
                    value=r.value,
                    recorded_at=r.recorded_at,
                    who=(who.name or who.code) if who else "",
                    channel=r.channel,
                )
            )
    return tuple(
        MeasureLine(
            name=m.name,
            unit=m.unit,
            baseline=m.baseline,
            target=m.target,
            higher_is_better=m.higher_is_better,
            readings=tuple(readings.get(m.id or 0, ())),
        )
        for m in measures
    )
