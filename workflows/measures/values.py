"""Checking one figure or period as people write them, with errors that name the field, the
value, what was expected and the fix (shared by the scorecard, the readings CSV, the form and
emailed figures)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from workflows.measures.scoring import period_end, show_period
from workflows.plan.dates import parse_date_cell

NUMBER_EXPECTED = "a number, like 61 or 61.5 (a % sign and thousands commas are fine)"


@dataclass(frozen=True)
class ValueProblem:
    kind: str  # not_a_number | over_100_percent | negative_percent | unreadable_period |
    #            period_out_of_range
    message: str
    value: str
    expected: str


def read_figure(value: object, *, field: str, unit: str = "") -> float | ValueProblem:
    """A figure from a cell or a typed text; a percentage must be 0–100."""
    number: float | None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value or "").strip()
        stripped = text.replace(",", "").replace("£", "").strip()
        stripped = stripped[:-1].strip() if stripped.endswith("%") else stripped
        number = float(stripped) if re.fullmatch(r"[-+]?\d+(\.\d+)?", stripped) else None
    shown = str(value if value is not None else "").strip()
    if number is None:
        return ValueProblem(
            "not_a_number",
            f"{field} {shown!r} is not a number; write {NUMBER_EXPECTED}",
            shown,
            NUMBER_EXPECTED,
        )
    if unit == "%" and number > 100:
        return ValueProblem(
            "over_100_percent",
            f"{field} {shown!r} is over 100, but the measure is a percentage; write a figure "
            "from 0 to 100 (61 for 61%)",
            shown,
            "a percentage from 0 to 100",
        )
    if unit == "%" and number < 0:
        return ValueProblem(
            "negative_percent",
            f"{field} {shown!r} is below 0, but the measure is a percentage; write a figure "
            "from 0 to 100",
            shown,
            "a percentage from 0 to 100",
        )
    return number


PERIOD_EXPECTED = "a month and year, like 'Jul 2025', '2025-07' or a date in that month"


def read_period(value: object, *, field: str, frequency: str = "month") -> date | ValueProblem:
    """The end of the period ``value`` names ('Jul 2025', '2025-07', a date, 'Q2 2025')."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return period_end(value, frequency)
    text = str(value or "").strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if m and 1 <= int(m.group(2)) <= 12:
        return period_end(date(int(m.group(1)), int(m.group(2)), 1), frequency)
    parsed = parse_date_cell(text) if text else None
    if parsed is None or parsed.date is None or parsed.parts:
        return ValueProblem(
            "unreadable_period",
            f"{field} {text!r} is not a period; write {PERIOD_EXPECTED}",
            text,
            PERIOD_EXPECTED,
        )
    return period_end(parsed.date.last_day, frequency)


def check_in_range(
    end: date,
    *,
    field: str,
    first: date | None,
    last: date | None,
    frequency: str,
    name: str,
) -> ValueProblem | None:
    """A problem if the period ending ``end`` is outside the measure's range."""
    if (first is None or end >= period_end(first, frequency)) and (
        last is None or end <= period_end(last, frequency)
    ):
        return None
    shown = show_period(end, frequency)
    since = show_period(period_end(first, frequency), frequency) if first else "the start"
    until = show_period(period_end(last, frequency), frequency) if last else "now"
    return ValueProblem(
        "period_out_of_range",
        f"{field} {shown} is outside the periods of {name!r} ({since} to {until}); give a figure "
        "for a period in that range, or widen the measure's range in the scorecard",
        shown,
        f"a period from {since} to {until}",
    )
