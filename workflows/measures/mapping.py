"""Scorecard mappings (``config/mappings/scorecards/*.yaml``): where a council's KPI scorecard
keeps each field of a measure, and which columns hold monthly figures. Same header and column
rules as plan mappings (:mod:`workflows.plan.mapping`); see ``docs/measures-and-risks.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.plan.mapping import ColumnRef, HeaderRule, PlanInfo
from workflows.yaml_files import ConfigFileError, load_model

#: Every field a scorecard mapping can point at a column.
MEASURE_FIELDS: dict[str, str] = {
    "code": "the measure's reference, e.g. 'M1'",
    "name": "what is measured",
    "unit": "'%', 'days', 'number'…",
    "polarity": "which way is better: 'higher' or 'lower'",
    "baseline": "the figure the plan started from",
    "baseline_period": "the period of the baseline, e.g. 'Mar 2024'",
    "trajectory": "the expected figures: 'Sep 2025: 55; Mar 2026: 65'",
    "target": "the figure to reach",
    "target_date": "when the target is due, e.g. 'Mar 2026'",
    "amber_within": "how far short of the trajectory (in % of it) is still amber",
    "frequency": "how often a figure is due: month, quarter or year",
    "first_period": "the first period figures may be given for",
    "last_period": "the last period figures may be given for",
    "owner": "who reports it: a code, or a name with the code in brackets",
    "actions": "the refs of the actions it evidences, e.g. '6.10, 6.11'",
    "area": "the plan area it belongs to (a number)",
    "source": "where the figure comes from (the system or return)",
}


class ScorecardMapping(BaseModel):
    """A council's scorecard layout."""

    model_config = ConfigDict(extra="forbid")
    name: str
    plan: PlanInfo
    sheet: str | None = None
    header: HeaderRule
    columns: dict[str, ColumnRef]
    #: Where the figures are: ``header_dates`` (every column whose header is a period, such as
    #: 'Apr 2025', holds that period's figures) or ``none``.
    readings: Literal["header_dates", "none"] = "header_dates"
    #: How many periods in a row a measure may worsen before it is flagged.
    worsened_periods: int = Field(default=2, ge=1, le=24)
    #: The amber band when the file gives none, in % of the expected value.
    amber_within: float = Field(default=15.0, ge=0, le=100)

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> dict[str, ColumnRef]:
        if not isinstance(value, dict):
            raise ValueError("write `columns:` as field: header pairs")
        out: dict[str, ColumnRef] = {}
        for key, spec in value.items():
            if key not in MEASURE_FIELDS:
                raise ValueError(f"unknown field {key!r}; fields are: {', '.join(MEASURE_FIELDS)}")
            out[key] = ColumnRef.parse(spec)
        if "name" not in out:
            raise ValueError("map the `name` field to the column that says what is measured")
        return out


class ScorecardMappingError(ConfigFileError):
    """A scorecard mapping is missing or wrong."""


def load_scorecard_mapping(path: Path) -> ScorecardMapping:
    return load_model(
        path,
        ScorecardMapping,
        ScorecardMappingError,
        missing="pass --mapping FILE or add it under config/mappings/scorecards/",
        expected="a YAML scorecard mapping with `name`, `plan`, `header`, `columns`",
    )
