"""Figures written in an emailed reply: "EHCP 20-week timeliness: 61%", "M2 = 14 weeks",
"Local Offer visits (Jul 2025): 9,120". Pure :func:`extract_figures` finds them;
:func:`apply_emailed_figures` keeps them as readings of the reply's plan.

A line is a figure when the text before its colon (or ``=``) is a measure's code or name (the
start of the name is enough: "EHCP 20-week timeliness" names "EHCP 20-week timeliness (new
EHCPs issued within 20 weeks)"). The period is the one written in brackets or after "for", else
the period due on the day the reply came. Quoted lines (``>``) are not read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from workflows.calendar.cycles import LONDON
from workflows.measures.scoring import due_period, show_period
from workflows.measures.store import ReadingError, definition_of, record_reading
from workflows.store.models import Measure, Reply

_LINE = re.compile(r"^\s*(?P<label>[^:=\n>][^:=\n]{0,150}?)\s*[:=]\s*(?P<value>\S[^\n]{0,80})$")
_PERIOD = re.compile(
    r"\s*(?:\((?P<a>[^)]{3,20})\)|\bfor\s+(?P<b>[A-Za-z]{3,9}\.?\s+\d{4}|\d{4}-\d{2}))\s*$",
    re.IGNORECASE,
)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))


@dataclass(frozen=True)
class MeasureName:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class EmailFigure:
    """One figure line: the measure it names, what was written, the period if written."""

    measure_id: int
    code: str
    value: str
    period: str  # as written; "" for the period due
    line: str


def _matches(label: str, m: MeasureName) -> bool:
    key = _words(label)
    if not key:
        return False
    name = _words(m.name)
    return key == _words(m.code) or key == name or (len(key) >= 8 and name.startswith(key))


def extract_figures(text: str, measures: Sequence[MeasureName]) -> list[EmailFigure]:
    """Every line of ``text`` that gives a figure for one of ``measures``."""
    found: list[EmailFigure] = []
    for raw in text.splitlines():
        if raw.lstrip().startswith(">"):
            continue
        m = _LINE.match(raw)
        if m is None:
            continue
        label = m.group("label")
        period = ""
        p = _PERIOD.search(label)
        if p is not None:
            period = (p.group("a") or p.group("b") or "").strip()
            label = label[: p.start()]
        measure = next((x for x in measures if _matches(label, x)), None)
        if measure is None:
            continue
        value = m.group("value").strip().rstrip(".")
        value = re.split(r"\s+(?=\()|\s+(?:in|for|at)\s+", value, maxsplit=1)[0].strip()
        found.append(EmailFigure(measure.id, measure.code, value, period, raw.strip()))
    return found


@dataclass(frozen=True)
class AppliedFigure:
    code: str
    line: str
    kept: bool
    problem: str = ""  # why it was not kept (the field, the value, what is expected)


def apply_emailed_figures(
    session: Session, reply: Reply, text: str, *, now: datetime
) -> list[AppliedFigure]:
    """Keep each figure ``text`` gives as a reading of ``reply``'s plan, from ``reply``'s sender
    and channel; a figure Chaser cannot keep is returned with the reason, nothing raised.
    Does not commit."""
    if reply.plan_id is None:
        return []
    rows = session.exec(select(Measure).where(Measure.plan_id == reply.plan_id)).all()
    by_id = {m.id: m for m in rows if m.id is not None}
    names = [MeasureName(i, m.code, m.name) for i, m in by_id.items()]
    today: date = now.astimezone(LONDON).date()
    out: list[AppliedFigure] = []
    for fig in extract_figures(text, names):
        measure = by_id[fig.measure_id]
        period: object = fig.period
        if not fig.period:
            due = due_period(definition_of(measure), today)
            if due is None:
                out.append(
                    AppliedFigure(
                        fig.code,
                        fig.line,
                        False,
                        f"no period of {measure.name!r} "
                        "has ended yet; write the period, e.g. 'Jul 2025'",
                    )
                )
                continue
            period = due
        try:
            kept = record_reading(
                session,
                measure,
                value=fig.value,
                period=period,
                now=now,
                channel=reply.channel,
                person_id=reply.person_id,
                source=f"reply {reply.id}",
                reply_id=reply.id,
            )
        except ReadingError as exc:
            out.append(AppliedFigure(fig.code, fig.line, False, str(exc)))
            continue
        out.append(AppliedFigure(fig.code, fig.line, True))
        del kept
    return out


__all__ = [
    "AppliedFigure",
    "EmailFigure",
    "MeasureName",
    "apply_emailed_figures",
    "extract_figures",
    "show_period",
]
