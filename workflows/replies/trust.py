"""Deciding whether an emailed reply may change the plan (pure).

A reply is applied only when the receiving side authenticated its sender and every action it
touches is one that sender leads, contributes to, or answers for as a delegate. Authenticated
means: the mail server Chaser trusts for the way the message came (the council's gateway, or
Exchange Online through Graph) recorded that the sender's domain passed SPF, DKIM or DMARC,
aligned with the From address (:mod:`workflows.replies.authentication`); and that From address
is someone's in the people directory. The From address alone proves nothing. The reference in
the subject (or In-Reply-To) finds the request it answers, so a reply without refs ("All on
track") can be read as answering every action that request listed; it identifies the request,
it does not vouch for the sender. Anything else goes to the review queue with the reason, for
the secretary to apply or reject: never silently dropped, never silently applied. Out-of-office
replies change nothing but the sender's ``away_until``, and that only when authenticated too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

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
) -> Verdict:
    """What to do with ``parsed``: ``vouching`` says whether the receiving server authenticated
    its sender (:func:`workflows.replies.authentication.vouch`); ``sender`` is the directory
    person its From address belongs to, if any."""
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
    if sender is None:
        named = f" (it gives the name “{parsed.sender_name[:80]}”)" if parsed.sender_name else ""
        return Verdict(
            ReplyVerdict.REVIEW,
            f"the sender {parsed.sender_email or '(none)'} is not in the people directory{named}",
        )
    if not vouching.authenticated:
        return Verdict(ReplyVerdict.REVIEW, vouching.reason, code)
    if parsed.limits:
        return Verdict(ReplyVerdict.REVIEW, "; ".join(parsed.limits), code)
    updates = expand_updates(parsed, request)
    if not updates:
        why = "no action named and no request found to read it against"
        if not any(u.status or u.narrative or u.forecast for u in parsed.updates):
            why = "no update could be read from it"
        return Verdict(ReplyVerdict.REVIEW, why, code)
    # Per-action problems (conflicting statuses, an unknown ref) block; notes about the message
    # as a whole (no reference, say) do not: trust comes from the sender and the actions.
    problems = [p for u in parsed.updates for p in u.problems]
    if problems:
        return Verdict(
            ReplyVerdict.REVIEW, _listed(problems, 5, "; "), code, problems=tuple(problems)
        )
    unknown = [u.ref for u in updates if u.ref not in actions]
    if unknown:
        return Verdict(ReplyVerdict.REVIEW, f"no action {_listed(unknown)} in the plan", code)
    refused = [u.ref for u in updates if not may_report(sender.code, actions[u.ref], people)]
    if refused:
        return Verdict(
            ReplyVerdict.REVIEW,
            f"{sender.code} is not the lead, a contributor or a delegate for {_listed(refused)}",
            code,
        )
    late = request is not None and request.due_by is not None and now > request.due_by
    return Verdict(
        ReplyVerdict.APPLIED,
        "from the lead, a contributor or a delegate" + (" (late)" if late else ""),
        code,
        updates=tuple(to_action_update(u, scale) for u in updates),
        late=late,
    )


@dataclass(frozen=True)
class ResolvedUpdate:
    ref: str
    source: ActionReply


def expand_updates(parsed: ParsedReply, request: RequestInfo | None) -> list[ResolvedUpdate]:
    """Each update with its ref; one without a ref answers every action of the request."""
    out: list[ResolvedUpdate] = []
    for update in parsed.updates:
        if not (update.status or update.narrative.strip() or update.forecast):
            continue
        if update.ref:
            out.append(ResolvedUpdate(update.ref, update))
        elif request is not None:
            out.extend(ResolvedUpdate(ref, update) for ref in request.refs)
        else:
            return []
    return out


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
        ref=resolved.ref,
        status=meaning,
        status_label=label,
        embedded=embedded,
        narrative=reply.narrative,
        forecast=reply.forecast,
    )
