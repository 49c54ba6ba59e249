"""What ``chaser plan check`` tells a person about a workbook before anything is imported (pure).

:func:`check_plan` reads a :class:`~workflows.plan.reading.ParsedPlan` against the chasing
configuration and says, in a short report: how many actions each area has (an area's number is
what ``cycles.yaml`` scopes meetings by), whose leads resolved and which lead cells did not, how
the due dates were written (month, day, quarter, term, TBC…), and which actions no meeting will
chase and why: an action in no area, in an area no chased meeting's scope covers, with no
resolved lead, complete and embedded, or in a plan ``chasing.yaml`` does not chase.

The chasing scope is the ladder's own (see :mod:`workflows.chasing.rules`): for each meeting in
``chasing.yaml``'s ``meetings``, :func:`~workflows.calendar.meetings.scope_of` gives the plan areas
and task-and-finish groups reporting to it; an action is chased when one of those scopes covers
it and it has an accountable lead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workflows.calendar.cycles import CyclesConfig
from workflows.calendar.meetings import Scope, scope_of
from workflows.chasing.config import ChasingConfig
from workflows.plan.dates import ParsedDate
from workflows.plan.reading import ActionRow, ParsedPlan, Problem, rows_text

__all__ = [
    "AreaLine",
    "ChaseSetup",
    "ChasedMeeting",
    "DateLine",
    "LeadLine",
    "PlanCheck",
    "Unchased",
    "chase_setup",
    "check_plan",
    "date_form",
]


@dataclass(frozen=True)
class ChasedMeeting:
    """A group whose meetings the ladder runs for, and what reports to it."""

    group: str
    name: str
    scope: Scope


@dataclass(frozen=True)
class ChaseSetup:
    """The chasing configuration a plan is checked against."""

    plan: str  # chasing.yaml's `plan:`
    meetings: tuple[ChasedMeeting, ...]

    def covering(self, action: ActionRow) -> tuple[str, ...]:
        """The chased meetings whose scope covers the action (by area or reporting group)."""
        return tuple(
            m.group
            for m in self.meetings
            if m.scope.covers(
                area=action.area_number, task_and_finish_group=action.reporting_group or None
            )
        )


def chase_setup(cycles: CyclesConfig, chasing: ChasingConfig) -> ChaseSetup:
    """The meetings ``chasing.yaml`` chases for, each with its scope from ``cycles.yaml``."""
    return ChaseSetup(
        plan=chasing.plan,
        meetings=tuple(
            ChasedMeeting(code, cycles.group(code).name, scope_of(cycles, code))
            for code in chasing.meetings
        ),
    )


@dataclass(frozen=True)
class AreaLine:
    number: int | None  # None: the actions with no area
    title: str
    label: str
    actions: int
    meetings: tuple[str, ...]  # chased meetings whose scope lists this area


@dataclass(frozen=True)
class LeadLine:
    """Actions whose lead cell resolved to nobody, grouped by what the cell says."""

    text: str
    rows: tuple[int, ...]
    refs: tuple[str, ...]


@dataclass(frozen=True)
class DateLine:
    form: str
    rows: tuple[int, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Unchased:
    """Actions no meeting will chase, for one reason."""

    reason: str
    fix: str
    rows: tuple[int, ...]
    refs: tuple[str, ...]


@dataclass
class PlanCheck:
    source: str
    sheet: str
    mapping: str
    plan_code: str
    header_row: int
    actions: int
    areas: tuple[AreaLine, ...]
    leads_resolved: int
    leads_unresolved: tuple[LeadLine, ...]
    dates: tuple[DateLine, ...]
    setup: ChaseSetup | None
    setup_problem: str
    chased: int
    unchased: tuple[Unchased, ...]
    warnings: tuple[Problem, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sheet": self.sheet,
            "mapping": self.mapping,
            "plan": self.plan_code,
            "header_row": self.header_row,
            "actions": self.actions,
            "areas": [
                {
                    "number": a.number,
                    "title": a.title,
                    "label": a.label,
                    "actions": a.actions,
                    "meetings": list(a.meetings),
                }
                for a in self.areas
            ],
            "leads": {
                "resolved": self.leads_resolved,
                "unresolved": [
                    {"text": u.text, "rows": list(u.rows), "refs": list(u.refs)}
                    for u in self.leads_unresolved
                ],
            },
            "dates": {d.form: len(d.rows) for d in self.dates},
            "chasing": None
            if self.setup is None
            else {
                "plan": self.setup.plan,
                "meetings": [m.group for m in self.setup.meetings],
                "chased": self.chased,
                "not_chased": [
                    {"reason": u.reason, "fix": u.fix, "rows": list(u.rows), "refs": list(u.refs)}
                    for u in self.unchased
                ],
            },
            "chasing_problem": self.setup_problem,
            "warnings": [w.as_dict() for w in self.warnings],
        }

    def report(self) -> list[str]:
        """The report as lines of text, for a person to read."""
        lines = [
            f"{self.source}, sheet {self.sheet!r}, layout {self.mapping!r}, plan "
            f"{self.plan_code}: {self.actions} actions below the header in row "
            f"{self.header_row}. Nothing was saved.",
            "",
            "Actions per area:",
        ]
        width = max((len(_cut(a.title or a.label, 64)) for a in self.areas), default=10)
        for a in self.areas:
            number = str(a.number) if a.number is not None else "-"
            title = _cut(a.title or a.label, 64) if a.number is not None else "no area"
            chased = f"  {', '.join(a.meetings)}" if a.meetings else ""
            lines.append(f"  {number:>3}  {title:<{width}}  {a.actions:>3}{chased}")
        lines += [
            "",
            f"Leads: {self.leads_resolved} of {self.actions} actions have a resolved accountable "
            "lead.",
        ]
        for u in self.leads_unresolved:
            said = repr(_cut(u.text, 60)) if u.text else "no lead written"
            lines.append(f"  not resolved: {said}: {_where(u.rows, u.refs)}")
        lines += ["", "Due dates: " + ", ".join(f"{len(d.rows)} {d.form}" for d in self.dates)]
        for d in self.dates:
            if d.form in ("unreadable", "empty") and d.examples:
                shown = ", ".join(repr(_cut(e, 40)) for e in d.examples)
                lines.append(f"  {d.form}: {rows_text(d.rows)} ({shown})")
        lines.append("")
        if self.setup is None:
            lines.append(f"Chasing not checked: {self.setup_problem}")
        else:
            meetings = ", ".join(m.group for m in self.setup.meetings)
            lines.append(
                f"Chasing (plan {self.setup.plan}, meetings {meetings}): {self.chased} of "
                f"{self.actions} actions are in a chased meeting's scope with a lead."
            )
            if self.unchased:
                lines.append("  Not chased by any meeting:")
            for line in self.unchased:
                lines.append(f"  - {line.reason}: {_where(line.rows, line.refs)}")
                if line.fix:
                    lines.append(f"    {line.fix}")
        if self.warnings:
            lines += ["", f"Warnings ({len(self.warnings)}):"]
            lines += [f"  {w}" for w in self.warnings]
        return lines


def check_plan(
    parsed: ParsedPlan,
    *,
    mapping: str,
    plan_code: str,
    setup: ChaseSetup | None,
    setup_problem: str = "",
) -> PlanCheck:
    """The report on ``parsed`` (read through ``mapping`` for plan ``plan_code``), its chasing
    worked out from ``setup`` (None when the configuration could not be read: ``setup_problem``
    says why)."""
    actions = parsed.actions
    unchased, chased = _unchased(actions, plan_code, setup) if setup else ((), 0)
    return PlanCheck(
        source=parsed.source,
        sheet=parsed.sheet,
        mapping=mapping,
        plan_code=plan_code,
        header_row=parsed.header_row,
        actions=len(actions),
        areas=_areas(parsed, setup),
        leads_resolved=sum(1 for a in actions if a.accountable is not None),
        leads_unresolved=_unresolved(actions),
        dates=_dates(actions),
        setup=setup,
        setup_problem=setup_problem,
        chased=chased,
        unchased=unchased,
        warnings=tuple(parsed.warnings),
    )


def _areas(parsed: ParsedPlan, setup: ChaseSetup | None) -> tuple[AreaLine, ...]:
    counts: dict[int | None, int] = {}
    for a in parsed.actions:
        counts[a.area_number] = counts.get(a.area_number, 0) + 1
    out = []
    for number in sorted(parsed.areas):
        area = parsed.areas[number]
        meetings = (
            tuple(m.group for m in setup.meetings if number in m.scope.areas) if setup else ()
        )
        out.append(AreaLine(number, area.title, area.label, counts.get(number, 0), meetings))
    if None in counts:
        out.append(AreaLine(None, "", "", counts[None], ()))
    return tuple(out)


def _key(text: str) -> str:
    return " ".join(text.casefold().replace("’", "'").split()).strip(" .,;:")


def _unresolved(actions: Iterable[ActionRow]) -> tuple[LeadLine, ...]:
    groups: dict[str, list[ActionRow]] = {}
    for a in actions:
        if a.accountable is None:
            groups.setdefault(_key(a.lead_raw), []).append(a)
    return tuple(
        LeadLine(
            " ".join(members[0].lead_raw.split()),
            tuple(a.row for a in members),
            tuple(a.ref for a in members),
        )
        for members in groups.values()
    )


_QUARTER = re.compile(r"(?i)(?<![a-z0-9])(?:q|quarter\s*)[1-4](?![0-9])")
_TERM = re.compile(r"(?i)\b(?:autumn|spring|summer)\b(?:\s+term)?\s+\d{4}")
#: The order forms are listed in.
FORMS = (
    "day",
    "month",
    "quarter",
    "term",
    "year",
    "range",
    "milestones",
    "TBC",
    "completed",
    "empty",
    "unreadable",
)


def date_form(parsed: ParsedDate) -> str:
    """How a date cell was written: day, month, quarter, term, year, range, milestones (several
    dated parts), TBC, completed, empty or unreadable."""
    if parsed.kind == "tbc":
        return "TBC"
    if parsed.kind == "parts":
        return "milestones"
    if parsed.kind != "date" or parsed.date is None:
        return parsed.kind
    if _QUARTER.search(parsed.raw):
        return "quarter"
    if _TERM.search(parsed.raw):
        return "term"
    if parsed.start is not None:
        return "range"
    return str(parsed.date.precision)


def _dates(actions: Iterable[ActionRow]) -> tuple[DateLine, ...]:
    found: dict[str, list[ActionRow]] = {}
    for a in actions:
        found.setdefault(date_form(a.due), []).append(a)
    return tuple(
        DateLine(
            form,
            tuple(a.row for a in found[form]),
            tuple(dict.fromkeys(" ".join(a.due.raw.split()) for a in found[form] if a.due.raw))[:3],
        )
        for form in FORMS
        if form in found
    )


def _unchased(
    actions: list[ActionRow], plan_code: str, setup: ChaseSetup
) -> tuple[tuple[Unchased, ...], int]:
    meetings = ", ".join(m.group for m in setup.meetings)
    if setup.plan != plan_code:
        return (
            Unchased(
                f"chasing.yaml chases plan {setup.plan!r}, not {plan_code!r}",
                f"set `plan: {plan_code}` in chasing.yaml, or import with --plan {setup.plan}",
                tuple(a.row for a in actions),
                tuple(a.ref for a in actions),
            ),
        ), 0
    reasons: dict[tuple[str, str], list[ActionRow]] = {}
    chased = 0
    for a in actions:
        found: list[tuple[str, str]] = []
        if a.status is not None and a.status.embedded:
            found.append((f"{a.status.value}: complete and embedded, never chased again", ""))
        if a.accountable is None:
            found.append(
                (
                    "no resolved lead, so there is nobody to chase",
                    "add the lead to the people CSV (`chaser people import`) or write their "
                    "initials in brackets in the plan",
                )
            )
        if not setup.covering(a):
            if a.area_number is None:
                found.append(
                    (
                        "in no area (area 0), so no meeting's scope covers it",
                        "give the actions an area number (see the warnings): an Area column, "
                        "numbered heading rows ('1. To …') or refs starting with the number",
                    )
                )
            else:
                found.append(
                    (
                        f"area {a.area_number} is in no chased meeting's scope ({meetings})",
                        f"add {a.area_number} to `plan_areas` of {meetings} or of a group "
                        "reporting to one of them in cycles.yaml",
                    )
                )
        if not found:
            chased += 1
        for reason in found:
            reasons.setdefault(reason, []).append(a)
    return tuple(
        Unchased(reason, fix, tuple(a.row for a in members), tuple(a.ref for a in members))
        for (reason, fix), members in reasons.items()
    ), chased


def _where(rows: tuple[int, ...], refs: tuple[str, ...]) -> str:
    n = len(rows)
    shown = ", ".join(refs[:6]) + (f" and {len(refs) - 6} more" if len(refs) > 6 else "")
    return f"{n} action{'s' if n != 1 else ''}, {rows_text(rows)} ({shown})"


def _cut(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
