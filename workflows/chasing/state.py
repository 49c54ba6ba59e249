"""Loading the snapshot the chasing rules work on, from the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased, load_only
from sqlmodel import Session, col, select

from workflows.chasing.rules import SECRETARY, ActionInfo, ChaseState, PersonInfo
from workflows.plan.dates import show_date
from workflows.plan.people import plan_people
from workflows.replies.review import WAITING
from workflows.store.models import (
    Action,
    Area,
    Channel,
    Delivery,
    Person,
    Plan,
    Reply,
    StatusChange,
)

#: Changes that count as a lead's update (imports and admin edits do not).
UPDATE_CHANNELS = (Channel.FORM, Channel.EMAIL, Channel.TEAMS)


class UnknownPlan(LookupError):
    pass


#: What the chasing rules read of an action (every other column stays unread).
CHASED_COLUMNS: tuple[Any, ...] = (
    Action.id,
    Action.ref,
    Action.title,
    Action.area_id,
    Action.reporting_group,
    Action.accountable_id,
    Action.sro_id,
    Action.baseline_due,
    Action.baseline_due_precision,
    Action.forecast_due,
    Action.forecast_due_precision,
    Action.due_kind,
    Action.status,
    Action.status_label,
    Action.embedded,
    Action.withdrawn,
)


def load_chase_state(session: Session, plan_code: str) -> ChaseState:
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None:
        known = ", ".join(p.code for p in session.exec(select(Plan))) or "none yet"
        raise UnknownPlan(
            f"plan {plan_code!r} is not in the store (plans: {known}); import it with "
            "`chaser plan import`, or fix `plan:` in chasing.yaml"
        )
    people_rows = plan_people(session, plan)
    codes = {p.id: p.code for p in people_rows}
    people = {
        p.code: PersonInfo(
            code=p.code,
            name=p.name,
            email=p.email,
            teams_id=p.teams_id,
            delegate_code=p.delegate_code,
            away_until=p.away_until,
        )
        for p in people_rows
    }
    areas = {a.id: a.number for a in session.exec(select(Area).where(Area.plan_id == plan.id))}
    last_updates: dict[int, datetime] = {
        action_id: when
        for action_id, when in session.execute(
            select(StatusChange.action_id, func.max(StatusChange.recorded_at))
            .join(Action, col(Action.id) == StatusChange.action_id)
            .where(Action.plan_id == plan.id)
            .where(col(StatusChange.channel).in_([str(c) for c in UPDATE_CHANNELS]))
            .group_by(col(StatusChange.action_id))
        )
    }
    waiting = awaiting_review(session, plan.id)
    actions = []
    for a in session.exec(
        select(Action)
        .options(load_only(*CHASED_COLUMNS))  # not the long texts and raw cells
        .where(Action.plan_id == plan.id)
        .order_by(col(Action.position))
    ):
        assert a.id is not None
        due = show_date(a.baseline_due, a.baseline_due_precision)
        forecast = show_date(a.forecast_due, a.forecast_due_precision)
        actions.append(
            ActionInfo(
                id=a.id,
                ref=a.ref,
                title=a.title,
                area=areas.get(a.area_id) if a.area_id is not None else None,
                reporting_group=a.reporting_group,
                lead_code=codes.get(a.accountable_id) if a.accountable_id is not None else None,
                sro_code=codes.get(a.sro_id) if a.sro_id is not None else None,
                due=a.forecast_due,
                due_display=due or {"tbc": "TBC", "completed": "Completed"}.get(a.due_kind, ""),
                forecast_display=forecast if forecast != due else "",
                status=a.status,
                status_label=a.status_label,
                embedded=a.embedded,
                withdrawn=a.withdrawn,
                last_update=_aware(last_updates.get(a.id)),
                awaiting_review=max((w.received_at for w in waiting.get(a.ref, ())), default=None),
            )
        )
    return ChaseState(
        plan_code=plan.code,
        people=people,
        actions=tuple(actions),
        escalated=_per_lead_escalations(session, plan.id, set(people)),
        nudged=_nudged(session, plan.id),
    )


@dataclass(frozen=True)
class WaitingReply:
    """A reply on the review queue, and who sent it."""

    reply_id: int
    received_at: datetime
    sender_code: str  # who sent it (their people code)


def awaiting_review(session: Session, plan_id: int | None) -> dict[str, list[WaitingReply]]:
    """The plan's replies waiting for review that answer for a lead, by the refs they answer.

    A reply answers the actions its request asked about (``Reply.delivery_id``) and any it
    names in ``parsed["answers"]`` (``[{"ref": …, "verdict": …}, …]``), whatever each answer's
    own verdict: the lead has replied, the secretary has not yet decided. It counts only when
    it came from the person the request went to or whose actions it asked about (a stranger's
    reply to a forwarded request does not silence the chase), and not when a server Chaser
    trusts found its sender failing authentication (a spoof in the lead's name does not
    either)."""
    sender = aliased(Person)
    rows = session.execute(
        select_columns(
            col(Reply.id),
            col(Reply.received_at),
            col(Reply.parsed),
            col(Delivery.action_refs),
            col(Delivery.person_code),
            col(Delivery.recipient_code),
            col(sender.code),
        )
        .select_from(Reply)
        .outerjoin(Delivery, col(Delivery.id) == Reply.delivery_id)
        .outerjoin(sender, col(sender.id) == Reply.person_id)
        .where(col(Reply.plan_id) == plan_id, col(Reply.verdict).in_(WAITING))
    )
    out: dict[str, list[WaitingReply]] = {}
    for reply_id, received_at, parsed, request_refs, lead, recipient, sender_code in rows:
        facts = parsed if isinstance(parsed, dict) else {}
        if not sender_code or _spoofed(facts):
            continue
        if request_refs is not None and sender_code not in (lead, recipient):
            continue
        refs = [str(r) for r in request_refs or ()]
        answers = facts.get("answers")
        if isinstance(answers, list):
            refs += [str(a["ref"]) for a in answers if isinstance(a, dict) and a.get("ref")]
        waiting = WaitingReply(int(reply_id), _aware(received_at) or received_at, sender_code)
        for ref in dict.fromkeys(refs):
            out.setdefault(ref, []).append(waiting)
    return out


def _spoofed(parsed: dict[str, Any]) -> bool:
    """A trusted receiving server judged the sender and did not authenticate them."""
    auth = parsed.get("authentication")
    return isinstance(auth, dict) and bool(auth.get("by")) and auth.get("authenticated") is False


def _per_lead_escalations(
    session: Session, plan_id: int | None, people: set[str]
) -> frozenset[tuple[str, str, str]]:
    """(meeting, lead, officer) of escalations queued under the per-lead keys Chaser used
    before it grouped them, ``{plan}/escalation:{lead}:{meeting}:{officer or "secretary"}``; an
    officer not in the directory went to the secretary, as it would now."""
    found = set()
    for key, lead, meeting in session.execute(
        select(Delivery.key, Delivery.person_code, Delivery.meeting_key).where(
            Delivery.plan_id == plan_id, Delivery.kind == "escalation"
        )
    ):
        _, _, rest = str(key).partition("/")
        prefix = f"escalation:{lead}:{meeting}:"
        if not lead or not meeting or not rest.startswith(prefix):
            continue  # a grouped key: escalation:{officer}:{meeting}
        officer = rest.removeprefix(prefix).removesuffix(":teams")
        found.add((str(meeting), str(lead), officer if officer in people else SECRETARY))
    return frozenset(found)


#: The outbox kinds of due-date nudges: the per-kind ones Chaser sent before it sent one nudge
#: per person per day, and that one when it lists more than one kind.
_NUDGE_KINDS = ("nudge_before", "nudge_due", "nudge_overdue", "nudge")


def _nudged(session: Session, plan_id: int | None) -> frozenset[tuple[str, str, date, str]]:
    """(ref, kind, day, key) of each action listed by a nudge in the outbox, so the rules nudge
    an action once per window, across the upgrade from per-kind keys too.

    A per-day key, ``{plan}/nudge:{person}:{day}``, gives kind "" (the rules know each action's
    kind on a day); an old per-kind key, ``{plan}/nudge_before:{lead}:{first day of the
    window}`` (``nudge_due``, ``nudge_overdue``), gives its kind. A key whose day does not
    parse is skipped (nothing Chaser wrote)."""
    found = set()
    for key, kind, refs in session.execute(
        select_columns(col(Delivery.key), col(Delivery.kind), col(Delivery.action_refs)).where(
            col(Delivery.plan_id) == plan_id, col(Delivery.kind).in_(_NUDGE_KINDS)
        )
    ):
        _, _, rest = str(key).partition("/")
        rest = rest.removesuffix(":teams")
        _, _, day_text = rest.rpartition(":")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            continue
        old_kind = "" if rest.startswith("nudge:") else str(kind)
        for ref in refs or ():
            found.add((str(ref), old_kind, day, rest))
    return frozenset(found)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
