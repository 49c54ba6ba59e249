"""What a ``cycles.yaml`` would make of the coming months: each meeting, its papers deadline,
the day each chase step goes out (request, reminders, escalation) and the digest's day, with
bank holidays marked. The cycles page shows it before an admin saves (pure: ``start`` is given).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from workflows.calendar.cycles import CyclesConfig
from workflows.calendar.meetings import Meeting, meetings
from workflows.calendar.working_days import bank_holiday_name
from workflows.chasing.chases import Step
from workflows.chasing.config import ChasingConfig
from workflows.chasing.rules import ladder_days
from workflows.digest.config import DigestConfig, send_day

STEP_NAMES = {
    Step.REQUEST: "Request",
    Step.REMINDER: "Reminder",
    Step.FINAL_REMINDER: "Final reminder",
    Step.ESCALATION: "Escalation",
}


@dataclass(frozen=True)
class Day:
    """One day in the preview, with the bank holiday it is, if any."""

    what: str
    date: dt.date
    holiday: str | None = None


@dataclass(frozen=True)
class PreviewRow:
    meeting: Meeting
    #: The bank holiday the meeting falls on, if any.
    holiday: str | None
    #: The chase ladder's days and the digest's day (empty for a cancelled or unchased meeting).
    days: tuple[Day, ...]
    chased: bool


def preview(
    config: CyclesConfig,
    start: dt.date,
    *,
    months: int = 12,
    chasing: ChasingConfig | None = None,
    digest: DigestConfig | None = None,
) -> list[PreviewRow]:
    """Every meeting from ``start`` for ``months`` months (cancelled ones too)."""
    end = start + dt.timedelta(days=round(365.25 * months / 12) - 1)
    extra = config.extra_bank_holidays
    chased = set(chasing.meetings) if chasing is not None else set()
    digested = set(digest.groups) if digest is not None else set()
    rows: list[PreviewRow] = []
    for m in meetings(config, start, end, include_cancelled=True):
        days: list[Day] = []
        if m.goes_ahead and chasing is not None and m.group in chased:
            for step, day in ladder_days(chasing, m.papers_deadline):
                days.append(
                    Day(STEP_NAMES[step], day, bank_holiday_name(day, extra_holidays=extra))
                )
        if m.goes_ahead and digest is not None and m.group in digested:
            day = send_day(digest, m)
            days.append(Day("Digest", day, bank_holiday_name(day, extra_holidays=extra)))
        rows.append(
            PreviewRow(
                meeting=m,
                holiday=bank_holiday_name(m.date, extra_holidays=extra),
                days=tuple(days),
                chased=m.group in chased,
            )
        )
    return rows


def bank_holidays_between(
    config: CyclesConfig, start: dt.date, end: dt.date
) -> list[tuple[dt.date, str]]:
    """The bank holidays (England and Wales, and the file's extra ones) from start to end."""
    out: list[tuple[dt.date, str]] = []
    day = start
    while day <= end:
        name = bank_holiday_name(day, extra_holidays=config.extra_bank_holidays)
        if name:
            out.append((day, name))
        day += dt.timedelta(days=1)
    return out
