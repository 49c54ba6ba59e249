"""The risk register in the store: merging a council's register, owners' reviews, and the
register as the pages, the CLI and the digest list it. Every change appends a ``RiskChange``
saying what changed (before and after), who, when, by which channel and from where."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from workflows.measures.store import find_person
from workflows.measures.table import TableError
from workflows.plan.reading import Problem
from workflows.risks.mapping import RegisterMapping
from workflows.risks.reading import Register, RegisterRow
from workflows.risks.scoring import Label, RiskFacts, RiskScoring, classify, score
from workflows.store.measures_models import RiskChange, RiskScale
from workflows.store.models import Action, Area, Person, Plan, Risk

#: The fields a change records.
TRACKED = (
    "title",
    "description",
    "cause",
    "effect",
    "owner_id",
    "action_refs",
    "area_id",
    "likelihood",
    "impact",
    "mitigation",
    "target_score",
    "review_date",
    "status",
)


@dataclass
class RegisterMerge:
    plan: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class RiskReview:
    """What an owner said about one risk. ``None`` changes nothing."""

    likelihood: int | None = None
    impact: int | None = None
    mitigation: str | None = None
    review_date: date | None = None
    close: bool = False
    note: str = ""


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _record(
    session: Session,
    risk: Risk,
    before: dict[str, Any],
    *,
    kind: str,
    now: datetime,
    channel: str,
    person_id: int | None,
    given_by: str,
    source: str,
    reply_id: int | None = None,
    note: str = "",
) -> RiskChange | None:
    after = {k: getattr(risk, k) for k in TRACKED}
    diff = {k: [_plain(before.get(k)), _plain(v)] for k, v in after.items() if before.get(k) != v}
    if kind != "created" and not diff and not note:
        return None
    if note:
        diff["note"] = ["", note]
    assert risk.id is not None
    change = RiskChange(
        risk_id=risk.id,
        recorded_at=now,
        person_id=person_id,
        given_by=given_by[:200],
        channel=channel,
        kind=kind,
        changes=diff,
        score_before=score(before.get("likelihood"), before.get("impact")),
        score_after=score(risk.likelihood, risk.impact),
        reply_id=reply_id,
        source=source[:200],
    )
    session.add(change)
    return change


def plan_of(session: Session, code: str) -> Plan:
    plan = session.exec(select(Plan).where(Plan.code == code)).first()
    if plan is None or plan.id is None:
        raise TableError(
            [
                Problem(
                    kind="no_plan",
                    message=f"there is no plan {code!r} in the store; import the plan first "
                    "(`chaser plan import FILE`) or pass --plan with its code",
                    value=code,
                    expected="the code of an imported plan",
                )
            ]
        )
    return plan


def merge_register(
    session: Session,
    register: Register,
    mapping: RegisterMapping,
    *,
    plan_code: str,
    partnership: str,
    now: datetime,
    source_name: str,
    given_by: str = "",
) -> RegisterMerge:
    """Create or update each risk by its code, recording every change; saves the plan's
    scoring. Never deletes a risk (one missing from the file stays as it is). Does not commit."""
    plan = plan_of(session, plan_code)
    assert plan.id is not None
    result = RegisterMerge(plan=plan_code)
    scale = session.get(RiskScale, plan.id) or RiskScale(plan_id=plan.id, updated_at=now)
    scale.bands = [b.model_dump() for b in mapping.scoring.bands]
    scale.escalate_at = mapping.scoring.escalate_at
    scale.updated_at = now
    session.add(scale)
    actions = {a.ref: a for a in session.exec(select(Action).where(Action.plan_id == plan.id))}
    areas = {a.number: a for a in session.exec(select(Area).where(Area.plan_id == plan.id))}
    existing = {
        r.code: r
        for r in session.exec(select(Risk).where(Risk.plan_id == plan.id, Risk.code != ""))
    }
    for row in register.rows:
        owner = find_person(session, partnership, row.owner)
        if row.owner and owner is None:
            result.warnings.append(
                Problem(
                    kind="unresolved_owner",
                    sheet=register.sheet,
                    row=row.row,
                    ref=row.code,
                    value=row.owner,
                    message=f"risk {row.code}: owner {row.owner!r} is not in the people "
                    "directory; add them so they are asked to review it",
                )
            )
        unknown = [r for r in row.action_refs if r not in actions]
        if unknown:
            result.warnings.append(
                Problem(
                    kind="unknown_action",
                    sheet=register.sheet,
                    row=row.row,
                    ref=row.code,
                    value=", ".join(unknown),
                    message=f"risk {row.code}: the plan has no action {', '.join(unknown)}",
                )
            )
        action = next((actions[r] for r in row.action_refs if r in actions), None)
        area = areas.get(row.area) if row.area is not None else None
        values = _values(row, owner, action, area)
        risk = existing.get(row.code)
        if risk is None:
            risk = Risk(
                plan_id=plan.id,
                code=row.code,
                created_at=now,
                updated_at=now,
                source=source_name[:200],
                **values,
            )
            session.add(risk)
            session.flush()
            _record(
                session,
                risk,
                {},
                kind="created",
                now=now,
                channel="import",
                person_id=None,
                given_by=given_by,
                source=f"{source_name} row {row.row}",
            )
            result.created += 1
            continue
        before = {k: getattr(risk, k) for k in TRACKED}
        for k, v in values.items():
            setattr(risk, k, v)
        if row.closed and before["status"] != "closed":
            risk.closed_at = now
        if not row.closed:
            risk.closed_at = None
        change = _record(
            session,
            risk,
            before,
            kind="import",
            now=now,
            channel="import",
            person_id=None,
            given_by=given_by,
            source=f"{source_name} row {row.row}",
        )
        if change is None:
            result.unchanged += 1
        else:
            risk.updated_at = now
            session.add(risk)
            result.updated += 1
    session.flush()
    return result


def _values(
    row: RegisterRow, owner: Person | None, action: Action | None, area: Area | None
) -> dict[str, Any]:
    return {
        "title": row.title,
        "description": row.description,
        "cause": row.cause,
        "effect": row.effect,
        "owner_id": owner.id if owner else None,
        "action_refs": list(row.action_refs),
        "action_id": action.id if action else None,
        "area_id": area.id if area else (action.area_id if action else None),
        "likelihood": row.likelihood,
        "impact": row.impact,
        "mitigation": row.mitigation,
        "target_score": row.target_score,
        "review_date": row.review_date,
        "status": "closed" if row.closed else "open",
        "closed": row.closed,
    }


def review_risk(
    session: Session,
    risk: Risk,
    review: RiskReview,
    *,
    now: datetime,
    today: date,
    channel: str,
    person_id: int | None = None,
    given_by: str = "",
    source: str = "",
    reply_id: int | None = None,
    scoring: RiskScoring | None = None,
) -> RiskChange | None:
    """Apply an owner's review and record it (a review that changes nothing but says so is
    still recorded, and moves the next review date on). Does not commit."""
    before = {k: getattr(risk, k) for k in TRACKED}
    if review.likelihood is not None:
        risk.likelihood = review.likelihood
    if review.impact is not None:
        risk.impact = review.impact
    if review.mitigation:
        risk.mitigation = review.mitigation
    every = (scoring or RiskScoring()).review_every_days
    risk.review_date = review.review_date or today + timedelta(days=every)
    kind = "review"
    if review.close and not risk.closed:
        risk.closed, risk.status, risk.closed_at, kind = True, "closed", now, "closed"
    risk.updated_at = now
    session.add(risk)
    change = _record(
        session,
        risk,
        before,
        kind=kind,
        now=now,
        channel=channel,
        person_id=person_id,
        given_by=given_by,
        source=source,
        reply_id=reply_id,
        note=review.note or "reviewed",
    )
    session.flush()
    return change


def scoring_of(session: Session, plan_id: int) -> RiskScoring:
    scale = session.get(RiskScale, plan_id)
    if scale is None:
        return RiskScoring()
    return RiskScoring.model_validate({"bands": scale.bands, "escalate_at": scale.escalate_at})


@dataclass(frozen=True)
class RiskLine:
    id: int
    code: str
    title: str
    owner: str
    owner_code: str
    action_refs: tuple[str, ...]
    likelihood: int | None
    impact: int | None
    score: int | None
    score_at_since: int | None
    band: str
    colour: str
    target_score: int | None
    mitigation: str
    review_date: date | None
    status: str
    labels: tuple[Label, ...]
    changes_since: int

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "owner": self.owner,
            "actions": list(self.action_refs),
            "likelihood": self.likelihood,
            "impact": self.impact,
            "score": self.score,
            "score_at_since": self.score_at_since,
            "band": self.band,
            "target_score": self.target_score,
            "review_date": self.review_date.isoformat() if self.review_date else None,
            "status": self.status,
            "labels": list(self.labels),
            "changes_since": self.changes_since,
        }


def register_lines(
    session: Session, plan_id: int, *, since: datetime, today: date
) -> list[RiskLine]:
    """Every risk of the plan, highest score first, with what it was at ``since`` and which
    lists (new, escalated, overdue for review, closed) it is on."""
    scoring = scoring_of(session, plan_id)
    risks = session.exec(select(Risk).where(Risk.plan_id == plan_id)).all()
    ids = [r.id for r in risks if r.id is not None]
    history: dict[int, list[RiskChange]] = {}
    for ch in session.exec(
        select(RiskChange)
        .where(col(RiskChange.risk_id).in_(ids))
        .order_by(col(RiskChange.recorded_at), col(RiskChange.id))
    ):
        history.setdefault(ch.risk_id, []).append(ch)
    people = {
        p.id: p
        for p in session.exec(
            select(Person).where(col(Person.id).in_([r.owner_id for r in risks if r.owner_id]))
        )
    }
    lines = []
    for r in risks:
        assert r.id is not None
        changes = history.get(r.id, [])
        before = [c for c in changes if c.recorded_at < since]
        at_since = before[-1].score_after if before else None
        current = score(r.likelihood, r.impact)
        band = scoring.band(current)
        facts = RiskFacts(
            created_at=r.created_at,
            score=current,
            score_at_since=at_since,
            closed=r.closed,
            closed_at=r.closed_at,
            review_date=r.review_date,
        )
        owner = people.get(r.owner_id) if r.owner_id else None
        lines.append(
            RiskLine(
                id=r.id,
                code=r.code,
                title=r.title or r.description,
                owner=owner.name if owner else "",
                owner_code=owner.code if owner else "",
                action_refs=tuple(r.action_refs),
                likelihood=r.likelihood,
                impact=r.impact,
                score=current,
                score_at_since=at_since,
                band=band.name if band else "",
                colour=band.colour if band else "",
                target_score=r.target_score,
                mitigation=r.mitigation,
                review_date=r.review_date,
                status=r.status,
                labels=classify(facts, since=since, today=today, scoring=scoring),
                changes_since=sum(1 for c in changes if c.recorded_at >= since),
            )
        )
    lines.sort(key=lambda x: (x.status == "closed", -(x.score or 0), x.code))
    return lines


def risk_history(session: Session, risk_id: int) -> list[RiskChange]:
    return list(
        session.exec(
            select(RiskChange)
            .where(RiskChange.risk_id == risk_id)
            .order_by(col(RiskChange.recorded_at), col(RiskChange.id))
        )
    )
