"""Taking replies in: keep what arrived, read it, judge it, then apply it or queue it.

Whatever arrives is stored first (a ``Reply`` row with the raw message or form post and what was
read), so nothing is lost whatever happens next, and then applied through the one apply path,
:func:`workflows.replies.apply.apply_reply`. An email (:func:`ingest_email`) is trusted only as
:mod:`workflows.replies.trust` allows, and waits for review otherwise; the same message taken in
twice (a mailbox polled again, a file given twice) is recognised by its Message-ID and not
applied again. A form post (:func:`take_in_form_post`) came through a signed link and is applied.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

import structlog
from sqlalchemy import Engine, func
from sqlmodel import Session, col, or_, select

from workflows.plan.mapping import plan_scale
from workflows.plan.people import plan_people
from workflows.replies.apply import (
    ActionUpdate,
    Answer,
    MeasureFigure,
    RiskReport,
    answer_of,
    apply_reply,
)
from workflows.replies.form import FormReading
from workflows.replies.parsing import ParsedReply, parse_reply
from workflows.replies.requests import RequestView
from workflows.replies.review import request_info
from workflows.replies.trust import ActionPeople, Sender, Verdict, judge_reply
from workflows.store.models import (
    Action,
    ActionContributor,
    Channel,
    Delivery,
    Person,
    Plan,
    Reply,
    ReplyVerdict,
)

log = structlog.get_logger(__name__)


@dataclass
class IngestOutcome:
    reply_id: int
    verdict: str
    reason: str
    sender: str = ""
    person: str | None = None
    request: str | None = None
    reference: str | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)
    late: bool = False
    away_until: date | None = None

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["away_until"] = self.away_until.isoformat() if self.away_until else None
        return data


def jsonable(value: Any) -> Any:
    """A parsed reply (dataclasses, dates, enums) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _raw_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>").lower()


def _find_request(session: Session, parsed: ParsedReply) -> Delivery | None:
    if parsed.reference:
        hit = session.exec(select(Delivery).where(Delivery.reference == parsed.reference)).first()
        if hit is not None:
            return hit
    ids = {_bare(i) for i in (parsed.in_reply_to, *parsed.references) if i}
    if not ids:
        return None
    candidates = session.exec(
        select(Delivery).where(
            or_(*(func.lower(col(Delivery.provider_id)).contains(i) for i in ids))
        )
    ).all()
    return next((d for d in candidates if _bare(d.provider_id) in ids), None)


def _plan_for(
    session: Session, request: Delivery | None, plan_code: str | None, sender_email: str
) -> tuple[Plan | None, list[Plan]]:
    """The plan a reply is about: the one its request was for; else the one named; else the one
    plan its sender has a place in. With no plan found, the plans it could be for (the sender's
    when they are in several, for the review queue to name)."""
    if request is not None and request.plan_id is not None:
        return session.get(Plan, request.plan_id), []
    if plan_code:
        return session.exec(select(Plan).where(Plan.code == plan_code)).first(), []
    plans = list(session.exec(select(Plan).order_by(col(Plan.code))))
    if len(plans) == 1:
        return plans[0], []
    partnerships = {
        p.partnership
        for p in session.exec(select(Person).where(func.lower(Person.email) == sender_email))
    }
    theirs = [p for p in plans if p.partnership in partnerships]
    if len(theirs) == 1:
        return theirs[0], []
    return None, theirs


def _who_may_report(session: Session, plan: Plan) -> dict[str, ActionPeople]:
    codes = {p.id: p.code for p in plan_people(session, plan)}
    contributors: dict[int, set[str]] = {}
    actions = list(session.exec(select(Action).where(Action.plan_id == plan.id)))
    ids = [a.id for a in actions]
    for link in session.exec(
        select(ActionContributor).where(col(ActionContributor.action_id).in_(ids))
    ):
        if link.person_id in codes:
            contributors.setdefault(link.action_id, set()).add(codes[link.person_id])
    return {
        a.ref: ActionPeople(
            lead=codes.get(a.accountable_id) if a.accountable_id else None,
            contributors=frozenset(contributors.get(a.id or 0, set())),
        )
        for a in actions
    }


def ingest_email(
    engine: Engine, raw: bytes, *, now: datetime, plan_code: str | None = None
) -> IngestOutcome:
    """Store, read, judge and (if trusted) apply one emailed reply."""
    with Session(engine) as session:
        request_probe = parse_reply(raw)
        request = _find_request(session, request_probe)
        plan, could_be = _plan_for(
            session, request, plan_code, request_probe.sender_email.strip().lower()
        )
        refs = (
            [a.ref for a in session.exec(select(Action).where(Action.plan_id == plan.id))]
            if plan is not None
            else []
        )
        scale = plan_scale(plan)
        parsed = parse_reply(raw, scale=scale, known_refs=refs, today=now.date())
        if parsed.message_id:
            earlier = session.exec(
                select(Reply).where(Reply.message_id == parsed.message_id)
            ).first()
            if earlier is not None and earlier.id is not None:
                return IngestOutcome(
                    reply_id=earlier.id,
                    verdict=str(ReplyVerdict.DUPLICATE),
                    reason=f"already taken in as reply {earlier.id}",
                    sender=parsed.sender_email,
                )
        people = plan_people(session, plan) if plan is not None else []
        by_email = {p.email.lower(): p for p in people if p.email}
        person = by_email.get(parsed.sender_email.lower()) if parsed.sender_email else None
        verdict = judge_reply(
            parsed,
            request=request_info(request),
            sender=Sender(person.code, person.delegate_code) if person else None,
            people={p.code: Sender(p.code, p.delegate_code) for p in people},
            actions=_who_may_report(session, plan) if plan is not None else {},
            scale=scale,
            now=now,
        )
        if plan is None and len(could_be) > 1:
            names = " and ".join(f"{p.title or p.code} ({p.code})" for p in could_be)
            verdict = Verdict(
                kind=ReplyVerdict.REVIEW,
                reason=f"the sender leads actions in {len(could_be)} plans, {names}, and the "
                "reply answers no request Chaser sent: apply it from the plan it is about",
            )
        reply = Reply(
            plan_id=plan.id if plan else None,
            channel=str(Channel.EMAIL),
            received_at=now,
            message_id=parsed.message_id[:998],
            sender=parsed.sender_email[:320],
            person_id=person.id if person else None,
            delivery_id=request.id if request else None,
            raw=_raw_text(raw),
            parsed=jsonable(parsed),
            verdict=str(verdict.kind),
            reason=verdict.reason,
            late=verdict.late,
        )
        session.add(reply)
        session.flush()
        assert reply.id is not None
        if verdict.kind is ReplyVerdict.APPLIED and plan is not None and plan.id is not None:
            apply_reply(session, reply, answer_of(verdict.updates), now=now)
        if verdict.kind is ReplyVerdict.AUTO_REPLY and person and verdict.away_until:
            person.away_until = verdict.away_until
            person.updated_at = now
        session.commit()
        log.info("reply_ingested", reply=reply.id, verdict=str(verdict.kind))
        return _outcome(reply.id, verdict, parsed, request)


def _outcome(
    reply_id: int, verdict: Verdict, parsed: ParsedReply, request: Delivery | None
) -> IngestOutcome:
    return IngestOutcome(
        reply_id=reply_id,
        verdict=str(verdict.kind),
        reason=verdict.reason,
        sender=parsed.sender_email,
        person=verdict.person_code,
        request=request.key if request else None,
        reference=parsed.reference,
        updates=[
            {
                "ref": u.ref,
                "status": u.status,
                "status_label": u.status_label,
                "forecast": u.forecast.display if u.forecast else None,
                "narrative": u.narrative,
            }
            for u in verdict.updates
        ],
        late=verdict.late,
        away_until=verdict.away_until,
    )


# -- the reply form ----------------------------------------------------------------------------


def _as_json(update: ActionUpdate) -> dict[str, Any]:
    return {
        "ref": update.ref,
        "status": update.status,
        "status_label": update.status_label,
        "embedded": update.embedded,
        "narrative": update.narrative,
        "evidence": update.evidence,
        "forecast": update.forecast.display if update.forecast else None,
        "no_change": update.no_change,
    }


def take_in_form_post(
    engine: Engine,
    request: RequestView,
    readings: Sequence[FormReading],
    *,
    raw: Mapping[str, Any],
    now: datetime,
) -> int:
    """Keep a reply-form post as a ``Reply`` and apply what it says; the reply's id.

    The post came through the request's signed link, so it is trusted as its recipient's.
    """
    pairs = [(r, r.update) for r in readings if r.update is not None]
    answer = Answer(
        updates=tuple(u for _, u in pairs),
        risks=tuple(
            RiskReport(ref=u.ref, description=r.risks, mitigation=r.mitigations)
            for r, u in pairs
            if r.risks
        ),
        figures=tuple(
            MeasureFigure(measure_id=k, value=v) for r, _ in pairs for k, v in r.figures.items()
        ),
    )
    parsed = {
        "updates": [_as_json(u) for u in answer.updates],
        "risks": [
            {"ref": r.ref, "risks": r.description, "mitigations": r.mitigation}
            for r in answer.risks
        ],
        "figures": {str(f.measure_id): f.value for f in answer.figures},
    }
    with Session(engine) as session:
        reply = Reply(
            plan_id=request.plan_id,
            channel=str(Channel.FORM),
            received_at=now,
            person_id=request.person_id,
            delivery_id=request.delivery_id,
            raw=json.dumps(raw, ensure_ascii=False, sort_keys=True),
            parsed=parsed,
            verdict=str(ReplyVerdict.APPLIED),
            reason="posted on the reply form through the request's signed link",
            late=request.late(now),
        )
        session.add(reply)
        session.flush()
        assert reply.id is not None
        apply_reply(session, reply, answer, now=now)
        session.commit()
        return reply.id
