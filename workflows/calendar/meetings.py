"""The governance calendar: meetings and papers deadlines from ``config/cycles.yaml``.

Pure: :func:`meetings` turns a :class:`~workflows.calendar.cycles.CyclesConfig` and a date range
into :class:`Meeting` values. Nothing here reads the clock or any file.

Rules (also in ``docs/cycles.md``):

* A group's cycle schedules *slots* from its ``first_meeting`` on (and up to ``until``).
* An exception can move a slot (new date and/or time: status ``moved``), cancel it (status
  ``cancelled``) or add a meeting outside the cycle (status ``added``, whose slot is its date).
* A slot that falls in a recess is ``cancelled`` with the recess as its note, unless an
  exception moves it (an admin's explicit move wins over the recess).
* The papers deadline is ``papers_deadline_working_days`` England and Wales working days before
  the meeting's actual date; counting skips weekends and bank holidays, so the deadline always
  lands on a working day (``0`` means the meeting day, or the working day before it).
* ``starts_at`` is the local wall-clock time in the group's timezone (``zoneinfo``), so a
  10:00 meeting stays at 10:00 in London across the clock changes (09:00Z in summer, 10:00Z in
  winter).
* The ``slot`` never changes when a meeting moves, so :func:`meeting_key` (``"SIB:2025-07-08"``)
  is a stable idempotency key for chases and digests.

:func:`meetings` returns only meetings that go ahead unless ``include_cancelled=True`` (the
preview and the iCalendar feed show cancelled ones so that secretaries and subscribers see them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from workflows.calendar.cycles import (
    ChangeKind,
    CyclesConfig,
    Group,
    MeetingChange,
    normalise_name,
)
from workflows.calendar.working_days import (
    add_working_days,
    bank_holiday_name,
    working_day_on_or_before,
)

__all__ = [
    "Meeting",
    "MeetingStatus",
    "Scope",
    "groups_reporting_to",
    "meeting_key",
    "meetings",
    "next_meeting",
    "papers_deadline",
    "reporting_group_for",
    "scope_of",
]


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    MOVED = "moved"
    ADDED = "added"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Meeting:
    """One meeting of one group."""

    group: str
    group_name: str
    #: The date the cycle scheduled (for an added meeting: its date). Stable across moves.
    slot: dt.date
    #: The date the meeting actually takes place (local).
    date: dt.date
    #: Timezone-aware local start and end (``Europe/London`` unless the group says otherwise).
    starts_at: dt.datetime
    ends_at: dt.datetime
    #: The last working day for papers to reach the group.
    papers_deadline: dt.date
    status: MeetingStatus = MeetingStatus.SCHEDULED
    note: str = ""

    @property
    def key(self) -> str:
        return meeting_key(self)

    @property
    def goes_ahead(self) -> bool:
        """False for a cancelled meeting (including one that falls in a recess)."""
        return self.status is not MeetingStatus.CANCELLED


def meeting_key(meeting: Meeting) -> str:
    """``"{group}:{slot}"``, e.g. ``"SIB:2025-07-08"``: stable when the meeting moves."""
    return f"{meeting.group}:{meeting.slot.isoformat()}"


def meeting_date(meeting_key: str) -> dt.date | None:
    """The slot date of a meeting key (``SIB:2025-09-30``), None if it has none."""
    try:
        return dt.date.fromisoformat(meeting_key.partition(":")[2])
    except ValueError:
        return None


def meeting_label(meeting_key: str) -> str:
    """``SIB:2025-09-30`` → ``SIB meeting on 30 September 2025``; ``""`` for no meeting."""
    group, _, _ = meeting_key.partition(":")
    if not group:
        return ""
    when = meeting_date(meeting_key)
    return f"{group} meeting on {when.day} {when:%B %Y}" if when else f"{group} meeting"


def papers_deadline(
    meeting_date: dt.date, working_days: int, *, extra_holidays: Collection[dt.date] = ()
) -> dt.date:
    """``working_days`` working days before ``meeting_date`` (never a weekend or bank holiday)."""
    if working_days == 0:
        return working_day_on_or_before(meeting_date, extra_holidays=extra_holidays)
    return add_working_days(meeting_date, -working_days, extra_holidays=extra_holidays)


def meetings(
    config: CyclesConfig,
    start: dt.date,
    end: dt.date,
    *,
    groups: Collection[str] | None = None,
    include_cancelled: bool = False,
) -> list[Meeting]:
    """Every meeting whose actual date is in ``start..end`` (inclusive), sorted by start time.

    ``groups`` limits the result to those codes (``KeyError`` for an unknown code). Cancelled
    meetings (and slots in a recess) are left out unless ``include_cancelled``.
    """
    if groups is not None:
        for code in groups:
            config.group(code)
    out: list[Meeting] = []
    for group in config.groups:
        if groups is not None and group.code not in groups:
            continue
        out.extend(_group_meetings(config, group, start, end))
    if not include_cancelled:
        out = [m for m in out if m.goes_ahead]
    return sorted(out, key=lambda m: (m.starts_at, m.group, m.slot))


def next_meeting(
    config: CyclesConfig, code: str, on_or_after: dt.date, *, horizon_days: int = 800
) -> Meeting | None:
    """The group's first meeting that goes ahead on or after ``on_or_after``."""
    found = meetings(
        config, on_or_after, on_or_after + dt.timedelta(days=horizon_days), groups=[code]
    )
    return found[0] if found else None


def _group_meetings(
    config: CyclesConfig, group: Group, start: dt.date, end: dt.date
) -> list[Meeting]:
    changes = {c.slot: c for c in group.changes}
    shift = max(
        (abs((c.moved_to - c.slot).days) for c in group.changes if c.moved_to is not None),
        default=0,
    )
    margin = dt.timedelta(days=shift)
    out: list[Meeting] = []
    for slot in group.slots(start - margin, end + margin):
        meeting = _meeting(config, group, slot, changes.get(slot))
        if start <= meeting.date <= end:
            out.append(meeting)
    for change in group.changes:
        if change.kind is ChangeKind.ADDED and start <= change.slot <= end:
            out.append(_meeting(config, group, change.slot, change))
    return out


def _meeting(
    config: CyclesConfig, group: Group, slot: dt.date, change: MeetingChange | None
) -> Meeting:
    day = slot
    at = group.time
    status = MeetingStatus.SCHEDULED
    notes: list[str] = []
    if change is not None and change.kind is ChangeKind.CANCELLED:
        status = MeetingStatus.CANCELLED
        notes.append(change.note or "cancelled")
    elif change is not None:
        day = change.moved_to or slot
        at = change.time or group.time
        status = MeetingStatus.ADDED if change.kind is ChangeKind.ADDED else MeetingStatus.MOVED
        if status is MeetingStatus.MOVED:
            what = []
            if day != slot:
                what.append(f"from {slot:%a %d %b %Y}")
            if at != group.time:
                what.append(f"from {group.time:%H:%M} to {at:%H:%M}")
            notes.append("moved " + " ".join(what))
        if change.note:
            notes.append(change.note)
    else:
        recess = config.recess_covering(group.code, slot)
        if recess is not None:
            status = MeetingStatus.CANCELLED
            named = "recess" in recess.name.lower()
            notes.append(recess.name if named else f"{recess.name} (recess)")
    holiday = bank_holiday_name(day, extra_holidays=config.extra_bank_holidays)
    if holiday is not None and status is not MeetingStatus.CANCELLED:
        notes.append(f"falls on a bank holiday ({holiday}); move or cancel it in cycles.yaml")
    tz = ZoneInfo(group.timezone)
    starts_at = dt.datetime.combine(day, at, tzinfo=tz)
    return Meeting(
        group=group.code,
        group_name=group.name,
        slot=slot,
        date=day,
        starts_at=starts_at,
        ends_at=starts_at + group.duration,
        papers_deadline=papers_deadline(
            day, group.papers_deadline_working_days, extra_holidays=config.extra_bank_holidays
        ),
        status=status,
        note="; ".join(notes),
    )


# --------------------------------------------------------------------------------------------
# Reporting lines
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What reports to a group, directly or through the groups below it."""

    group: str
    #: The group itself and every group that reports to it, directly or transitively.
    groups: frozenset[str]
    #: Plan area numbers whose actions report here.
    areas: frozenset[int]
    #: Plan "Task and Finish Group" values whose actions report here, as written in the config.
    task_and_finish_groups: tuple[str, ...]

    def covers(self, *, area: int | None = None, task_and_finish_group: str | None = None) -> bool:
        """Whether an action with this plan area / task-and-finish value reports here.

        Names match case-, apostrophe- and dash-insensitively ("Children’s" = "children's").
        """
        if area is not None and area in self.areas:
            return True
        if task_and_finish_group:
            wanted = normalise_name(task_and_finish_group)
            return any(normalise_name(t) == wanted for t in self.task_and_finish_groups)
        return False


def groups_reporting_to(config: CyclesConfig, code: str) -> tuple[str, ...]:
    """Codes of the groups reporting to ``code``, directly or transitively (nearest first)."""
    config.group(code)
    found: list[str] = []
    frontier = [code]
    while frontier:
        below = [g.code for g in config.groups if g.reports_to in frontier and g.code not in found]
        below = [c for c in below if c != code]
        found.extend(below)
        frontier = below
    return tuple(found)


def scope_of(config: CyclesConfig, code: str) -> Scope:
    """The plan areas and task-and-finish values that report to ``code`` (transitively)."""
    codes = (code, *groups_reporting_to(config, code))
    areas: set[int] = set()
    tfgs: list[str] = []
    for c in codes:
        group = config.group(c)
        areas.update(group.plan_areas)
        tfgs.extend(group.plan_task_and_finish_groups)
    return Scope(
        group=code,
        groups=frozenset(codes),
        areas=frozenset(areas),
        task_and_finish_groups=tuple(tfgs),
    )


def reporting_group_for(
    config: CyclesConfig, *, area: int | None = None, task_and_finish_group: str | None = None
) -> str | None:
    """The group an action reports to directly: the group listing its task-and-finish value,
    else the first group (in file order) listing its area, else ``None``."""
    if task_and_finish_group:
        wanted = normalise_name(task_and_finish_group)
        for group in config.groups:
            if any(normalise_name(t) == wanted for t in group.plan_task_and_finish_groups):
                return group.code
    if area is not None:
        for group in config.groups:
            if area in group.plan_areas:
                return group.code
    return None
