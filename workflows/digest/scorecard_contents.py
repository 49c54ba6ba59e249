"""The digest's scorecard and risk sections as plain data (filled in by
:mod:`workflows.digest.scorecard`, shown by the digest templates and renderers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.measures.scoring import Point
from workflows.risks.store import RiskLine

RAG_WORDS = {"green": "Green", "amber": "Amber", "red": "Red", "": "No trajectory"}
RAG_COLOURS = {"green": "00703C", "amber": "FFDD00", "red": "D4351C", "": ""}
LABEL_WORDS = {
    "new": "New",
    "escalated": "Escalated",
    "overdue_for_review": "Overdue for review",
    "closed": "Closed",
}


@dataclass(frozen=True)
class MeasureRow:
    code: str
    name: str
    unit: str
    owner: str
    latest: str  # "58%", "" when no figure yet
    period: str  # "Jul 2025"
    expected: str  # on the trajectory for that period
    target: str  # "75% by Mar 2026"
    rag: str  # green | amber | red | ""
    arrow: str  # ↑ ↓ → or ""
    direction: str  # improving | worsening | no change | ""
    flags: tuple[str, ...]
    series: tuple[Point, ...]
    trajectory: tuple[Point, ...]
    higher_is_better: bool
    sparkline: str  # the figures as ▁▃▅▇, oldest first

    @property
    def rag_word(self) -> str:
        return RAG_WORDS.get(self.rag, self.rag)

    @property
    def off_trajectory(self) -> bool:
        return self.rag == "red"


@dataclass(frozen=True)
class RiskChangeLine:
    code: str
    title: str
    at: datetime
    who: str
    what: str  # "likelihood 3 → 4; mitigation changed"
    score_before: int | None
    score_after: int | None


@dataclass(frozen=True)
class ScorecardSection:
    measures: tuple[MeasureRow, ...]
    top_risks: tuple[RiskLine, ...]
    new: tuple[RiskLine, ...]
    escalated: tuple[RiskLine, ...]
    overdue: tuple[RiskLine, ...]
    closed: tuple[RiskLine, ...]
    changes: tuple[RiskChangeLine, ...]
    escalate_at: int

    @property
    def off_trajectory(self) -> tuple[MeasureRow, ...]:
        return tuple(m for m in self.measures if m.off_trajectory)
