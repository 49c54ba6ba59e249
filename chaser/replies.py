"""Taking in emailed replies: keep the raw message, read it, judge it, apply it or queue it.

Whatever arrives is stored first (a ``Reply`` row with the raw message and what was read), so
nothing is lost whatever happens next. The same message ingested twice (a mailbox polled
again, a file given twice) is recognised by its Message-ID and not applied again.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

import structlog
from sqlalchemy import Engine, func
from sqlmodel import Session, col, or_, select

from workflows.replies.apply import apply_updates
from workflows.replies.parsing import ParsedReply, parse_reply
from workflows.replies.review import (
    ReviewError,
    decide,
    pending_reviews,
    plan_scale,
    raw_bytes,
    request_info,
)
from workflows.replies.trust import (
    ActionPeople,
    Sender,
    Verdict,
    judge_reply,
)
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

__all__ = [
    "IngestOutcome",
    "ReviewError",
    "decide",
    "ingest_email",
    "jsonable",
    "pending_reviews",
    "raw_bytes",
]

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


def _plan_for(session: Session, request: Delivery | None, plan_code: str | None) -> Plan | None:
    if request is not None and request.plan_id is not None:
        return session.get(Plan, request.plan_id)
    if plan_code:
        return session.exec(select(Plan).where(Plan.code == plan_code)).first()
    plans = session.exec(select(Plan)).all()
    return plans[0] if len(plans) == 1 else None


def _who_may_report(session: Session, plan_id: int) -> dict[str, ActionPeople]:
    codes = {p.id: p.code for p in session.exec(select(Person))}
    contributors: dict[int, set[str]] = {}
    for link in session.exec(select(ActionContributor)):
        contributors.setdefault(link.action_id, set()).add(codes[link.person_id])
    return {
        a.ref: ActionPeople(
            lead=codes.get(a.accountable_id) if a.accountable_id else None,
            contributors=frozenset(contributors.get(a.id or 0, set())),
        )
        for a in session.exec(select(Action).where(Action.plan_id == plan_id))
    }


def ingest_email(
    engine: Engine, raw: bytes, *, now: datetime, plan_code: str | None = None
) -> IngestOutcome:
    """Store, read, judge and (if trusted) apply one emailed reply."""
    with Session(engine) as session:
        request_probe = parse_reply(raw)
        request = _find_request(session, request_probe)
        plan = _plan_for(session, request, plan_code)
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
        people = list(session.exec(select(Person)))
        by_email = {p.email.lower(): p for p in people if p.email}
        person = by_email.get(parsed.sender_email.lower()) if parsed.sender_email else None
        verdict = judge_reply(
            parsed,
            request=request_info(request),
            sender=Sender(person.code, person.delegate_code) if person else None,
            people={p.code: Sender(p.code, p.delegate_code) for p in people},
            actions=_who_may_report(session, plan.id) if plan and plan.id else {},
            scale=scale,
            now=now,
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
            apply_updates(
                session,
                plan_id=plan.id,
                person_id=person.id if person else None,
                channel=str(Channel.EMAIL),
                updates=list(verdict.updates),
                now=now,
                late=verdict.late,
                reply_id=reply.id,
            )
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
