"""Taking replies in: keep what arrived, read it, judge it, then apply it or queue it.

Whatever arrives is stored first (a ``Reply`` row with the raw message or form post and what was
read), so nothing is lost whatever happens next, and then applied through the one apply path,
:func:`workflows.replies.apply.apply_reply`. An email (:func:`ingest_email`) is trusted only as
:mod:`workflows.replies.trust` allows (its sender authenticated by the server the
:class:`~workflows.replies.authentication.Receiver` names, and in the people directory), and
waits for review otherwise; the same message taken in twice (a mailbox polled again, a file
given twice) is recognised by its Message-ID and not applied again. A form post
(:func:`take_in_form_post`) came through a signed link and is applied.

One bad message never stops the ones behind it: a message too big to read, or one that could
not be read or stored, is **quarantined** (:func:`quarantine`): kept as it arrived, with the
reason, on the review queue for the secretary. Only when even that cannot be stored does
:func:`ingest_email` raise (the store is down: the SMTP listener then answers 451 and the sender
tries again; the Graph inbox does not move its cursor).

Stored text is always valid on both databases: no NUL or other control characters (see
:func:`workflows.replies.parsing.clean_text`). ``Reply.raw`` holds the message as UTF-8 text when
it is that (and has no NUL), else ``base64:`` and the bytes, so the original is always
recoverable (:func:`workflows.replies.review.raw_bytes`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email import policy as email_policy
from email.parser import BytesParser
from enum import Enum
from typing import Any

import structlog
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from workflows.calendar.invitations import CalendarReply, read_calendar_reply
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
from workflows.replies.authentication import Receiver, Vouching, vouch
from workflows.replies.figures import apply_figures_and_reviews
from workflows.replies.form import FormReading
from workflows.replies.parsing import (
    MAX_MESSAGE_BYTES,
    ParsedReply,
    clean_text,
    message_over_limits,
    parse_reply,
)
from workflows.replies.requests import RequestView
from workflows.replies.review import request_info
from workflows.replies.trust import ActionPeople, Sender, Verdict, judge_reply
from workflows.store.invitation_models import Invitation
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
    """A parsed reply (dataclasses, dates, enums) as plain JSON values, every string cleaned."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return clean_text(value)
    return value


_BASE64 = "base64:"


def raw_text(raw: bytes) -> str:
    """How ``raw`` is kept in ``Reply.raw``: as text when it is UTF-8 without NUL (PostgreSQL
    refuses NUL in text) and cannot be mistaken for the other form, else ``base64:`` and the
    bytes. :func:`workflows.replies.review.raw_bytes` gives the bytes back either way."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    else:
        if "\x00" not in text and not text.startswith(_BASE64):
            return text
    return _BASE64 + base64.b64encode(raw).decode("ascii")


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>").strip().lower()


#: Message ids looked up per query: an IN list, not one OR per id (SQLite refuses an
#: expression tree deeper than 1,000), so a thread's ``References`` can be as long as it likes.
_LOOKUP_CHUNK = 200


def _find_request(session: Session, parsed: ParsedReply) -> Delivery | None:
    """The request a reply answers: by its reference, else by the message ids it says it
    answers, newest first (``In-Reply-To``, then ``References`` from the last), in chunks of
    :data:`_LOOKUP_CHUNK` lower-cased ids (a provider id is compared trimmed and lower-cased,
    with or without its angle brackets)."""
    if parsed.reference:
        hit = session.exec(select(Delivery).where(Delivery.reference == parsed.reference)).first()
        if hit is not None:
            return hit
    ids = list(
        dict.fromkeys(
            b for b in (_bare(i) for i in (parsed.in_reply_to, *reversed(parsed.references))) if b
        )
    )
    stored = func.lower(func.trim(col(Delivery.provider_id)))
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        forms = [f for i in chunk for f in (i, f"<{i}>")]
        candidates = session.exec(select(Delivery).where(stored.in_(forms))).all()
        found = {_bare(d.provider_id): d for d in candidates}
        hit = next((found[i] for i in chunk if i in found), None)
        if hit is not None:
            return hit
    return None


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
    engine: Engine,
    raw: bytes,
    *,
    now: datetime,
    plan_code: str | None = None,
    receiver: Receiver | None = None,
    received_at: datetime | None = None,
) -> IngestOutcome:
    """Store, read, judge and (if trusted) apply one emailed reply: each clear answer is
    applied, each doubtful one waits for review (``Reply.parsed["answers"]``).

    ``received_at`` is when the transport received it (Graph's ``receivedDateTime``); without
    it, the topmost ``Received`` header's date, then the ``Date`` header, say when it arrived,
    and so whether it was late.

    ``receiver`` says how the message came, and so whose authentication results count
    (:class:`~workflows.replies.authentication.Receiver`); without one, nobody's do, and every
    emailed update waits for review. A message that cannot be read or stored is quarantined
    instead (:func:`quarantine`); this raises only when even that fails.
    """
    over = message_over_limits(raw)
    if over is not None:
        return quarantine(engine, raw, now=now, reason=f"not read: {over}")
    try:
        return _ingest(
            engine,
            raw,
            now=now,
            plan_code=plan_code,
            receiver=receiver or Receiver(),
            received_at=received_at,
        )
    except Exception as exc:
        # Whatever went wrong (the store refused a value, a bug in reading), the message is
        # kept and the ones behind it still come in. The log names the error's type only: its
        # text may quote the message.
        log.warning("reply_not_taken_in", error=type(exc).__name__)
        return quarantine(
            engine,
            raw,
            now=now,
            reason=f"Chaser could not take this message in ({type(exc).__name__}); it is kept "
            "exactly as it arrived",
        )


def sent_time(parsed: ParsedReply, now: datetime, received_at: datetime | None = None) -> datetime:
    """When a reply arrived, for lateness: the transport's received time, then the topmost
    ``Received`` header's, then its ``Date``; never later than ``now`` (a clock ahead, or a
    forged date, does not make it late), else ``now``."""
    for when in (received_at, parsed.received, parsed.date):
        if when is not None and when.tzinfo is not None:
            return min(when, now)
    return now


def _ingest(
    engine: Engine,
    raw: bytes,
    *,
    now: datetime,
    plan_code: str | None,
    receiver: Receiver,
    received_at: datetime | None = None,
) -> IngestOutcome:
    with Session(engine) as session:
        request_probe = parse_reply(raw)
        request = _find_request(session, request_probe)
        plan, could_be = _plan_for(
            session, request, plan_code, request_probe.sender_email.strip().lower()
        )
        plan_actions = (
            list(session.exec(select(Action).where(Action.plan_id == plan.id)))
            if plan is not None
            else []
        )
        refs = [a.ref for a in plan_actions]
        asked = [r for r in (request.action_refs or ()) if r in refs] if request else []
        scale = plan_scale(plan)
        parsed = parse_reply(
            raw,
            scale=scale,
            known_refs=refs,
            today=now.date(),
            titles={a.ref: a.title for a in plan_actions if a.title},
            asked=asked,
        )
        sent_at = sent_time(parsed, now, received_at)
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
        vouching = vouch(
            receiver,
            message_headers=parsed.authentication_results,
            sender_email=parsed.sender_email,
            from_count=parsed.from_count,
        )
        answer = read_calendar_reply(_calendar_part(raw))
        if answer is not None:  # an invitee accepting or declining a meeting: not an update
            return _take_calendar_reply(session, raw, parsed, answer, vouching, plan, now=now)
        verdict = judge_reply(
            parsed,
            request=request_info(request),
            sender=Sender(person.code, person.delegate_code) if person else None,
            people={p.code: Sender(p.code, p.delegate_code) for p in people},
            actions=_who_may_report(session, plan) if plan is not None else {},
            scale=scale,
            now=now,
            vouching=vouching,
            sent_at=sent_at,
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
            raw=raw_text(raw),
            parsed={
                **jsonable(parsed),
                "authentication": _authentication_record(vouching),
                "sent_at": sent_at.isoformat(),
                "answers": [jsonable(a.as_json()) for a in verdict.answers],
            },
            verdict=str(verdict.kind),
            reason=clean_text(verdict.reason),
            late=verdict.late,
        )
        session.add(reply)
        session.flush()
        assert reply.id is not None
        if verdict.updates and plan is not None and plan.id is not None:
            # The clear answers are applied even while doubtful ones wait for review.
            apply_reply(session, reply, answer_of(verdict.updates), now=now)
        if person is not None and vouching.authenticated and plan is not None:
            # Figures ("EHCP 20-week timeliness: 61%") and risk reviews from a trusted sender
            # are kept at once; a reply that held nothing else has nothing left to review.
            kept = apply_figures_and_reviews(session, reply, now=now, refs_asked=asked)
            # An answer naming no action is then the figures themselves, not an update.
            nothing_else = not verdict.updates and not any(
                a.verdict == "review" and a.ref is not None for a in verdict.answers
            )
            if kept and nothing_else and verdict.kind is ReplyVerdict.REVIEW:
                verdict = dataclasses.replace(
                    verdict,
                    kind=ReplyVerdict.APPLIED,
                    reason=f"{kept} figure(s) or risk review(s) kept",
                )
                reply.verdict, reply.reason = str(verdict.kind), verdict.reason
                reply.parsed = {
                    **reply.parsed,
                    "answers": [
                        {**a, "verdict": "acknowledged", "reason": "its figures were kept"}
                        if a.get("verdict") == "review"
                        else a
                        for a in reply.parsed.get("answers", [])
                    ],
                }
        if verdict.kind is ReplyVerdict.AUTO_REPLY and person and verdict.away_until:
            person.away_until = verdict.away_until
            person.updated_at = now
        session.commit()
        log.info("reply_ingested", reply=reply.id, verdict=str(verdict.kind))
        return _outcome(reply.id, verdict, parsed, request)


def _calendar_part(raw: bytes) -> str:
    """The message's iCalendar part (``text/calendar``, or an ``.ics`` file), if it has one."""
    if b"calendar" not in raw and b".ics" not in raw:
        return ""
    try:
        message = BytesParser(policy=email_policy.default).parsebytes(raw)
        for part in message.walk():
            kind = part.get_content_type()
            named = str(part.get_filename() or "").lower().endswith(".ics")
            if kind in ("text/calendar", "application/ics") or named:
                content = part.get_content()
                return content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    except Exception:  # a part that cannot be read is no calendar answer
        return ""
    return ""


def _take_calendar_reply(
    session: Session,
    raw: bytes,
    parsed: ParsedReply,
    answer: CalendarReply,
    vouching: Vouching,
    plan: Plan | None,
    *,
    now: datetime,
) -> IngestOutcome:
    """Record an invitee's answer on the invitation it answers (its UID), when the receiving
    server vouched for the sender and the sender is the attendee who answered; keep the message
    either way. It changes nothing in the plan and waits for nobody."""
    invitation = session.exec(
        select(Invitation)
        .where(Invitation.uid == answer.uid, Invitation.email == answer.email)
        .order_by(col(Invitation.sequence).desc())
    ).first()
    if invitation is None:
        reason = "a calendar answer to an invitation Chaser did not send: nothing recorded"
    elif parsed.sender_email.lower() != answer.email:
        reason = f"a calendar answer for {answer.email} sent by someone else: nothing recorded"
    elif not vouching.authenticated:
        reason = f"a calendar answer, but {vouching.reason}: nothing recorded"
    else:
        invitation.response, invitation.responded_at = answer.answer, now
        session.add(invitation)
        reason = f"{answer.answer} the invitation to {invitation.meeting_key}"
    reply = Reply(
        plan_id=invitation.plan_id if invitation is not None else (plan.id if plan else None),
        channel=str(Channel.EMAIL),
        received_at=now,
        message_id=parsed.message_id[:998],
        sender=parsed.sender_email[:320],
        raw=raw_text(raw),
        parsed={
            **jsonable(parsed),
            "authentication": _authentication_record(vouching),
            "calendar": {"uid": answer.uid, "email": answer.email, "answer": answer.answer},
        },
        verdict=str(ReplyVerdict.AUTO_REPLY),
        reason=clean_text(reason),
    )
    session.add(reply)
    session.commit()
    assert reply.id is not None
    log.info("calendar_reply", reply=reply.id, answer=answer.answer)
    return IngestOutcome(
        reply_id=reply.id, verdict=str(ReplyVerdict.AUTO_REPLY), reason=reason, sender=reply.sender
    )


def _authentication_record(vouching: Vouching) -> dict[str, Any]:
    return {
        "authenticated": vouching.authenticated,
        "by": clean_text(vouching.by),
        "domain": clean_text(vouching.domain),
        "reason": clean_text(vouching.reason),
    }


# -- quarantine ----------------------------------------------------------------------------------

#: What a quarantined message's headers are searched for its Message-ID, From and Subject.
_PEEK_BYTES = 64 * 1024
_PEEK = {
    name: re.compile(rb"(?im)^" + name + rb"[ \t]*:[ \t]*([^\r\n]{0,998})")
    for name in (b"message-id", b"from", b"subject")
}


def _peek(raw: bytes, name: bytes) -> str:
    """A header of ``raw`` as written (first line only), found without parsing the message."""
    head = raw[:_PEEK_BYTES]
    end = head.find(b"\n\r\n")
    end = head.find(b"\n\n") if end < 0 else end
    found = _PEEK[name].search(head if end < 0 else head[:end])
    if found is None:
        return ""
    return " ".join(clean_text(found.group(1).decode("utf-8", "replace")).split())


def quarantine(engine: Engine, raw: bytes, *, now: datetime, reason: str) -> IngestOutcome:
    """Keep a message Chaser could not read or store, exactly as it arrived (up to
    :data:`~workflows.replies.parsing.MAX_MESSAGE_BYTES`), with ``reason``, for the secretary:
    a reply with verdict ``quarantined`` on the review queue, which nothing reads again and
    which changes nothing. Only what is safe to store goes with it: its Message-ID, From
    address and Subject as written, cleaned. Raises only when the store cannot keep it."""
    message_id = next(iter(re.findall(r"<[^<>\s]+>", _peek(raw, b"message-id"))), "")[:998]
    sender = next(
        (w.strip("<>\"',;").lower() for w in _peek(raw, b"from").split() if "@" in w), ""
    )[:320]
    kept = raw[:MAX_MESSAGE_BYTES]
    reason = clean_text(reason)
    if len(kept) < len(raw):
        reason += f" (the first {MAX_MESSAGE_BYTES // (1024 * 1024)} MB of it are kept)"
    with Session(engine) as session:
        if message_id:
            earlier = session.exec(select(Reply).where(Reply.message_id == message_id)).first()
            if earlier is not None and earlier.id is not None:
                return IngestOutcome(
                    reply_id=earlier.id,
                    verdict=str(ReplyVerdict.DUPLICATE),
                    reason=f"already taken in as reply {earlier.id}",
                    sender=sender,
                )
        reply = Reply(
            channel=str(Channel.EMAIL),
            received_at=now,
            message_id=message_id,
            sender=sender,
            raw=raw_text(kept),
            parsed={
                "subject": _peek(raw, b"subject")[:998],
                "body": "",
                "problems": [reason],
                "size": len(raw),
            },
            verdict=str(ReplyVerdict.QUARANTINED),
            reason=reason,
        )
        session.add(reply)
        session.commit()
        assert reply.id is not None
        log.warning("reply_quarantined", reply=reply.id, size=len(raw))
        return IngestOutcome(
            reply_id=reply.id,
            verdict=str(ReplyVerdict.QUARANTINED),
            reason=reason,
            sender=sender,
        )


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
