"""The plan's status by area, as the board secretary's dashboard shows it (pure queries).

:func:`plan_status` reads one plan in five queries (the plan, its areas, the people, its
actions, and the last update of every action in one grouped query), then filters and groups in
memory, so it stays fast for a plan of a few hundred actions.
Filters (:class:`PlanFilters`) narrow the actions shown; the counts by status are always of the
whole plan, so the secretary sees both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON
from workflows.digest.contents import Flag
from workflows.plan.dates import show_date
from workflows.store.models import Action, Area, Channel, Person, Plan, StatusChange

#: The "status" filter's value for actions nobody has reported on yet.
NOT_REPORTED = "none"
#: What each meaning is called when the plan's scale has no value for it.
MEANING_WORDS = {
    "complete": "Complete",
    "on_track": "On track",
    "at_risk": "At risk",
    "off_track": "Off track",
    "not_due": "Not due",
}
EXCERPT_CHARS = 150


@dataclass(frozen=True)
class ScaleOption:
    """One value of the plan's own status scale."""

    value: str  # "Amber"
    label: str  # "Progressing to timescale"
    meaning: str  # "on_track"
    colour: str  # "FFC000", "" if the plan gives none
    embedded: bool = False


@dataclass(frozen=True)
class Status:
    """An action's status as the plan writes it, with what it means to Chaser."""

    label: str  # the plan's own value ("Amber"); "Not reported" when never reported
    meaning: str | None  # a StatusMeaning value, None when never reported
    colour: str  # the plan's hex colour for the value, "" if none
    description: str = ""  # the scale's words for the value ("Progressing to timescale")


def scale_options(plan: Plan) -> tuple[ScaleOption, ...]:
    return tuple(
        ScaleOption(
            value=str(v.get("value", "")),
            label=str(v.get("label", "")),
            meaning=str(v.get("meaning", "")),
            colour=str(v.get("colour", "")),
            embedded=bool(v.get("embedded", False)),
        )
        for v in plan.status_scale
    )


def status_of(scale: Sequence[ScaleOption], meaning: str | None, label: str) -> Status:
    """The status to show for a stored meaning and plan value."""
    if meaning is None:
        return Status(label="Not reported", meaning=None, colour="")
    found = next((s for s in scale if label and s.value.lower() == label.lower()), None)
    if found is None:
        found = next((s for s in scale if s.meaning == meaning and not s.embedded), None)
    if found is None:
        words = MEANING_WORDS.get(meaning, meaning.replace("_", " ").capitalize())
        return Status(label=label or words, meaning=meaning, colour="")
    return Status(
        label=label or found.value,
        meaning=meaning,
        colour=found.colour,
        description=found.label,
    )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters or so, cut at a word, with an ellipsis when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] if " " in flat[:limit] else flat[:limit]
    return cut.rstrip(",.;:-– ") + "…"


def london_date(moment: datetime | None) -> date | None:
    return moment.astimezone(LONDON).date() if moment is not None else None


@dataclass(frozen=True)
class PlanFilters:
    """What the secretary asked to see. Empty values filter nothing."""

    area: int | None = None  # an area number
    status: str = ""  # a value of the plan's scale ("Amber"), a meaning, or "none"
    lead: str = ""  # a person code
    flagged: bool = False
    search: str = ""  # words that must each be in the ref or the title
    withdrawn: bool = False  # show withdrawn actions too

    @property
    def active(self) -> bool:
        return bool(
            self.area is not None or self.status or self.lead or self.flagged or self.search
        )


def read_filters(params: Mapping[str, str]) -> PlanFilters:
    """Filters from a query string; anything unreadable is ignored, never an error."""
    area = params.get("area", "").strip()
    return PlanFilters(
        area=int(area) if area.isdigit() else None,
        status=params.get("status", "").strip()[:64],
        lead=params.get("lead", "").strip()[:32],
        flagged=params.get("flagged", "") in ("yes", "on", "true", "1"),
        search=" ".join(params.get("q", "").split())[:200],
        withdrawn=params.get("withdrawn", "") in ("yes", "on", "true", "1"),
    )


@dataclass(frozen=True)
class ActionRow:
    ref: str
    title: str
    lead_code: str
    lead_name: str  # the lead's name, or as the plan wrote it when not in the directory
    status: Status
    due: str  # the baseline, as the plan wrote it ("Dec 2023", "TBC")
    forecast: str  # "" when the same as the baseline
    last_update: date | None  # the last change not from an import (London)
    narrative: str  # the first ~150 characters of the latest narrative
    flags: tuple[Flag, ...]
    withdrawn: bool


@dataclass(frozen=True)
class AreaGroup:
    number: int | None
    heading: str  # "Priority action area 1", "Actions with no area"
    title: str
    sros: tuple[str, ...]  # names of its senior responsible officers
    actions: tuple[ActionRow, ...]  # those matching the filters, in plan order
    total: int  # actions in the area (withdrawn ones only when shown)


@dataclass(frozen=True)
class StatusCount:
    key: str  # the status filter's value for it ("Amber", "none")
    label: str  # "Amber"
    description: str  # "Progressing to timescale"
    meaning: str | None
    colour: str
    count: int


@dataclass(frozen=True)
class Choice:
    value: str
    text: str


@dataclass(frozen=True)
class PlanStatus:
    plan_code: str
    plan_title: str
    filters: PlanFilters
    counts: tuple[StatusCount, ...]  # every action not withdrawn, by status
    areas: tuple[AreaGroup, ...]  # only areas with a matching action (all when unfiltered)
    shown: int
    total: int  # actions the filters chose from (withdrawn ones only when shown)
    withdrawn: int  # actions withdrawn from the plan
    area_choices: tuple[Choice, ...]
    status_choices: tuple[Choice, ...]
    lead_choices: tuple[Choice, ...]


def find_plan(session: Session, plan_code: str) -> Plan | None:
    return session.exec(select(Plan).where(Plan.code == plan_code)).first()


def last_updates(session: Session, plan_id: int) -> dict[int, datetime]:
    """The time of each action's last change that did not come from an import."""
    return {
        action_id: when
        for action_id, when in session.execute(
            select(StatusChange.action_id, func.max(StatusChange.recorded_at))
            .join(Action, col(Action.id) == StatusChange.action_id)
            .where(Action.plan_id == plan_id, StatusChange.channel != str(Channel.IMPORT))
            .group_by(col(StatusChange.action_id))
        )
        if when is not None
    }


def area_heading(area: Area) -> str:
    return f"{area.kind or 'Area'} {area.number}"


def _matches_status(filters: PlanFilters, status: Status, stored_label: str) -> bool:
    wanted = filters.status.lower()
    if not wanted:
        return True
    if wanted == NOT_REPORTED:
        return status.meaning is None
    if status.meaning is None:
        return False
    return wanted in (stored_label.lower(), status.label.lower(), status.meaning)


def plan_status(
    session: Session,
    plan_code: str,
    *,
    filters: PlanFilters | None = None,
    flags: Mapping[str, Sequence[Flag]] | None = None,
) -> PlanStatus | None:
    """The plan by area with ``filters`` applied; None when the store has no such plan."""
    plan = find_plan(session, plan_code)
    if plan is None or plan.id is None:
        return None
    filters = filters or PlanFilters()
    flags = flags or {}
    scale = scale_options(plan)
    areas = list(
        session.exec(select(Area).where(Area.plan_id == plan.id).order_by(col(Area.number)))
    )
    people = {p.id: p for p in session.exec(select(Person))}
    actions = list(
        session.exec(select(Action).where(Action.plan_id == plan.id).order_by(col(Action.position)))
    )
    updated = last_updates(session, plan.id)
    area_by_id = {a.id: a for a in areas}
    terms = filters.search.lower().split()

    rows: dict[int | None, list[ActionRow]] = {}
    in_area: dict[int | None, int] = {}
    counts: dict[str, int] = {}
    meanings: dict[str, str | None] = {}
    leads: dict[str, str] = {}
    shown = total = withdrawn = 0
    for action in actions:
        status = status_of(scale, action.status, action.status_label)
        lead = people.get(action.accountable_id) if action.accountable_id is not None else None
        if lead is not None and not action.withdrawn:
            leads[lead.code] = lead.name or lead.code
        if action.withdrawn:
            withdrawn += 1
            if not filters.withdrawn:
                continue
        else:
            key = status.label if status.meaning is not None else NOT_REPORTED
            counts[key] = counts.get(key, 0) + 1
            meanings[key] = status.meaning
        total += 1
        in_area[action.area_id] = in_area.get(action.area_id, 0) + 1
        action_flags = tuple(flags.get(action.ref, ()))
        area = area_by_id.get(action.area_id) if action.area_id is not None else None
        if (
            (filters.area is not None and (area is None or area.number != filters.area))
            or not _matches_status(filters, status, action.status_label)
            or (filters.lead and (lead is None or lead.code != filters.lead))
            or (filters.flagged and not action_flags)
            or not all(t in action.ref.lower() or t in action.title.lower() for t in terms)
        ):
            continue
        shown += 1
        due = show_date(action.baseline_due, action.baseline_due_precision) or _no_date(
            action.due_kind, action.due_note
        )
        forecast = show_date(action.forecast_due, action.forecast_due_precision)
        rows.setdefault(action.area_id, []).append(
            ActionRow(
                ref=action.ref,
                title=action.title,
                lead_code=lead.code if lead else "",
                lead_name=(lead.name or lead.code) if lead else action.lead_raw,
                status=status,
                due=due,
                forecast=forecast if forecast != due else "",
                last_update=london_date(updated.get(action.id or 0)),
                narrative=excerpt(action.progress),
                flags=action_flags,
                withdrawn=action.withdrawn,
            )
        )

    groups = []
    for area in [*areas, None]:
        area_id = area.id if area is not None else None
        if area_id not in rows and (filters.active or area_id not in in_area):
            continue
        groups.append(
            AreaGroup(
                number=area.number if area else None,
                heading=area_heading(area) if area else "Actions with no area",
                title=area.title if area else "",
                sros=sro_names(area, people, plan.partnership) if area else (),
                actions=tuple(rows.get(area_id, ())),
                total=in_area.get(area_id, 0),
            )
        )
    return PlanStatus(
        plan_code=plan.code,
        plan_title=plan.title,
        filters=filters,
        counts=_counts(scale, counts, meanings),
        areas=tuple(groups),
        shown=shown,
        total=total,
        withdrawn=withdrawn,
        area_choices=tuple(
            Choice(str(a.number), f"{area_heading(a)}: {excerpt(a.title, 60)}") for a in areas
        ),
        status_choices=_status_choices(scale),
        lead_choices=tuple(
            Choice(code, f"{name} ({code})")
            for code, name in sorted(leads.items(), key=lambda kv: kv[1])
        ),
    )


def sro_names(area: Area, people: Mapping[Any, Person], partnership: str = "") -> tuple[str, ...]:
    """The names of an area's senior responsible officers (``people`` by id; codes are read in
    the plan's ``partnership``)."""
    by_code = {p.code: p for p in people.values() if p.partnership == partnership}
    names = [by_code[c].name or c if c in by_code else c for c in area.sro_codes or ()]
    if not names and area.sro_id is not None and area.sro_id in people:
        names = [people[area.sro_id].name]
    if not names and area.sro_raw:
        names = [area.sro_raw]
    return tuple(names)


def _counts(
    scale: Sequence[ScaleOption], counts: Mapping[str, int], meanings: Mapping[str, str | None]
) -> tuple[StatusCount, ...]:
    out = [
        StatusCount(s.value, s.value, s.label, s.meaning, s.colour, counts.get(s.value, 0))
        for s in scale
    ]
    known = {s.value for s in scale} | {NOT_REPORTED}
    out += [  # values the plan's scale does not list (an old import, a meaning without a value)
        StatusCount(label, label, "", meanings.get(label), "", n)
        for label, n in sorted(counts.items())
        if label not in known
    ]
    out.append(StatusCount(NOT_REPORTED, "Not reported", "", None, "", counts.get(NOT_REPORTED, 0)))
    return tuple(out)


def _status_choices(scale: Sequence[ScaleOption]) -> tuple[Choice, ...]:
    if scale:
        options = [Choice(s.value, f"{s.value}: {s.label}" if s.label else s.value) for s in scale]
    else:
        options = [Choice(k, v) for k, v in MEANING_WORDS.items()]
    return (*options, Choice(NOT_REPORTED, "Not reported yet"))


def _no_date(kind: str, note: str) -> str:
    words = {"tbc": "TBC", "completed": "Completed", "unreadable": "(unreadable)"}.get(kind, "")
    return words or note
