"""Loading the snapshot the chasing rules work on, from the store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from workflows.chasing.rules import ActionInfo, ChaseState, PersonInfo
from workflows.plan.dates import show_date
from workflows.plan.people import plan_people
from workflows.store.models import Action, Area, Channel, Plan, StatusChange

#: Changes that count as a lead's update (imports and admin edits do not).
UPDATE_CHANNELS = (Channel.FORM, Channel.EMAIL, Channel.TEAMS)


class UnknownPlan(LookupError):
    pass


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
    actions = []
    for a in session.exec(
        select(Action).where(Action.plan_id == plan.id).order_by(col(Action.position))
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
            )
        )
    return ChaseState(plan_code=plan.code, people=people, actions=tuple(actions))


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
