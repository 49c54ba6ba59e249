"""Mapping files: how one council lays out its plan workbook (``config/mappings/*.yaml``).

A mapping says which column holds which field, how to find the header row below title rows,
which columns continue downwards when left blank, and the plan's own status scale. The format is
documented for admins in ``docs/mappings.md``; :func:`load_mapping` checks a file against it and
names the key and the fix for every mistake.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.store.models import Plan, StatusMeaning
from workflows.yaml_files import ConfigFileError, load_model

#: Every field a mapping can point at a column.
FIELDS: dict[str, str] = {
    "area": (
        "the area: a heading such as 'PRIORITY ACTION AREA 2', 'Priority 3: …' or '3. To …', "
        "or its number alone"
    ),
    "area_title": "the area's objective text",
    "sro": "the area's senior responsible officer(s)",
    "reporting_group": "the task-and-finish group or board the action reports through",
    "ref": "the action's reference, e.g. '2.5'",
    "title": "what the action is ('Actions to deliver')",
    "lead": "the lead(s): initials in brackets or role titles",
    "start": "the start date",
    "due": "the completion (due) date",
    "forecast": "a revised (forecast) completion date, if the plan has one",
    "status": "the RAG/BRAG status, on the plan's own scale",
    "outcomes": "outcome statements",
    "evidence": "evidence of impact / impact measures",
    "progress": "progress narrative",
}


def normalise_header(text: object) -> str:
    """Compare headers the way a person would: case, spacing, quotes and dashes don't matter."""
    s = unicodedata.normalize("NFKC", str(text or ""))
    s = s.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    s = re.sub(r"<[^>]+>", " ", s)
    return re.sub(r"\s+", " ", s).strip().casefold()


class ColumnRef(BaseModel):
    """A column by its header text (any of several spellings) or by its letter."""

    model_config = ConfigDict(extra="forbid")
    headers: tuple[str, ...] = ()
    letter: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ColumnRef:
        if not self.headers and not self.letter:
            raise ValueError("give the column's header text, or `letter: E`")
        if self.letter and not re.fullmatch(r"[A-Za-z]{1,3}", self.letter):
            raise ValueError(f"letter {self.letter!r} is not a column letter; write e.g. 'E'")
        return self

    @classmethod
    def parse(cls, value: Any) -> ColumnRef:
        if isinstance(value, str):
            return cls(headers=(value,))
        if isinstance(value, list):
            return cls(headers=tuple(str(v) for v in value))
        if isinstance(value, dict):
            given = value.get("header", value.get("headers")) or ()
            headers = (given,) if isinstance(given, str) else tuple(str(h) for h in given)
            return cls(headers=headers, letter=value.get("letter"))
        raise ValueError(
            "write the column's header text, a list of alternative headers, or `letter: E`"
        )


class ScaleValue(BaseModel):
    """One value on the plan's own status scale and what it means."""

    model_config = ConfigDict(extra="forbid")
    value: str
    meaning: StatusMeaning
    label: str = ""
    aliases: tuple[str, ...] = ()
    embedded: bool = False
    colour: str = ""

    @field_validator("colour")
    @classmethod
    def _hex(cls, v: str) -> str:
        if v and not re.fullmatch(r"#?[0-9A-Fa-f]{6}", v):
            raise ValueError(f"colour {v!r} is not a hex colour; write e.g. '#FFC000'")
        return v.lstrip("#").upper()


class StatusScale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "RAG"
    values: tuple[ScaleValue, ...] = Field(min_length=1)

    def lookup(self, text: str) -> ScaleValue | None:
        """The scale value ``text`` names (by value, label or alias), if any."""
        key = normalise_header(text).rstrip(".")
        for v in self.values:
            names = (v.value, v.label, *v.aliases)
            if any(key == normalise_header(n) for n in names if n):
                return v
        return None


def plan_scale(plan: Plan | None) -> StatusScale | None:
    """The plan's own status scale, if it has one."""
    if plan is None or not plan.status_scale:
        return None
    return StatusScale(values=tuple(ScaleValue.model_validate(v) for v in plan.status_scale))


class HeaderRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The header row is the first row holding all of these headers.
    contains: tuple[str, ...] = Field(min_length=1)
    search_rows: int = Field(default=30, ge=1, le=1000)


class LeadRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accountable: Literal["first", "last"] = "first"
    #: More patterns (regular expressions, case-insensitive) for entries that are not people;
    #: they add to the built-in ones (boards, groups, "children and young people", …).
    not_people: tuple[str, ...] | None = None


class PlanInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    title: str = ""


class Mapping(BaseModel):
    """A council's workbook layout. See docs/mappings.md."""

    model_config = ConfigDict(extra="forbid")
    name: str
    plan: PlanInfo
    sheet: str | None = None
    header: HeaderRule
    columns: dict[str, ColumnRef]
    required: tuple[str, ...] = ("title",)
    fill_down: tuple[str, ...] = ()
    leads: LeadRule = LeadRule()
    generated_ref: str = "P{area}-{n:02d}"
    #: Where the areas are written: ``auto`` (the ``area`` column when mapped; otherwise rows
    #: that hold only a numbered heading, such as "1. To identify need early…") or ``rows``
    #: (every row with only its first cell filled is an area heading, numbered or not).
    area_headings: Literal["auto", "rows"] = "auto"
    status_scale: StatusScale

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> dict[str, ColumnRef]:
        if not isinstance(value, dict):
            raise ValueError("write `columns:` as field: header pairs")
        out: dict[str, ColumnRef] = {}
        for key, spec in value.items():
            if key not in FIELDS:
                raise ValueError(f"unknown field {key!r}; fields are: {', '.join(FIELDS)}")
            out[key] = ColumnRef.parse(spec)
        if "title" not in out:
            raise ValueError("map the `title` field to the column that says what the action is")
        return out

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        for group, names in (("required", self.required), ("fill_down", self.fill_down)):
            for name in names:
                if name not in self.columns:
                    raise ValueError(f"{group} names {name!r}, which is not under `columns:`")
        if self.area_headings == "rows" and "area" in self.columns:
            raise ValueError(
                "area_headings: rows reads each area from a heading row above its actions, but "
                "columns.area maps an Area column too: remove one of them"
            )
        try:
            self.generated_ref.format(area=1, n=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"generated_ref {self.generated_ref!r} is not a valid pattern ({exc}); "
                "use {area} and {n}, e.g. 'P{area}-{n:02d}'"
            ) from exc
        return self


class MappingError(ConfigFileError):
    """A mapping file is missing or wrong; each problem names the file, line, key and fix."""


def load_mapping(path: Path) -> Mapping:
    return load_model(
        path,
        Mapping,
        MappingError,
        missing="pass --mapping FILE or add it under config/mappings/",
        expected="a YAML mapping with `name`, `plan`, `columns`…",
    )
