"""Scoring risks on the 5×5 scale councils use: likelihood (1 rare … 5 almost certain) ×
impact (1 negligible … 5 severe), banded by score; which risks are new, escalated (their score
rose to the escalation threshold or above since a date), overdue for review or closed. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RATING_WORDS = {
    "likelihood": "1 (rare) to 5 (almost certain)",
    "impact": "1 (negligible) to 5 (severe)",
}


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    min: int = Field(ge=1, le=25)
    colour: str = ""

    @field_validator("colour")
    @classmethod
    def _hex(cls, v: str) -> str:
        import re

        if v and not re.fullmatch(r"#?[0-9A-Fa-f]{6}", v):
            raise ValueError(f"colour {v!r} is not a hex colour; write e.g. '#D4351C'")
        return v.lstrip("#").upper()


class RiskScoring(BaseModel):
    """A plan's bands (each from its ``min`` score up to the next band's) and the score at or
    above which a risk that rose is escalated."""

    model_config = ConfigDict(extra="forbid")
    bands: tuple[Band, ...] = (
        Band(name="Very high", min=15, colour="D4351C"),
        Band(name="High", min=8, colour="F47738"),
        Band(name="Medium", min=4, colour="FFDD00"),
        Band(name="Low", min=1, colour="00703C"),
    )
    escalate_at: int = Field(default=15, ge=1, le=25)
    #: Days until the next review when an owner reviews a risk and gives no date.
    review_every_days: int = Field(default=91, ge=1, le=366)

    @model_validator(mode="after")
    def _from_one(self) -> RiskScoring:
        if not self.bands:
            raise ValueError("give at least one band")
        if min(b.min for b in self.bands) != 1:
            raise ValueError("the lowest band must start at score 1 (`min: 1`)")
        mins = [b.min for b in self.bands]
        if len(set(mins)) != len(mins):
            raise ValueError("two bands start at the same score; give each its own `min`")
        return self

    def band(self, score: int | None) -> Band | None:
        if score is None:
            return None
        return max((b for b in self.bands if b.min <= score), key=lambda b: b.min, default=None)


@dataclass(frozen=True)
class RatingProblem:
    kind: Literal["not_a_rating"]
    message: str
    value: str
    expected: str


def check_rating(
    value: object, *, field: Literal["likelihood", "impact"], ref: str = ""
) -> int | RatingProblem:
    """A likelihood or impact as a whole number 1–5, or what is wrong with it."""
    shown = str(value if value is not None else "").strip()
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    elif shown.replace(".", "", 1).isdigit():
        number = float(shown)
    whose = f"risk {ref}: " if ref else ""
    expected = f"a whole number from {RATING_WORDS[field]}"
    if number is None or not number.is_integer() or not 1 <= number <= 5:
        return RatingProblem(
            "not_a_rating",
            f"{whose}{field} {shown!r} is not on the 5×5 scale; write {expected}",
            shown,
            expected,
        )
    return int(number)


def score(likelihood: int | None, impact: int | None) -> int | None:
    if likelihood is None or impact is None:
        return None
    return likelihood * impact


@dataclass(frozen=True)
class RiskFacts:
    """What classifying one risk needs."""

    created_at: datetime
    score: int | None
    score_at_since: int | None  # its score at ``since`` (None: it did not exist or had none)
    closed: bool
    closed_at: datetime | None
    review_date: date | None


Label = Literal["new", "escalated", "overdue_for_review", "closed"]


def classify(
    facts: RiskFacts, *, since: datetime, today: date, scoring: RiskScoring
) -> tuple[Label, ...]:
    """Which lists a risk belongs on: new (added since ``since``), escalated (its score rose
    since then to ``escalate_at`` or above), overdue for review (open, review date passed),
    closed (since ``since``). A risk added already high is new, not escalated."""
    out: list[Label] = []
    if facts.created_at >= since:
        out.append("new")
    if (
        not facts.closed
        and facts.score is not None
        and facts.score_at_since is not None
        and facts.score > facts.score_at_since
        and facts.score >= scoring.escalate_at
    ):
        out.append("escalated")
    if not facts.closed and facts.review_date is not None and facts.review_date < today:
        out.append("overdue_for_review")
    if facts.closed and facts.closed_at is not None and facts.closed_at >= since:
        out.append("closed")
    return tuple(out)
