"""The review queue: replies Chaser could not trust, waiting for the secretary to apply or reject.

A reply goes to review (verdict ``review``) when its sender is unknown, was not authenticated by
the receiving mail server, may not report on an action it names, or what it says could not be
read cleanly (see :mod:`workflows.replies.trust`). A message that could not be read or stored at
all is on the queue too (verdict ``quarantined``, kept as it arrived, see
:func:`workflows.replies.intake.quarantine`): it can only be rejected. Nothing in either changes
the plan until the secretary applies it, as read; rejecting it changes nothing and keeps it on
record with who decided, when and why. The CLI (``chaser replies review``) and the secretary's
``/review`` page both work through this module.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from workflows.plan.dates import parse_date_cell
from workflows.plan.mapping import StatusScale, plan_scale
from workflows.replies.apply import ActionUpdate, UnknownAction, answer_of, apply_reply
from workflows.replies.figures import apply_figures_and_reviews, figures_and_reviews_pending
from workflows.replies.parsing import ParsedReply, parse_reply
from workflows.replies.trust import (
    RequestInfo,
    expand_updates,
    to_action_update,
    update_from_json,
    update_json,
)
from workflows.store.models import Delivery, Person, Plan, Reply, ReplyVerdict


class ReviewError(Exception):
    """The reply cannot be decided this way; the message says why and what to do."""


def raw_bytes(stored: str) -> bytes:
    """A stored raw message back as bytes (messages that are not UTF-8 text, or hold a NUL, are
    stored as base64; an older row whose text merely began so is given back as text)."""
    if stored.startswith("base64:"):
        try:
            return base64.b64decode(stored.removeprefix("base64:"), validate=True)
        except (binascii.Error, ValueError):
            pass
    return stored.encode("utf-8", "surrogateescape")


#: What waits on the review queue.
WAITING = (str(ReplyVerdict.REVIEW), str(ReplyVerdict.QUARANTINED))
#: Replies on one page of the review queue.
REVIEW_PAGE_SIZE = 20


def request_info(request: Delivery | None) -> RequestInfo | None:
    """What the trust rules need to know of the request a reply answers."""
    if request is None or request.id is None:
        return None
    return RequestInfo(
        delivery_id=request.id,
        lead=request.person_code,
        recipient=request.recipient_code,
        refs=tuple(request.action_refs or ()),
        due_by=request.due_by,
    )


def _waiting(plan_id: int | None, *, tied: bool) -> SelectOfScalar[Reply]:
    """The query of the replies waiting for review (``tied``: only plan ``plan_id``'s, and
    those tied to no plan), by the index on (verdict, plan)."""
    query = select(Reply).where(col(Reply.verdict).in_(WAITING))
    if tied:
        query = query.where(
            or_(
                col(Reply.plan_id) == (plan_id if plan_id is not None else -1),
                col(Reply.plan_id).is_(None),
            )
        )
    return query


def pending_reviews(
    session: Session, plan_code: str | None = None, *, limit: int | None = None, offset: int = 0
) -> Sequence[Reply]:
    """Every reply waiting for review, quarantined ones included, oldest first (only
    ``plan_code``'s, and those tied to no plan, when given; ``limit`` of them from ``offset``,
    when given: a page of the queue)."""
    plan_id = None
    if plan_code is not None:
        plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
        plan_id = plan.id if plan else None
    query = _waiting(plan_id, tied=plan_code is not None).order_by(col(Reply.id))
    if limit is not None:
        query = query.offset(offset).limit(limit)
    return session.exec(query).all()


def pending_counts(session: Session, plan_code: str | None = None) -> dict[str, int]:
    """How many replies wait for review, by verdict (``review``, ``quarantined``), only
    ``plan_code``'s and those tied to no plan when given: one grouped query for the queue's
    pages, however long the queue."""
    plan_id = None
    if plan_code is not None:
        plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
        plan_id = plan.id if plan else None
    chosen = _waiting(plan_id, tied=plan_code is not None).subquery()
    return {
        str(verdict): int(n)
        for verdict, n in session.execute(
            select(chosen.c.verdict, func.count()).group_by(chosen.c.verdict)
        )
    }


def review_page_of(
    session: Session, plan_code: str, reply_id: int, page_size: int = REVIEW_PAGE_SIZE
) -> int:
    """The page of the queue (1 first) that shows reply ``reply_id``: a decision refused for a
    reply on page 3 is shown again on page 3, its error beside it. One ``COUNT``."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    earlier = (
        _waiting(plan.id if plan else None, tied=plan is not None)
        .where(col(Reply.id) < reply_id)
        .subquery()
    )
    before = int(session.execute(select(func.count()).select_from(earlier)).scalar_one())
    return before // page_size + 1


def waiting_answers(reply: Reply) -> list[Mapping[str, Any]]:
    """The answers of ``reply`` that wait for review (``parsed["answers"]``), each with the
    action it is about and the update it would record."""
    answers = reply.parsed.get("answers") if isinstance(reply.parsed, Mapping) else None
    if not isinstance(answers, list):
        return []
    return [
        a
        for a in answers
        if isinstance(a, Mapping)
        and a.get("verdict") == "review"
        and a.get("ref")
        and isinstance(a.get("update"), Mapping)
    ]


def as_read(
    reply: Reply, plan: Plan | None, request: Delivery | None, *, today: date
) -> list[ActionUpdate]:
    """The updates applying ``reply`` would make: the answers waiting for review, as read when
    it came in (a reply stored before answers were kept: its message read again with the
    plan's scale)."""
    answers = reply.parsed.get("answers") if isinstance(reply.parsed, Mapping) else None
    if isinstance(answers, list) and answers:
        return [update_from_json(a["update"]) for a in waiting_answers(reply)]
    scale = plan_scale(plan)
    parsed = parse_reply(raw_bytes(reply.raw), scale=scale, today=today)
    return _as_read(parsed, request, scale)


def _as_read(
    parsed: ParsedReply, request: Delivery | None, scale: StatusScale | None
) -> list[ActionUpdate]:
    info = request_info(request)
    return [to_action_update(r, scale) for r in expand_updates(parsed, info)]


@dataclass(frozen=True)
class AnswerEdit:
    """What the secretary changed in one action's update before applying it; ``None`` keeps
    what was read. ``status`` is a value of the plan's scale ("Amber"), ``forecast`` a date as
    a plan writes one ("2026-03-31", "March 2026"), ``narrative`` the text to record."""

    status: str | None = None
    forecast: str | None = None
    narrative: str | None = None


def _edited(
    reply_id: int,
    updates: list[ActionUpdate],
    edits: Mapping[str, AnswerEdit],
    scale: StatusScale | None,
) -> list[ActionUpdate]:
    """``updates`` with the secretary's ``edits`` made; a ref not waiting, a status not on the
    scale or a date that cannot be read raises :class:`ReviewError` naming it."""
    waiting = {u.ref for u in updates}
    unknown = sorted(set(edits) - waiting)
    if unknown:
        raise ReviewError(
            f"reply {reply_id}: action {', '.join(unknown)} is not among the updates waiting "
            f"({', '.join(sorted(waiting)) or 'none'}); edit only those"
        )
    out = []
    for update in updates:
        edit = edits.get(update.ref)
        if edit is None:
            out.append(update)
            continue
        if edit.status is not None and edit.status.strip():
            value = scale.lookup(edit.status) if scale is not None else None
            if value is None:
                names = ", ".join(v.value for v in scale.values) if scale else "none configured"
                raise ReviewError(
                    f"reply {reply_id}, action {update.ref}, status: {edit.status!r} is not on "
                    f"the plan's status scale ({names}); write one of those"
                )
            update = replace(
                update,
                status=str(value.meaning),
                status_label=value.value,
                embedded=value.embedded,
                no_change=False,
            )
        if edit.forecast is not None and edit.forecast.strip():
            parsed = parse_date_cell(edit.forecast.strip())
            if parsed.date is None or parsed.problem:
                raise ReviewError(
                    f"reply {reply_id}, action {update.ref}, revised date: {edit.forecast!r} "
                    "cannot be read as a date; write it as 2026-03-31 or March 2026"
                )
            update = replace(update, forecast=parsed.date, no_change=False)
        if edit.narrative is not None:
            update = replace(update, narrative=edit.narrative.strip(), no_change=False)
        out.append(update)
    return out


def _record_edits(
    reply: Reply, before: list[ActionUpdate], after: list[ActionUpdate], by: str, now: datetime
) -> None:
    """Keep in ``reply.parsed["edits"]`` who changed which update, when, and what was read."""
    edits = [
        {
            "ref": old.ref,
            "by": by,
            "at": now.isoformat(),
            "read": update_json(old),
            "applied": update_json(new),
        }
        for old, new in zip(before, after, strict=True)
        if old != new
    ]
    if edits:
        reply.parsed = {**reply.parsed, "edits": edits}


def decide(
    engine: Engine,
    reply_id: int,
    *,
    apply: bool,
    by: str,
    now: datetime,
    reason: str = "",
    plan_code: str | None = None,
    edits: Mapping[str, AnswerEdit] | None = None,
) -> Reply:
    """The secretary applies (as read, or with ``edits`` made to what was read, per action
    ref) or rejects a reply waiting for review. With ``plan_code``, only a reply of that plan
    (or tied to none) may be decided. Bad edits raise :class:`ReviewError`, nothing applied."""
    with Session(engine) as session:
        reply = session.get(Reply, reply_id)
        if reply is not None and plan_code is not None and reply.plan_id is not None:
            plan = session.get(Plan, reply.plan_id)
            if plan is None or plan.code != plan_code:
                reply = None  # another plan's queue: as if it did not exist
        if reply is None:
            raise ReviewError(f"there is no reply {reply_id}; `chaser replies review` lists them")
        if reply.verdict not in WAITING:
            raise ReviewError(f"reply {reply_id} is {reply.verdict}, not waiting for review")
        if apply and reply.verdict == ReplyVerdict.QUARANTINED:
            raise ReviewError(
                f"reply {reply_id} could not be read ({reply.reason}): reject it, and enter "
                "the update by hand if it has one"
            )
        if apply:
            if reply.plan_id is None and plan_code is not None:
                _tie_to_plan(session, reply, plan_code)  # applied from this plan's queue
            if reply.plan_id is None:
                raise ReviewError(
                    f"reply {reply_id} could not be tied to a plan; apply it from the plan it is "
                    "about (`--plan CODE`), or enter the update by hand"
                )
            plan = session.get(Plan, reply.plan_id)
            request = session.get(Delivery, reply.delivery_id) if reply.delivery_id else None
            updates = as_read(reply, plan, request, today=now.date())
            if edits:
                edited = _edited(reply_id, updates, edits, plan_scale(plan))
                _record_edits(reply, updates, edited, by, now)
                updates = edited
            kept = 0
            if reply.channel == "email" and figures_and_reviews_pending(reply):
                kept = apply_figures_and_reviews(
                    session,
                    reply,
                    now=now,
                    refs_asked=list(request.action_refs or ()) if request else [],
                )
            if not updates and not kept:
                raise ReviewError(
                    f"nothing could be read from reply {reply_id}; reject it and enter the "
                    "update by hand"
                )
            try:
                if updates:
                    apply_reply(session, reply, answer_of(updates), now=now)
            except UnknownAction as exc:
                raise ReviewError(f"reply {reply_id}: {exc}; reject it instead") from exc
        _decide_answers(reply, "applied" if apply else "rejected", by)
        reply.verdict = str(ReplyVerdict.APPLIED if apply else ReplyVerdict.REJECTED)
        reply.reason = reason or reply.reason
        reply.decided_by, reply.decided_at = by, now
        session.commit()
        session.refresh(reply)
        return reply


def _decide_answers(reply: Reply, verdict: str, by: str) -> None:
    """Mark the answers that waited for review as the secretary decided them."""
    answers = reply.parsed.get("answers") if isinstance(reply.parsed, Mapping) else None
    if not isinstance(answers, list):
        return
    decided = [
        {**a, "verdict": verdict, "decided_by": by}
        if isinstance(a, Mapping) and a.get("verdict") == "review"
        else a
        for a in answers
    ]
    reply.parsed = {**reply.parsed, "answers": decided}


def _tie_to_plan(session: Session, reply: Reply, plan_code: str) -> None:
    """A reply that named no request, from someone in several plans, is for the plan whose
    queue the secretary applied it from; its sender is that plan's person with the address."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None:
        return
    reply.plan_id = plan.id
    if reply.sender:
        person = session.exec(
            select(Person).where(
                Person.partnership == plan.partnership,
                func.lower(Person.email) == reply.sender.lower(),
            )
        ).first()
        reply.person_id = person.id if person else None


def decision_of(session: Session, reply_id: int) -> str:
    """``applied`` or ``rejected`` for a reply decided from the queue, else ``""``."""
    reply = session.get(Reply, reply_id)
    if reply is None or not reply.decided_by:
        return ""
    return reply.verdict


# -- the queue as the secretary's page shows it ------------------------------------------------


@dataclass(frozen=True)
class ReadUpdate:
    """One update Chaser read from a reply: what applying it would record."""

    ref: str
    status_label: str  # the plan's own value ("Amber"), or the meaning when it has none
    forecast: str  # "Oct 2025", "" for none
    narrative: str


@dataclass(frozen=True)
class ReviewItem:
    reply_id: int
    received_at: datetime
    channel: str
    sender: str  # the From address, as received (not trusted by itself)
    sender_name: str  # the directory's name for that address, "" for a stranger
    subject: str
    reason: str  # why it was not trusted
    text: str  # the message as read (quoted text removed)
    late: bool
    request_reference: str  # "CHS-…" of the request it answers, "" if none was found
    request_lead: str  # whose request it answers (a name), "" if none
    read: tuple[ReadUpdate, ...]  # what applying it would record (empty: nothing readable)
    problems: tuple[str, ...]  # what the reader could not make sense of
    #: It could not be read at all: kept as it arrived (``size`` bytes), it can only be rejected.
    quarantined: bool = False
    size: int = 0


def review_items(
    session: Session,
    plan_code: str,
    *,
    now: datetime,
    page: int | None = None,
    page_size: int = REVIEW_PAGE_SIZE,
    reply_ids: Collection[int] | None = None,
) -> list[ReviewItem]:
    """The replies waiting for review for this plan (and those tied to no plan), oldest first,
    quarantined ones among them: page ``page`` of them (``page_size`` a page) when given, or
    only ``reply_ids`` when given, so a page reads a bounded number of rows however long the
    queue (:func:`pending_counts` says how many there are)."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    query = _waiting(plan.id if plan else None, tied=plan is not None)
    if reply_ids is not None:
        query = query.where(col(Reply.id).in_(sorted(reply_ids)))
    query = query.order_by(col(Reply.id))
    if page is not None:
        query = query.offset((max(page, 1) - 1) * page_size).limit(page_size)
    replies = session.exec(query).all()
    if not replies:
        return []
    request_ids = {r.delivery_id for r in replies if r.delivery_id is not None}
    requests = (
        {d.id: d for d in session.exec(select(Delivery).where(col(Delivery.id).in_(request_ids)))}
        if request_ids
        else {}
    )
    partnerships = (
        {
            p.id: p.partnership
            for p in session.exec(
                select(Plan).where(
                    col(Plan.id).in_({d.plan_id for d in requests.values()} - {None})
                )
            )
        }
        if requests
        else {}
    )
    wanted = {r.person_id for r in replies if r.person_id is not None}
    leads = {(partnerships.get(d.plan_id, ""), d.person_code) for d in requests.values()}
    people = (
        list(
            session.exec(
                select(Person).where(
                    or_(
                        col(Person.id).in_(sorted(wanted)),
                        col(Person.code).in_(sorted({code for _, code in leads})),
                    )
                )
            )
        )
        if wanted or leads
        else []
    )
    by_id = {p.id: p for p in people}
    by_code = {(p.partnership, p.code): p for p in people}
    items = []
    for reply in replies:
        assert reply.id is not None
        parsed = reply.parsed if isinstance(reply.parsed, Mapping) else {}
        quarantined = reply.verdict == ReplyVerdict.QUARANTINED
        request = requests.get(reply.delivery_id) if reply.delivery_id is not None else None
        reply_plan = plan if plan is not None and reply.plan_id == plan.id else None
        person = by_id.get(reply.person_id) if reply.person_id is not None else None
        lead = (
            by_code.get((partnerships.get(request.plan_id, ""), request.person_code))
            if request is not None
            else None
        )
        problems = [str(p) for p in parsed.get("problems", ()) or ()]
        updates: list[ActionUpdate] = []
        if not quarantined:  # a quarantined message is never read again: it broke the reader
            try:
                updates = as_read(reply, reply_plan, request, today=now.date())
            except Exception as exc:  # one bad row must not take the whole queue down
                problems.append(f"it could not be read again ({type(exc).__name__})")
        items.append(
            ReviewItem(
                reply_id=reply.id,
                received_at=reply.received_at,
                channel=reply.channel,
                sender=reply.sender,
                sender_name=person.name if person else "",
                subject=_text(parsed, "subject"),
                reason=reply.reason,
                text=_text(parsed, "body"),
                late=reply.late,
                request_reference=request.reference if request else "",
                request_lead=(lead.name or lead.code) if lead else "",
                read=tuple(
                    ReadUpdate(
                        ref=u.ref,
                        status_label=u.status_label or (u.status or "").replace("_", " "),
                        forecast=u.forecast.display if u.forecast else "",
                        narrative=u.narrative,
                    )
                    for u in updates
                ),
                problems=tuple(problems),
                quarantined=quarantined,
                size=int(parsed.get("size") or len(raw_bytes(reply.raw))) if quarantined else 0,
            )
        )
    return items


def refs_named(reply: Reply, request: Delivery | None) -> set[str]:
    """The actions a stored reply speaks about that wait for review or were rejected: its answers
    with those verdicts (one naming no action stands for its whole request). A reply stored
    before answers were kept: every action it names."""
    refs: set[str] = set()
    answers = reply.parsed.get("answers")
    if isinstance(answers, list) and answers:
        for answer in answers:
            if not isinstance(answer, Mapping) or answer.get("verdict") not in (
                "review",
                "rejected",
            ):
                continue
            if answer.get("ref"):
                refs.add(str(answer["ref"]))
            elif request is not None:
                refs.update(request.action_refs or ())
        return refs
    for update in reply.parsed.get("updates", ()) or ():
        if not isinstance(update, Mapping):
            continue
        ref = update.get("ref")
        if ref:
            refs.add(str(ref))
        elif request is not None:
            refs.update(request.action_refs or ())
    return refs


def _text(parsed: Mapping[str, Any], key: str) -> str:
    value = parsed.get(key)
    return value if isinstance(value, str) else ""
