"""Deciding whether an emailed reply may change the plan (pure).

Each answer of a reply is judged on its own (:class:`AnswerVerdict`): it is applied only when the
receiving side authenticated the reply's sender, the action is one that sender leads,
contributes to, or answers for as a delegate, and the answer is clear; a doubtful answer waits
for review with its reason while the clear ones are applied. Authenticated
means: the mail server Chaser trusts for the way the message came (the council's gateway, or
Exchange Online through Graph) recorded that the sender's domain passed SPF, DKIM or DMARC,
aligned with the From address (:mod:`workflows.replies.authentication`); and that From address
is someone's in the people directory. The From address alone proves nothing. The reference in
the subject (or In-Reply-To) finds the request it answers, so a reply without refs can be read
against the actions that request listed ("All on track": all of them; an answer for a request
about one action: that one; otherwise it waits for review); it identifies the request,
it does not vouch for the sender. Anything else goes to the review queue with the reason, for
the secretary to apply or reject: never silently dropped, never silently applied. Out-of-office
replies change nothing but the sender's ``away_until``, and that only when authenticated too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from workflows.plan.dates import FuzzyDate, Precision
from workflows.plan.mapping import StatusScale
from workflows.replies.apply import ActionUpdate
from workflows.replies.authentication import Vouching
from workflows.replies.parsing import ActionReply, ParsedReply
from workflows.store.models import ReplyVerdict


@dataclass(frozen=True)
class RequestInfo:
    """The outgoing request a reply answers (from the outbox)."""

    delivery_id: int
    lead: str  # whose actions it asked about
    recipient: str  # who it was sent to
    refs: tuple[str, ...]
    due_by: datetime | None


@dataclass(frozen=True)
class Sender:
    code: str
    delegate_code: str = ""


@dataclass(frozen=True)
class ActionPeople:
    """Who may report on an action."""

    lead: str | None
    contributors: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    kind: ReplyVerdict
    reason: str
    person_code: str | None = None
    updates: tuple[ActionUpdate, ...] = ()
    late: bool = False
    away_until: date | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    #: Each answer's verdict (see :class:`AnswerVerdict`), in the order of the reply.
    answers: tuple[AnswerVerdict, ...] = ()


def may_report(code: str, on: ActionPeople, people: Mapping[str, Sender]) -> bool:
    """The lead, a contributor, or the delegate of either."""
    allowed = {c for c in (on.lead, *on.contributors) if c}
    if code in allowed:
        return True
    return any(people.get(c, Sender(c)).delegate_code == code for c in allowed)


def _listed(items: Sequence[str], most: int = 10, sep: str = ", ") -> str:
    """The first ``most`` items (a reason stays readable however many a message names)."""
    shown = sep.join(items[:most])
    return shown + (f"{sep}and {len(items) - most} more" if len(items) > most else "")


#: How sure a title match must be (rapidfuzz score, 0-100) to apply without review.
TITLE_SCORE_TO_APPLY = 90


@dataclass(frozen=True)
class AnswerVerdict:
    """What Chaser decided about one answer of a reply (kept in ``Reply.parsed["answers"]``)."""

    ref: str | None
    verdict: str  # "applied" | "review" | "unchanged" | "acknowledged"
    reason: str
    match: str  # "ref" | "title" | "order" | "inline" | "others" | "all" | "only" | ""
    score: int | None = None
    update: ActionUpdate | None = None  # what applying it records (or would, once reviewed)
    read: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "verdict": self.verdict,
            "reason": self.reason,
            "match": self.match,
            "score": self.score,
            "read": dict(self.read),
            "update": update_json(self.update) if self.update is not None else None,
        }


def update_json(update: ActionUpdate) -> dict[str, Any]:
    """An update as stored in an answer, for the review queue to apply later."""
    f = update.forecast
    return {
        "ref": update.ref,
        "status": update.status,
        "status_label": update.status_label,
        "embedded": update.embedded,
        "narrative": update.narrative,
        "evidence": update.evidence,
        "forecast": (
            {"year": f.year, "month": f.month, "day": f.day, "precision": str(f.precision)}
            if f is not None
            else None
        ),
        "no_change": update.no_change,
    }


def update_from_json(data: Mapping[str, Any]) -> ActionUpdate:
    """:func:`update_json` read back."""
    f = data.get("forecast")
    forecast = (
        FuzzyDate(int(f["year"]), f.get("month"), f.get("day"), Precision(f["precision"]))
        if isinstance(f, Mapping)
        else None
    )
    return ActionUpdate(
        ref=str(data["ref"]),
        status=data.get("status") or None,
        status_label=str(data.get("status_label") or ""),
        embedded=bool(data.get("embedded")),
        narrative=str(data.get("narrative") or ""),
        evidence=str(data.get("evidence") or ""),
        forecast=forecast,
        no_change=bool(data.get("no_change")),
    )


def _read_of(source: ActionReply) -> dict[str, Any]:
    s = source.status
    f = source.forecast
    return {
        "status": s.meaning if s else None,
        "status_label": s.label if s else "",
        "status_words": s.words if s else "",
        "revised_date": (
            {
                "first": f.first_day.isoformat(),
                "last": f.last_day.isoformat(),
                "precision": str(f.precision),
                "display": f.display,
                "words": source.forecast_words,
            }
            if f is not None
            else None
        ),
        "narrative": source.narrative,
        "evidence": list(source.evidence),
        "unchanged": source.unchanged,
        "problems": list(source.problems),
    }


def judge_reply(
    parsed: ParsedReply,
    *,
    request: RequestInfo | None,
    sender: Sender | None,
    people: Mapping[str, Sender],
    actions: Mapping[str, ActionPeople],
    scale: StatusScale | None,
    now: datetime,
    vouching: Vouching,
    sent_at: datetime | None = None,
) -> Verdict:
    """What to do with ``parsed``, answer by answer: ``vouching`` says whether the receiving
    server authenticated its sender (:func:`workflows.replies.authentication.vouch`);
    ``sender`` is the directory person its From address belongs to, if any; ``sent_at`` when
    the reply arrived (lateness is judged by it; ``now`` when not known).

    Clear answers from a trusted sender are applied (``updates``); doubtful ones wait for
    review, each with its reason (``answers``). The verdict is ``review`` while any answer
    waits, ``applied`` otherwise ("thanks, will reply next week" is applied as an
    acknowledgement that changes nothing)."""
    code = sender.code if sender is not None else None
    if parsed.auto_reply:
        if sender is None:
            return Verdict(ReplyVerdict.REVIEW, "an automatic reply from an unknown sender")
        if not vouching.authenticated:
            return Verdict(
                ReplyVerdict.AUTO_REPLY,
                f"an automatic reply, but {vouching.reason}: nothing changed",
                code,
            )
        reason = (
            f"out of office until {parsed.away_until:%d %b %Y}: chases go to the delegate"
            if parsed.away_until
            else "out of office, no return date given: nothing changed"
        )
        return Verdict(ReplyVerdict.AUTO_REPLY, reason, code, away_until=parsed.away_until)
    late = request is not None and request.due_by is not None and (sent_at or now) > request.due_by
    blocker = ""
    if sender is None:
        named = f" (it gives the name “{parsed.sender_name[:80]}”)" if parsed.sender_name else ""
        blocker = (
            f"the sender {parsed.sender_email or '(none)'} is not in the people directory{named}"
        )
    elif not vouching.authenticated:
        blocker = vouching.reason
    elif parsed.limits:
        blocker = "; ".join(parsed.limits)
    if parsed.acknowledged and not blocker:
        ack = AnswerVerdict(
            None,
            "acknowledged",
            "an acknowledgement: the update is to follow; nothing changed",
            "",
        )
        return Verdict(
            ReplyVerdict.APPLIED,
            "acknowledged: the update is to follow; nothing changed",
            code,
            late=late,
            answers=(ack,),
        )
    answers = [
        _judge_answer(r, m, s, sender, actions, people, scale)
        for r, m, s in _resolve(parsed, request)
    ]
    if blocker:
        answers = [
            dataclasses.replace(a, verdict="review", reason=blocker)
            if a.verdict != "review"
            else dataclasses.replace(a, reason=f"{blocker}; {a.reason}")
            for a in answers
        ]
    waiting = [a for a in answers if a.verdict == "review"]
    applied = [a for a in answers if a.verdict in ("applied", "unchanged")]
    updates = tuple(a.update for a in applied if a.update is not None)
    problems = tuple(p for u in parsed.updates for p in u.problems)
    if blocker:
        return Verdict(ReplyVerdict.REVIEW, blocker, code, late=late, answers=tuple(answers))
    if not answers:
        why = "no update could be read from it"
        if any(u.status or u.narrative or u.forecast for u in parsed.updates):
            why = "no action named and no request found to read it against"
        return Verdict(ReplyVerdict.REVIEW, why, code, late=late, problems=problems)
    if waiting:
        reasons = _listed([f"{a.ref or 'the reply'}: {a.reason}" for a in waiting], 5, "; ")
        done = f"{len(applied)} applied; " if applied else ""
        why = (
            waiting[0].reason
            if len(answers) == 1
            else f"{done}{len(waiting)} waiting for review ({reasons})"
        )
        return Verdict(
            ReplyVerdict.REVIEW,
            why,
            code,
            updates=updates,
            late=late,
            problems=problems,
            answers=tuple(answers),
        )
    return Verdict(
        ReplyVerdict.APPLIED,
        "from the lead, a contributor or a delegate" + (" (late)" if late else ""),
        code,
        updates=updates,
        late=late,
        answers=tuple(answers),
    )


def _resolve(
    parsed: ParsedReply, request: RequestInfo | None
) -> list[tuple[str | None, str, ActionReply]]:
    """Each answer with the action it is about (``None``: no action could be told), and how."""
    named = {u.ref for u in parsed.updates if u.ref}
    out: list[tuple[str | None, str, ActionReply]] = []
    for u in parsed.updates:
        if not (u.status or u.narrative.strip() or u.forecast or u.unchanged or u.evidence):
            continue
        if u.ref:
            out.append((u.ref, u.match or "ref", u))
        elif request is not None and request.refs and (u.all_actions or len(request.refs) == 1):
            how = "all" if len(request.refs) > 1 else "only"
            out.extend((ref, how, u) for ref in request.refs if ref not in named)
        else:
            out.append((None, "", u))
    return out


def _judge_answer(
    ref: str | None,
    match: str,
    source: ActionReply,
    sender: Sender | None,
    actions: Mapping[str, ActionPeople],
    people: Mapping[str, Sender],
    scale: StatusScale | None,
) -> AnswerVerdict:
    read = _read_of(source)
    score = source.score

    def review(reason: str) -> AnswerVerdict:
        update = to_action_update(ResolvedUpdate(ref, source), scale) if ref else None
        return AnswerVerdict(ref, "review", reason, match, score, update, read)

    if source.problems:
        return review(_listed(list(source.problems), 3, "; "))
    if ref is None:
        return review("it names no action, and the request asked about several: which one?")
    if ref not in actions:
        return review(f"no action {ref} in the plan")
    if sender is not None and not may_report(sender.code, actions[ref], people):
        return review(f"{sender.code} is not the lead, a contributor or a delegate for {ref}")
    if match == "title" and (score or 0) < TITLE_SCORE_TO_APPLY:
        return review(f"found by its title only (score {score}): check it is the right action")
    update = to_action_update(ResolvedUpdate(ref, source), scale)
    if source.unchanged:
        return AnswerVerdict(
            ref, "unchanged", "the lead says it is unchanged", match, score, update, read
        )
    how = {
        "ref": "its number",
        "title": f"its title (score {score})",
        "order": "the order of the answers under the request",
        "inline": "the answer under its line in the quoted request",
        "all": "an answer for all the actions asked about",
        "only": "the one action asked about",
    }.get(match, match)
    return AnswerVerdict(ref, "applied", f"clear, found by {how}", match, score, update, read)


@dataclass(frozen=True)
class ResolvedUpdate:
    ref: str | None
    source: ActionReply


def expand_updates(parsed: ParsedReply, request: RequestInfo | None) -> list[ResolvedUpdate]:
    """Each answer with the action it is about, as :func:`judge_reply` resolves them; answers
    whose action cannot be told are left out."""
    return [ResolvedUpdate(ref, u) for ref, _, u in _resolve(parsed, request) if ref]


def to_action_update(resolved: ResolvedUpdate, scale: StatusScale | None) -> ActionUpdate:
    reply = resolved.source
    status = reply.status
    meaning = status.meaning if status is not None else None
    label = status.label if status is not None else ""
    embedded = status.embedded if status is not None else False
    if status is not None and not label and scale is not None:
        match = next((v for v in scale.values if str(v.meaning) == meaning), None)
        if match is not None:
            label, embedded = match.value, match.embedded
    return ActionUpdate(
        ref=resolved.ref or "",
        status=meaning,
        status_label=label,
        embedded=embedded,
        narrative=reply.narrative,
        evidence="\n".join(reply.evidence),
        forecast=reply.forecast,
        no_change=reply.unchanged,
    )
