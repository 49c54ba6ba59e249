"""Risk register mappings (``config/mappings/risks/*.yaml``): where a council's register keeps
each field of a risk, and the plan's scoring bands. Same header and column rules as plan
mappings; see ``docs/measures-and-risks.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from workflows.plan.mapping import ColumnRef, HeaderRule, PlanInfo
from workflows.risks.scoring import RiskScoring
from workflows.yaml_files import ConfigFileError, load_model

RISK_FIELDS: dict[str, str] = {
    "code": "the risk's reference, e.g. 'R3'",
    "title": "the risk in a few words",
    "description": "the risk in full",
    "cause": "what could cause it",
    "effect": "what would happen",
    "owner": "who owns it: a code, or a name with the code in brackets",
    "actions": "the refs of the actions it threatens, e.g. '7.2, 7.3'",
    "area": "the plan area it belongs to (a number)",
    "likelihood": "1 (rare) to 5 (almost certain)",
    "impact": "1 (negligible) to 5 (severe)",
    "mitigation": "how it is being managed",
    "target_score": "the score the mitigation aims at (1-25)",
    "review_date": "when it is next reviewed",
    "status": "open or closed",
}


class RegisterMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    plan: PlanInfo
    sheet: str | None = None
    header: HeaderRule
    columns: dict[str, ColumnRef]
    scoring: RiskScoring = RiskScoring()

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> dict[str, ColumnRef]:
        if not isinstance(value, dict):
            raise ValueError("write `columns:` as field: header pairs")
        out: dict[str, ColumnRef] = {}
        for key, spec in value.items():
            if key not in RISK_FIELDS:
                raise ValueError(f"unknown field {key!r}; fields are: {', '.join(RISK_FIELDS)}")
            out[key] = ColumnRef.parse(spec)
        if "title" not in out and "description" not in out:
            raise ValueError("map `title` (or `description`) to the column that names the risk")
        return out


class RegisterMappingError(ConfigFileError):
    """A risk register mapping is missing or wrong."""


def load_register_mapping(path: Path) -> RegisterMapping:
    return load_model(
        path,
        RegisterMapping,
        RegisterMappingError,
        missing="pass --mapping FILE or add it under config/mappings/risks/",
        expected="a YAML risk register mapping with `name`, `plan`, `header`, `columns`",
    )
