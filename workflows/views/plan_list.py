"""Read-only views of a plan for listings and reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, select

from workflows.plan.dates import show_date
from workflows.store.models import Action, ActionContributor, Area, Person, Plan


@dataclass(frozen=True)
class ActionLine:
    plan: str
    ref: str
    ref_generated: bool
    area: int | None
    title: str
    accountable: str | None
    accountable_name: str
    contributors: tuple[str, ...]
    reporting_group: str
    start: str
    due: str
    due_date: date | None
    due_precision: str | None
    forecast: str
    forecast_date: date | None
    status: str | None
    status_label: str
    withdrawn: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "ref": self.ref,
            "ref_generated": self.ref_generated,
            "area": self.area,
            "title": self.title,
            "accountable": self.accountable,
            "accountable_name": self.accountable_name,
            "contributors": list(self.contributors),
            "reporting_group": self.reporting_group,
            "start": self.start,
            "due": {
                "display": self.due,
                "date": self.due_date.isoformat() if self.due_date else None,
                "precision": self.due_precision,
            },
            "forecast": {
                "display": self.forecast,
                "date": self.forecast_date.isoformat() if self.forecast_date else None,
            },
            "status": self.status,
            "status_label": self.status_label,
            "withdrawn": self.withdrawn,
        }


def list_actions(
    session: Session, plan_code: str | None = None, *, include_withdrawn: bool = True
) -> list[ActionLine]:
    """Every action (of one plan, or of all), in plan order."""
    plans = {p.id: p.code for p in session.exec(select(Plan))}
    people = {p.id: p for p in session.exec(select(Person))}
    areas = {a.id: a.number for a in session.exec(select(Area))}
    contributors: dict[int, list[str]] = {}
    for link in session.exec(select(ActionContributor).order_by(ActionContributor.position)):  # type: ignore[arg-type]
        contributors.setdefault(link.action_id, []).append(people[link.person_id].code)
    query = select(Action)
    if plan_code is not None:
        query = query.join(Plan).where(Plan.code == plan_code)
    if not include_withdrawn:
        query = query.where(Action.withdrawn == False)  # noqa: E712
    lines = []
    for a in session.exec(query.order_by(Action.plan_id, Action.position)):  # type: ignore[arg-type]
        lead = people.get(a.accountable_id) if a.accountable_id is not None else None
        lines.append(
            ActionLine(
                plan=plans[a.plan_id],
                ref=a.ref,
                ref_generated=a.ref_generated,
                area=areas.get(a.area_id) if a.area_id is not None else None,
                title=a.title,
                accountable=lead.code if lead else None,
                accountable_name=lead.name if lead else "",
                contributors=tuple(contributors.get(a.id or 0, ())),
                reporting_group=a.reporting_group,
                start=show_date(a.start_date, a.start_precision, end=False),
                due=show_date(a.baseline_due, a.baseline_due_precision) or _no_date(a.due_kind),
                due_date=a.baseline_due,
                due_precision=a.baseline_due_precision,
                forecast=show_date(a.forecast_due, a.forecast_due_precision),
                forecast_date=a.forecast_due,
                status=a.status,
                status_label=a.status_label,
                withdrawn=a.withdrawn,
            )
        )
    return lines


def _no_date(kind: str) -> str:
    return {"tbc": "TBC", "completed": "Completed", "unreadable": "(unreadable)"}.get(kind, "")
