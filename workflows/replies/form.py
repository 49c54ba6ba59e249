"""Reading one action's reply-form post: the fields as typed, checked, as an update.

Pure: no store, no clock. :func:`read_action_form` returns either an :class:`ActionUpdate` (plus
risks and measure figures, which the plan keeps elsewhere) or the errors to show, worded as the
GOV.UK Design System advises, each naming the field it belongs to.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from workflows.measures.values import read_figure
from workflows.plan.dates import FuzzyDate
from workflows.plan.mapping import StatusScale
from workflows.replies.apply import ActionUpdate
from workflows.risks.form import RiskField, read_review_fields

#: The fields one action's form posts (besides the CSRF token and the measure figures).
TEXT_FIELDS = ("status", "narrative", "evidence", "forecast-month", "forecast-year", "risks",
               "mitigations")  # fmt: skip
MAX_TEXT = 10_000
MEASURE_PREFIX = "measure-"
#: A ticked "milestone N is done" box posts ``milestone-done-N=yes``.
MILESTONE_PREFIX = "milestone-done-"

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9


@dataclass(frozen=True)
class FieldError:
    field: str  # the posted field's name ("status", "forecast-month", "measure-3")
    message: str


@dataclass(frozen=True)
class MeasureField:
    """An impact measure the form asks a figure for."""

    id: int
    name: str
    unit: str = ""
    period: str = ""  # the period the figure is asked for ("Aug 2025")


@dataclass(frozen=True)
class FormReading:
    """What one post said: an update to apply, or errors to show (never both)."""

    update: ActionUpdate | None
    errors: tuple[FieldError, ...] = ()
    risks: str = ""
    mitigations: str = ""
    figures: dict[int, float] = field(default_factory=dict)  # measure id -> value

    @property
    def ok(self) -> bool:
        return self.update is not None


def clean(fields: Mapping[str, str]) -> dict[str, str]:
    """The posted text fields, trimmed, with Windows line endings made plain."""
    return {k: v.replace("\r\n", "\n").strip() for k, v in fields.items()}


def read_action_form(
    ref: str,
    fields: Mapping[str, str],
    *,
    scale: StatusScale | None,
    measures: Sequence[MeasureField] = (),
    risks_to_review: Sequence[RiskField] = (),
) -> FormReading:
    """Check one action's posted fields and turn them into an update."""
    f = clean(fields)
    if f.get("intent") == "no_change":
        return FormReading(update=ActionUpdate(ref=ref, no_change=True))
    errors: list[FieldError] = []

    chosen = None
    if scale is not None:
        chosen = scale.lookup(f["status"]) if f.get("status") else None
        if chosen is None:
            errors.append(FieldError("status", f"Select the status of action {ref}"))

    narrative = f.get("narrative", "")
    if not narrative:
        errors.append(
            FieldError(
                "narrative", f"Enter what has happened on action {ref} since the last update"
            )
        )
    for name, label in (
        ("narrative", "Progress"),
        ("evidence", "Evidence"),
        ("risks", "Risks"),
        ("mitigations", "How you are managing the risks"),
    ):
        if len(f.get(name, "")) > MAX_TEXT:
            errors.append(FieldError(name, f"{label} must be {MAX_TEXT:,} characters or fewer"))

    forecast, forecast_error = read_month_year(
        f.get("forecast-month", ""), f.get("forecast-year", "")
    )
    if forecast_error is not None:
        errors.append(forecast_error)

    if f.get("mitigations") and not f.get("risks"):
        errors.append(
            FieldError("risks", "Describe the risk, or leave how you are managing it empty")
        )

    figures: dict[int, float] = {}
    for measure in measures:
        text = f.get(f"{MEASURE_PREFIX}{measure.id}", "")
        if not text:
            continue
        value = read_number(text)
        checked = read_figure(text, field=measure.name, unit=measure.unit)
        if value is None:
            errors.append(
                FieldError(
                    f"{MEASURE_PREFIX}{measure.id}",
                    f"{measure.name} must be a number, like 12 or 4.5",
                )
            )
        elif isinstance(checked, float):
            figures[measure.id] = value
        else:  # a percentage over 100 or below 0
            errors.append(
                FieldError(
                    f"{MEASURE_PREFIX}{measure.id}",
                    f"{measure.name} must be a percentage from 0 to 100",
                )
            )

    _, review_errors = read_review_fields(f, risks_to_review)
    errors.extend(FieldError(e.field, e.message) for e in review_errors)

    if errors:
        return FormReading(update=None, errors=tuple(errors))
    update = ActionUpdate(
        ref=ref,
        status=str(chosen.meaning) if chosen else None,
        status_label=chosen.value if chosen else "",
        embedded=chosen.embedded if chosen else False,
        narrative=narrative,
        evidence=f.get("evidence", ""),
        forecast=forecast,
        milestones_done=tuple(
            sorted(
                int(name.removeprefix(MILESTONE_PREFIX))
                for name, value in f.items()
                if name.startswith(MILESTONE_PREFIX)
                and name.removeprefix(MILESTONE_PREFIX).isdigit()
                and value == "yes"
            )
        ),
    )
    return FormReading(
        update=update,
        risks=f.get("risks", ""),
        mitigations=f.get("mitigations", ""),
        figures=figures,
    )


def read_month_year(month: str, year: str) -> tuple[FuzzyDate | None, FieldError | None]:
    """A month-precision date from a GOV.UK date input (month and year), or what is wrong."""
    month, year = month.strip(), year.strip()
    if not month and not year:
        return None, None
    if not month:
        return None, FieldError("forecast-month", "Revised forecast date must include a month")
    if not year:
        return None, FieldError("forecast-year", "Revised forecast date must include a year")
    m = int(month) if month.isdigit() else _MONTHS.get(month.lower().rstrip("."))
    if m is None or not 1 <= m <= 12:
        return None, FieldError(
            "forecast-month", "Revised forecast month must be a number from 1 to 12"
        )
    if not re.fullmatch(r"\d{4}", year):
        return None, FieldError("forecast-year", "Revised forecast year must include 4 numbers")
    y = int(year)
    if not 2000 <= y <= 2100:
        return None, FieldError(
            "forecast-year", "Revised forecast year must be between 2000 and 2100"
        )
    return FuzzyDate.month_of(y, m), None


def read_number(text: str) -> float | None:
    """A figure as people type it: "1,234", "45%", "12.5"; None if it is not a number."""
    stripped = text.replace(",", "").replace("%", "").replace("£", "").strip()
    if not re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        return None
    return float(stripped)
