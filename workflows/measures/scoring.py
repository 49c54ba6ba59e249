"""How a measure is doing, from its definition and readings: pure, time passed in.

* the **expected** value on a day is read off the trajectory (linear between its points; the
  baseline before the first point; the last point after it);
* **RAG**: green on or ahead of the expected value, amber short of it by no more than
  ``amber_within`` per cent of it, red further off;
* **direction of travel** compares the latest reading with the previous period's;
* **slippage flags**: off trajectory (red), a missing reading for the period now due, and
  worse for ``worsened_periods`` periods in a row.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Frequency = Literal["month", "quarter", "year"]
FREQUENCIES: tuple[str, ...] = ("month", "quarter", "year")
Rag = Literal["green", "amber", "red", ""]
Direction = Literal["improving", "worsening", "no change", ""]

#: Arrows for the direction of the figure itself (up means the number went up).
ARROWS = {"up": "↑", "down": "↓", "same": "→", "": ""}


@dataclass(frozen=True)
class Point:
    day: date
    value: float


@dataclass(frozen=True)
class Definition:
    """What scoring needs of a measure (built from a ``Measure`` row or a scorecard row)."""

    code: str
    name: str
    unit: str = ""
    higher_is_better: bool = True
    baseline: float | None = None
    baseline_period: date | None = None
    trajectory: tuple[Point, ...] = ()
    targets: tuple[Point, ...] = ()
    amber_within: float = 15.0
    frequency: Frequency = "month"
    first_period: date | None = None
    last_period: date | None = None


@dataclass(frozen=True)
class Flag:
    kind: Literal["off_trajectory", "missing_reading", "worsened"]
    message: str


@dataclass(frozen=True)
class MeasureStatus:
    code: str
    name: str
    unit: str
    latest: Point | None
    previous: Point | None
    expected: float | None
    target: Point | None
    rag: Rag
    direction: Direction
    arrow: str
    due_period: date | None
    flags: tuple[Flag, ...] = field(default_factory=tuple)

    @property
    def off_trajectory(self) -> bool:
        return any(f.kind == "off_trajectory" for f in self.flags)


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def period_end(day: date, frequency: str) -> date:
    """The last day of the period ``day`` falls in (quarters are calendar quarters)."""
    if frequency == "year":
        return date(day.year, 12, 31)
    if frequency == "quarter":
        last_month = ((day.month - 1) // 3 + 1) * 3
        return month_end(day.year, last_month)
    return month_end(day.year, day.month)


def previous_period(end: date, frequency: str) -> date:
    months = {"month": 1, "quarter": 3, "year": 12}.get(frequency, 1)
    y, m = end.year, end.month - months
    while m < 1:
        y, m = y - 1, m + 12
    return period_end(date(y, m, 1), frequency)


def due_period(definition: Definition, today: date) -> date | None:
    """The period a figure is due for on ``today``: the last one that has ended, within the
    measure's range (None before its first period has ended)."""
    end = previous_period(period_end(today, definition.frequency), definition.frequency)
    if definition.last_period is not None and end > definition.last_period:
        end = period_end(definition.last_period, definition.frequency)
    if definition.first_period is not None and end < definition.first_period:
        return None
    return end


def show_period(end: date, frequency: str) -> str:
    if frequency == "year":
        return str(end.year)
    if frequency == "quarter":
        return f"Q{(end.month - 1) // 3 + 1} {end.year}"
    return end.strftime("%b %Y")


def show_value(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}".strip() if unit and unit not in ("number", "count") else text


def expected_on(definition: Definition, day: date) -> float | None:
    """The trajectory's value on ``day`` (None when the measure has no trajectory)."""
    points = sorted(definition.trajectory, key=lambda p: p.day)
    if not points:
        return None
    base, base_day = definition.baseline, definition.baseline_period
    if base is not None and base_day is not None and base_day < points[0].day:
        points.insert(0, Point(base_day, base))
    if day <= points[0].day:
        return points[0].value
    for a, b in itertools.pairwise(points):
        if a.day <= day <= b.day:
            span = (b.day - a.day).days or 1
            return a.value + (b.value - a.value) * (day - a.day).days / span
    return points[-1].value


def next_target(definition: Definition, day: date) -> Point | None:
    """The first target on or after ``day``, else the last one."""
    ordered = sorted(definition.targets, key=lambda p: p.day)
    return next((t for t in ordered if t.day >= day), ordered[-1] if ordered else None)


def rag(
    value: float, expected: float | None, *, higher_is_better: bool, amber_within: float
) -> Rag:
    """Green on or ahead of ``expected``, amber short by at most ``amber_within`` % of it."""
    if expected is None:
        return ""
    shortfall = (expected - value) if higher_is_better else (value - expected)
    if shortfall <= 1e-9:
        return "green"
    allowed = abs(expected) * amber_within / 100
    return "amber" if shortfall <= allowed + 1e-9 else "red"


def direction(current: float, previous: float | None, *, higher_is_better: bool) -> Direction:
    if previous is None:
        return ""
    if abs(current - previous) < 1e-9:
        return "no change"
    better = current > previous if higher_is_better else current < previous
    return "improving" if better else "worsening"


def arrow(current: float, previous: float | None) -> str:
    if previous is None:
        return ARROWS[""]
    if abs(current - previous) < 1e-9:
        return ARROWS["same"]
    return ARROWS["up"] if current > previous else ARROWS["down"]


def by_period(readings: Sequence[Point]) -> list[Point]:
    """One figure per period, the latest given (readings come in the order recorded)."""
    latest: dict[date, Point] = {}
    for r in readings:
        latest[r.day] = r
    return [latest[d] for d in sorted(latest)]


def assess(
    definition: Definition,
    readings: Sequence[Point],
    today: date,
    *,
    worsened_periods: int = 2,
) -> MeasureStatus:
    """How ``definition`` is doing on ``today`` given its ``readings`` (in recorded order,
    ``day`` being the period's end); readings for periods after ``today`` are ignored."""
    series = [p for p in by_period(readings) if p.day <= today]
    latest = series[-1] if series else None
    previous = None
    if latest is not None:
        before = previous_period(latest.day, definition.frequency)
        previous = next((p for p in series if p.day == before), None)
    expected = expected_on(definition, latest.day) if latest else None
    hib = definition.higher_is_better
    status_rag: Rag = (
        rag(latest.value, expected, higher_is_better=hib, amber_within=definition.amber_within)
        if latest
        else ""
    )
    flags: list[Flag] = []
    unit = definition.unit
    if latest is not None and status_rag == "red" and expected is not None:
        flags.append(
            Flag(
                "off_trajectory",
                f"{definition.name}: {show_value(latest.value, unit)} for "
                f"{show_period(latest.day, definition.frequency)} against "
                f"{show_value(round(expected, 1), unit)} expected on the trajectory "
                f"(more than {definition.amber_within:g}% off)",
            )
        )
    due = due_period(definition, today)
    if due is not None and not any(p.day == due for p in series):
        flags.append(
            Flag(
                "missing_reading",
                f"{definition.name}: no figure for {show_period(due, definition.frequency)}",
            )
        )
    if worsened_periods > 0 and len(series) > worsened_periods:
        tail = series[-(worsened_periods + 1) :]
        consecutive = all(
            previous_period(b.day, definition.frequency) == a.day
            for a, b in itertools.pairwise(tail)
        )
        worse = all(
            direction(b.value, a.value, higher_is_better=hib) == "worsening"
            for a, b in itertools.pairwise(tail)
        )
        if consecutive and worse:
            flags.append(
                Flag(
                    "worsened",
                    f"{definition.name}: worse for {worsened_periods} periods in a row "
                    f"({' → '.join(show_value(p.value, unit) for p in tail)})",
                )
            )
    return MeasureStatus(
        code=definition.code,
        name=definition.name,
        unit=unit,
        latest=latest,
        previous=previous,
        expected=expected,
        target=next_target(definition, latest.day if latest else today),
        rag=status_rag,
        direction=direction(
            latest.value, previous.value if previous else None, higher_is_better=hib
        )
        if latest
        else "",
        arrow=arrow(latest.value, previous.value if previous else None) if latest else "",
        due_period=due,
        flags=tuple(flags),
    )
