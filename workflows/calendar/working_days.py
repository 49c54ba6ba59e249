"""UK working days: England and Wales bank holidays, computed offline.

A *working day* is a Monday to Friday that is not an England and Wales bank holiday (as the
``holidays`` package computes them, offline, including substitute days such as
"Boxing Day (observed)") and not one of the ``extra_holidays`` the caller passes. Extra
holidays exist because one-off bank holidays (a coronation, a state funeral) reach the
``holidays`` package only with an update; admins list them in ``config/cycles.yaml`` under
``extra_bank_holidays`` and the calendar passes them through.

Everything here is pure: dates in, dates out, no clock.

The functions other modules should use::

    is_working_day(d)                  -> bool
    bank_holiday_name(d)               -> str | None
    add_working_days(d, n)             -> date   # n > 0 forward, n < 0 back, 0 = d itself
    previous_working_day(d)            -> date   # strictly before d
    next_working_day(d)                -> date   # strictly after d
    working_day_on_or_before(d)        -> date   # d if it is a working day, else the one before
    working_day_on_or_after(d)         -> date
    working_days_between(start, end)   -> int    # working days in (start, end]

Each takes an optional keyword ``extra_holidays`` (any collection of dates).

The chase ladder reads "request 5 working days before the papers deadline" as
``add_working_days(deadline, -5)``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType

import holidays

__all__ = [
    "add_working_days",
    "bank_holiday_name",
    "bank_holidays",
    "is_working_day",
    "next_working_day",
    "previous_working_day",
    "working_day_on_or_after",
    "working_day_on_or_before",
    "working_days_between",
]

#: ``holidays`` country and subdivision: the United Kingdom, England (England and Wales share
#: the same bank holidays).
COUNTRY = "GB"
SUBDIVISION = "ENG"

_ONE_DAY = timedelta(days=1)
_NO_EXTRAS: frozenset[date] = frozenset()


@lru_cache(maxsize=64)
def bank_holidays(year: int) -> Mapping[date, str]:
    """England and Wales bank holidays in ``year``: date -> name. Cached per year, read-only."""
    table = holidays.country_holidays(COUNTRY, subdiv=SUBDIVISION, years=year)
    return MappingProxyType({day: str(name) for day, name in sorted(table.items())})


def bank_holiday_name(d: date, *, extra_holidays: Collection[date] = _NO_EXTRAS) -> str | None:
    """The bank holiday's name if ``d`` is one (``"extra bank holiday"`` for a configured one)."""
    name = bank_holidays(d.year).get(d)
    if name is not None:
        return name
    if d in extra_holidays:
        return "extra bank holiday"
    return None


def is_working_day(d: date, *, extra_holidays: Collection[date] = _NO_EXTRAS) -> bool:
    """Monday to Friday and not a bank holiday (nor one of ``extra_holidays``)."""
    if d.weekday() >= 5:
        return False
    return d not in bank_holidays(d.year) and d not in extra_holidays


def next_working_day(d: date, *, extra_holidays: Collection[date] = _NO_EXTRAS) -> date:
    """The first working day strictly after ``d``."""
    d += _ONE_DAY
    while not is_working_day(d, extra_holidays=extra_holidays):
        d += _ONE_DAY
    return d


def previous_working_day(d: date, *, extra_holidays: Collection[date] = _NO_EXTRAS) -> date:
    """The last working day strictly before ``d``."""
    d -= _ONE_DAY
    while not is_working_day(d, extra_holidays=extra_holidays):
        d -= _ONE_DAY
    return d


def working_day_on_or_before(d: date, *, extra_holidays: Collection[date] = _NO_EXTRAS) -> date:
    """``d`` if it is a working day, else the previous working day."""
    if is_working_day(d, extra_holidays=extra_holidays):
        return d
    return previous_working_day(d, extra_holidays=extra_holidays)


def working_day_on_or_after(d: date, *, extra_holidays: Collection[date] = _NO_EXTRAS) -> date:
    """``d`` if it is a working day, else the next working day."""
    if is_working_day(d, extra_holidays=extra_holidays):
        return d
    return next_working_day(d, extra_holidays=extra_holidays)


def add_working_days(d: date, n: int, *, extra_holidays: Collection[date] = _NO_EXTRAS) -> date:
    """Move ``n`` working days from ``d``: forward when ``n > 0``, back when ``n < 0``.

    The day ``d`` itself is never counted, and the result is always a working day when
    ``n != 0``: ``add_working_days(Tue 22 Apr 2025, -1)`` is Thu 17 Apr 2025 (Easter Monday,
    the weekend and Good Friday are skipped). ``n == 0`` returns ``d`` unchanged.
    """
    step = next_working_day if n > 0 else previous_working_day
    for _ in range(abs(n)):
        d = step(d, extra_holidays=extra_holidays)
    return d


def working_days_between(
    start: date, end: date, *, extra_holidays: Collection[date] = _NO_EXTRAS
) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if ``end < start``).

    For a working day ``a``, ``working_days_between(a, add_working_days(a, n)) == n``.
    """
    if end < start:
        return -working_days_between(end, start, extra_holidays=extra_holidays)
    count = 0
    d = start
    while d < end:
        d += _ONE_DAY
        if is_working_day(d, extra_holidays=extra_holidays):
            count += 1
    return count
