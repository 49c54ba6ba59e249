"""The plan's status by area, as the board secretary's dashboard shows it (pure queries).

:func:`plan_status` shows one page of the plan (:data:`PAGE_SIZE` rows) in a bounded number of
queries, whatever the plan's size (a regional host keeps tens of thousands of actions): the
filters (:class:`PlanFilters`) run in SQL on indexed columns, the counts (matching actions, by
status, by area, withdrawn) are ``GROUP BY``/``COUNT`` queries, and only the rows shown are read
in full, with their leads, areas, last updates and flags. The counts by status are always of
the whole plan, so the secretary sees both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON
from workflows.digest.contents import Flag
from workflows.plan.dates import show_date
from workflows.store.models import Action, Area, Channel, Person, Plan, StatusChange
from workflows.views.flag_model import flagged_action_ids

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
#: Rows on one page of the plan: the page's cost is the same at 500 actions as at 50,000.
PAGE_SIZE = 50


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
    actions: tuple[ActionRow, ...]  # those matching the filters on this page, in plan order
    total: int  # actions in the area (withdrawn ones only when shown)
    matches: int = 0  # actions in the area matching the filters, on every page


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
    areas: tuple[AreaGroup, ...]  # the areas of the rows on this page, in order
    shown: int  # actions matching the filters, on every page
    total: int  # actions the filters chose from (withdrawn ones only when shown)
    withdrawn: int  # actions withdrawn from the plan
    area_choices: tuple[Choice, ...]
    status_choices: tuple[Choice, ...]
    lead_choices: tuple[Choice, ...]
    page: int = 1  # the page shown (1 is the first)
    pages: int = 1  # pages the matching actions fill (at least one)
    page_size: int = PAGE_SIZE
    first: int = 0  # the position of the first row shown among the matches (0: none shown)
    last: int = 0

    @property
    def out_of_range(self) -> bool:
        """Asked for a page after the last (an old link, a typed number): nothing to show."""
        return self.page > self.pages

    @property
    def rows(self) -> int:
        return sum(len(a.actions) for a in self.areas)


def find_plan(session: Session, plan_code: str) -> Plan | None:
    return session.exec(select(Plan).where(Plan.code == plan_code)).first()


def last_updates(
    session: Session, plan_id: int, action_ids: Collection[int] | None = None
) -> dict[int, datetime]:
    """The time of each action's last change that did not come from an import (of
    ``action_ids`` only, when given: a page asks only for the rows it shows)."""
    query = (
        select(StatusChange.action_id, func.max(StatusChange.recorded_at))
        .join(Action, col(Action.id) == StatusChange.action_id)
        .where(Action.plan_id == plan_id, StatusChange.channel != str(Channel.IMPORT))
        .group_by(col(StatusChange.action_id))
    )
    if action_ids is not None:
        if not action_ids:
            return {}
        query = query.where(col(StatusChange.action_id).in_(sorted(action_ids)))
    return {action_id: when for action_id, when in session.execute(query) if when is not None}


def area_heading(area: Area) -> str:
    return f"{area.kind or 'Area'} {area.number}"


def _status_condition(scale: Sequence[ScaleOption], wanted: str) -> ColumnElement[bool]:
    """The SQL twin of what the page shows as an action's status (:func:`status_of`): the
    wanted value is the stored label, the meaning, or (for a row stored without a label) the
    label the plan's scale gives its meaning."""
    wanted = wanted.lower()
    if wanted == NOT_REPORTED:
        return col(Action.status).is_(None)
    by_default = [
        m
        for m in (*MEANING_WORDS, *(s.meaning for s in scale))
        if status_of(scale, m, "").label.lower() == wanted
    ]
    return and_(
        col(Action.status).is_not(None),
        or_(
            func.lower(col(Action.status_label)) == wanted,
            col(Action.status) == wanted,
            and_(col(Action.status_label) == "", col(Action.status).in_(sorted(set(by_default)))),
        ),
    )


def _filtered(
    plan_id: int, scale: Sequence[ScaleOption], filters: PlanFilters, *, flags: bool
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``filters`` (each served by an index of migration 0013)."""
    where: list[ColumnElement[bool]] = [col(Action.plan_id) == plan_id]
    if not filters.withdrawn:
        where.append(col(Action.withdrawn).is_(False))
    if filters.area is not None:
        where.append(
            col(Action.area_id).in_(
                select(Area.id).where(Area.plan_id == plan_id, Area.number == filters.area)
            )
        )
    if filters.status:
        where.append(_status_condition(scale, filters.status))
    if filters.lead:
        where.append(
            col(Action.accountable_id).in_(select(Person.id).where(Person.code == filters.lead))
        )
    if filters.flagged:
        where.append(col(Action.id).in_(flagged_action_ids(plan_id)) if flags else false())
    for term in filters.search.lower().split():
        where.append(
            or_(
                func.lower(col(Action.ref)).contains(term, autoescape=True),
                func.lower(col(Action.title)).contains(term, autoescape=True),
            )
        )
    return where


def plan_status(
    session: Session,
    plan_code: str | Plan,
    *,
    filters: PlanFilters | None = None,
    flags: Callable[[Sequence[str]], Mapping[str, Sequence[Flag]]] | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> PlanStatus | None:
    """Page ``page`` of the plan by area with ``filters`` applied; None when the store has no
    such plan.

    A bounded number of queries whatever the plan's size: the filters run in SQL, the counts
    are ``GROUP BY``s, and only the ``page_size`` rows shown are read in full (their leads,
    last updates, areas and ``flags``, which is asked for the refs shown; None: nothing is
    flagged, and the "flagged" filter matches nothing). The flagged filter reads the kept read
    model (:func:`workflows.views.flag_model.flagged_action_ids`)."""
    plan = find_plan(session, plan_code) if isinstance(plan_code, str) else plan_code
    if plan is None or plan.id is None:
        return None
    filters = filters or PlanFilters()
    scale = scale_options(plan)
    areas = list(
        session.exec(select(Area).where(Area.plan_id == plan.id).order_by(col(Area.number)))
    )
    area_by_id = {a.id: a for a in areas}
    where = _filtered(plan.id, scale, filters, flags=flags is not None)
    whole = _plan_counts(session, plan.id, filters, scale)
    shown = (
        int(session.execute(select(func.count()).select_from(Action).where(*where)).scalar_one())
        if filters.active
        else whole.total
    )
    pages = max(1, -(-shown // page_size))
    number = max(page, 1)
    # the areas' order by number, as a constant CASE (a few tens of areas): no join per row
    area_rank: Any = (
        case(
            {a.id: rank for rank, a in enumerate(areas) if a.id is not None},
            value=col(Action.area_id),
            else_=len(areas),
        )
        if areas
        else col(Action.area_id)
    )

    chosen = (
        select(Action.id)
        .where(*where)
        .order_by(area_rank, col(Action.position), col(Action.id))
        .offset((number - 1) * page_size)
        .limit(page_size)
    )
    last_update = (
        select(func.max(StatusChange.recorded_at))
        .where(StatusChange.action_id == Action.id, StatusChange.channel != str(Channel.IMPORT))
        .correlate(Action)
        .scalar_subquery()
    )
    found = [
        (action, when)
        for action, when in session.execute(
            select(Action, last_update)
            .options(load_only(*(getattr(Action, name) for name in _ROW_COLUMNS)))
            .where(col(Action.id).in_(chosen))
        )
    ]
    found.sort(key=lambda row: _plan_order(row[0], area_by_id))
    actions = [action for action, _ in found]
    updated = {action.id: when for action, when in found}
    people, lead_choices = _leads(session, plan.id)
    shown_flags = flags([a.ref for a in actions]) if flags is not None and actions else {}
    counts, meanings = whole.counts, whole.meanings

    rows: dict[int | None, list[ActionRow]] = {}
    for action in actions:
        status = status_of(scale, action.status, action.status_label)
        lead = people.get(action.accountable_id) if action.accountable_id is not None else None
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
                flags=tuple(shown_flags.get(action.ref, ())),
                withdrawn=action.withdrawn,
            )
        )
    shown_areas = [area_by_id[i] for i in rows if i is not None and i in area_by_id]
    officers = sro_names_of(session, shown_areas, plan.partnership)
    in_area = whole.in_area
    matching: dict[int | None, int] = {}
    if filters.active and rows:
        page_areas = [i for i in rows if i is not None]
        for area_id, n in session.execute(
            select(Action.area_id, func.count())
            .where(
                *where,
                or_(col(Action.area_id).in_(page_areas), col(Action.area_id).is_(None))
                if None in rows
                else col(Action.area_id).in_(page_areas),
            )
            .group_by(col(Action.area_id))
        ):
            matching[area_id] = n
    groups = [
        AreaGroup(
            number=area.number if area else None,
            heading=area_heading(area) if area else "Actions with no area",
            title=area.title if area else "",
            sros=officers.get(area.id, ()) if area else (),
            actions=tuple(rows[area_id]),
            total=in_area.get(area_id, 0),
            matches=matching.get(area_id, len(rows[area_id])),
        )
        for area_id in rows
        for area in [area_by_id.get(area_id) if area_id is not None else None]
    ]
    return PlanStatus(
        plan_code=plan.code,
        plan_title=plan.title,
        filters=filters,
        counts=_counts(scale, counts, meanings),
        areas=tuple(groups),
        shown=shown,
        total=whole.total,
        withdrawn=whole.withdrawn,
        area_choices=tuple(
            Choice(str(a.number), f"{area_heading(a)}: {excerpt(a.title, 60)}") for a in areas
        ),
        status_choices=_status_choices(scale),
        lead_choices=lead_choices,
        page=number,
        pages=pages,
        page_size=page_size,
        first=(number - 1) * page_size + 1 if actions else 0,
        last=(number - 1) * page_size + len(actions),
    )


#: What a row of the plan page shows of an action: its other columns (the workbook's raw cells,
#: outcomes, evidence) are left in the store.
_ROW_COLUMNS = (
    "id",
    "plan_id",
    "area_id",
    "ref",
    "position",
    "title",
    "accountable_id",
    "lead_raw",
    "baseline_due",
    "baseline_due_precision",
    "forecast_due",
    "forecast_due_precision",
    "due_kind",
    "due_note",
    "status",
    "status_label",
    "withdrawn",
    "progress",
)


def _plan_order(action: Action, areas: Mapping[int | None, Area]) -> tuple[Any, ...]:
    """Plan order, by area: the SQL ``ORDER BY`` of :func:`plan_status`, for the rows read."""
    area = areas.get(action.area_id) if action.area_id is not None else None
    return (action.area_id is None, area.number if area else 0, action.position, action.id)


@dataclass(frozen=True)
class _Totals:
    total: int  # actions the filters choose from
    withdrawn: int
    in_area: Mapping[int | None, int]  # of ``total``, by area id
    counts: Mapping[str, int]  # actions not withdrawn, by the status key the page shows
    meanings: Mapping[str, str | None]


def _plan_counts(
    session: Session, plan_id: int, filters: PlanFilters, scale: Sequence[ScaleOption]
) -> _Totals:
    """The whole plan's counts (by area, withdrawn, by status) in one grouped query: a few
    rows per area and status, whatever the number of actions."""
    in_area: dict[int | None, int] = {}
    counts: dict[str, int] = {}
    meanings: dict[str, str | None] = {}
    total = withdrawn = 0
    for area_id, gone, meaning, label, n in session.execute(
        sa_select(
            col(Action.area_id),
            col(Action.withdrawn),
            col(Action.status),
            col(Action.status_label),
            func.count(),
        )
        .where(col(Action.plan_id) == plan_id)
        .group_by(
            col(Action.area_id), col(Action.withdrawn), col(Action.status), col(Action.status_label)
        )
    ):
        if gone:
            withdrawn += n
            if not filters.withdrawn:
                continue
        else:
            status = status_of(scale, meaning, label or "")
            key = status.label if status.meaning is not None else NOT_REPORTED
            counts[key] = counts.get(key, 0) + n
            meanings[key] = status.meaning
        total += n
        in_area[area_id] = in_area.get(area_id, 0) + n
    return _Totals(total, withdrawn, in_area, counts, meanings)


@dataclass(frozen=True)
class _Lead:
    code: str
    name: str


def _leads(session: Session, plan_id: int) -> tuple[dict[int, _Lead], tuple[Choice, ...]]:
    """Everyone leading an action of the plan, by id (for the rows shown), and the lead filter's
    choices: those leading an action not withdrawn, by name. One query on the lead index."""
    people: dict[int, _Lead] = {}
    choices: dict[str, str] = {}
    by_lead = (
        sa_select(
            col(Action.accountable_id).label("lead_id"),
            func.min(case((col(Action.withdrawn), 1), else_=0)).label("gone"),
        )
        .where(col(Action.plan_id) == plan_id, col(Action.accountable_id).is_not(None))
        .group_by(col(Action.accountable_id))
        .subquery()
    )
    for person_id, code, name, only_withdrawn in session.execute(
        sa_select(col(Person.id), col(Person.code), col(Person.name), by_lead.c.gone).join(
            by_lead, by_lead.c.lead_id == col(Person.id)
        )
    ):
        people[person_id] = _Lead(code, name)
        if not only_withdrawn:
            choices[code] = name or code
    return people, tuple(
        Choice(code, f"{name} ({code})")
        for code, name in sorted(choices.items(), key=lambda kv: kv[1])
    )


def sro_names_of(
    session: Session, areas: Sequence[Area], partnership: str = ""
) -> dict[int | None, tuple[str, ...]]:
    """Each area's senior responsible officers' names, reading only the people they name."""
    codes = {c for a in areas for c in a.sro_codes or ()}
    ids = {a.sro_id for a in areas if a.sro_id is not None}
    if not codes and not ids:
        return {a.id: sro_names(a, {}, partnership) for a in areas}
    people = {
        p.id: p
        for p in session.exec(
            select(Person).where(
                or_(
                    and_(
                        col(Person.partnership) == partnership, col(Person.code).in_(sorted(codes))
                    ),
                    col(Person.id).in_(sorted(i for i in ids if i is not None)),
                )
            )
        )
    }
    return {a.id: sro_names(a, people, partnership) for a in areas}


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
