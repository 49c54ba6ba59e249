"""The digest's scorecard and risk sections: each measure's latest figure against its target
and trajectory, and the register's top risks, new, escalated, overdue-for-review and closed
ones, and what changed since the previous meeting. Read from the store by
:func:`scorecard_section` (measures and risks of the actions in the digest's scope, and those
tied to no action) and kept on :attr:`workflows.digest.contents.Digest.scorecard`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON
from workflows.digest.contents import Digest
from workflows.digest.scorecard_contents import MeasureRow, RiskChangeLine, ScorecardSection
from workflows.measures.scoring import show_period, show_value
from workflows.measures.store import scorecard_lines
from workflows.risks.store import register_lines, scoring_of
from workflows.store.measures_models import RiskChange
from workflows.store.models import Person, Plan

TOP_RISKS = 5
_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo or 1
    return "".join(_SPARKS[round((v - lo) / span * (len(_SPARKS) - 1))] for v in values)


def cycle_start(previous_meeting: date | None, meeting_date: date) -> datetime:
    """The start of the cycle, as the digest counts it: the day after the previous meeting."""
    day = (
        previous_meeting + timedelta(days=1)
        if previous_meeting
        else meeting_date - timedelta(days=21)
    )
    return datetime.combine(day, time(0, 0), tzinfo=LONDON)


def _in_scope(refs: Collection[str], scope: Collection[str]) -> bool:
    return not refs or any(r in scope for r in refs)


def _what(change: RiskChange) -> str:
    words = []
    for name, (before, after) in change.changes.items():
        if name in ("likelihood", "impact", "target_score", "status"):
            words.append(
                f"{name.replace('_', ' ')} {before if before is not None else '–'} → {after}"
            )
        elif name == "mitigation":
            words.append("mitigation: " + str(after))
        elif name == "review_date":
            words.append(f"next review {after}")
        elif name == "note" and after not in ("reviewed", ""):
            words.append(str(after))
    return "; ".join(words) or "reviewed, no change"


def scorecard_section(
    session: Session,
    plan_code: str,
    *,
    since: datetime,
    now: datetime,
    scope_refs: Collection[str],
) -> ScorecardSection | None:
    """The sections for the plan's measures and risks (None when it has neither)."""
    plan = session.exec(select(Plan).where(Plan.code == plan_code)).first()
    if plan is None or plan.id is None:
        return None
    today = now.astimezone(LONDON).date()
    lines = [
        x for x in scorecard_lines(session, plan.id, today) if _in_scope(x.action_refs, scope_refs)
    ]
    risks = [
        r
        for r in register_lines(session, plan.id, since=since, today=today)
        if _in_scope(r.action_refs, scope_refs)
    ]
    if not lines and not risks:
        return None
    measures = []
    for x in lines:
        s = x.status
        target = ""
        if s.target is not None:
            by = f" by {show_period(s.target.day, x.frequency)}" if s.target.day.year < 9999 else ""
            target = show_value(s.target.value, x.unit) + by
        measures.append(
            MeasureRow(
                code=x.code,
                name=x.name,
                unit=x.unit,
                owner=x.owner,
                latest=show_value(s.latest.value, x.unit) if s.latest else "",
                period=show_period(s.latest.day, x.frequency) if s.latest else "",
                expected=show_value(round(s.expected, 1), x.unit) if s.expected is not None else "",
                target=target,
                rag=s.rag,
                arrow=s.arrow,
                direction=s.direction,
                flags=tuple(f.message for f in s.flags),
                series=x.series,
                trajectory=x.trajectory,
                higher_is_better=x.higher_is_better,
                sparkline=sparkline([p.value for p in x.series[-8:]]),
            )
        )
    by_id = {r.id: r for r in risks}
    changes: list[RiskChangeLine] = []
    people = {p.id: p.name for p in session.exec(select(Person))}
    for ch in session.exec(
        select(RiskChange)
        .where(col(RiskChange.risk_id).in_(list(by_id)), col(RiskChange.recorded_at) >= since)
        .order_by(col(RiskChange.recorded_at), col(RiskChange.id))
    ):
        if ch.kind == "created":
            continue
        r = by_id[ch.risk_id]
        changes.append(
            RiskChangeLine(
                code=r.code,
                title=r.title,
                at=ch.recorded_at,
                who=people.get(ch.person_id, "") if ch.person_id else ch.given_by,
                what=_what(ch),
                score_before=ch.score_before,
                score_after=ch.score_after,
            )
        )
    open_risks = [r for r in risks if r.status != "closed"]
    return ScorecardSection(
        measures=tuple(measures),
        top_risks=tuple(open_risks[:TOP_RISKS]),
        new=tuple(r for r in risks if "new" in r.labels),
        escalated=tuple(r for r in risks if "escalated" in r.labels),
        overdue=tuple(r for r in risks if "overdue_for_review" in r.labels),
        closed=tuple(r for r in risks if "closed" in r.labels),
        changes=tuple(changes),
        escalate_at=scoring_of(session, plan.id).escalate_at,
    )


def with_scorecard(session: Session, digest: Digest) -> Digest:
    """``digest`` with its scorecard and risk sections filled in from the store."""
    section = scorecard_section(
        session,
        digest.plan_code,
        since=cycle_start(digest.previous_meeting, digest.meeting_date),
        now=digest.generated_at,
        scope_refs={row.ref for row in digest.log},
    )
    return replace(digest, scorecard=section)
