"""The slippage rules: why an action is slow to progress, in plain words (pure).

Each rule is a function ``(facts, config, today) -> Flag | None`` so that a board secretary can
read exactly why an action is in the exception report, and a test can check each reason word for
word. :func:`flags_for` runs them all. Thresholds and severities come from
:class:`SlippageConfig` (``config/digest.yaml: slippage``), so a board that wants "forecast
slipped" to be HIGH after 60 days changes a number, not the code.

Complete and withdrawn actions are never flagged as overdue, late to report, slipped, missing a
milestone, stale or undated: they are done (or gone). An impact measure off its trajectory is
still flagged on a complete action, because finishing the work does not mean the impact arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from workflows.digest.contents import Flag, Severity
from workflows.plan.dates import FuzzyDate, Precision

#: Rank of each status meaning, best first; "not_due" is neutral (never better or worse).
STATUS_RANK = {"complete": 4, "on_track": 3, "at_risk": 2, "off_track": 1}

RULES = (
    "overdue",
    "forecast_slipped",
    "milestone_missed",
    "no_update",
    "status_worse",
    "no_change",
    "measure_off_track",
    "no_due_date",
)


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlippageConfig:
    """Thresholds and severities of the rules (defaults as agreed in issue 6)."""

    overdue: Severity = Severity.HIGH
    #: Days past the due date before "overdue" fires.
    overdue_grace_days: int = 0
    forecast_slipped: Severity = Severity.MEDIUM
    #: The forecast must be more than this many days after the baseline to be flagged...
    forecast_slip_days: int = 0
    #: ...and more than this many days to be flagged at ``forecast_slipped_high``.
    forecast_slip_high_days: int = 90
    forecast_slipped_high: Severity = Severity.HIGH
    milestone_missed: Severity = Severity.MEDIUM
    no_update: Severity = Severity.MEDIUM
    status_worse: Severity = Severity.HIGH
    no_change: Severity = Severity.LOW
    #: Flag "slow to progress" after this many cycles without a change of status or narrative.
    stale_cycles: int = 2
    measure_off_track: Severity = Severity.MEDIUM
    #: How far (as a fraction of the expected value) a measure may be worse than its trajectory.
    measure_tolerance: float = 0.1
    no_due_date: Severity = Severity.LOW
    #: Rules switched off (names from :data:`RULES`).
    disabled: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.disabled) - set(RULES))
        if unknown:
            raise ValueError(f"unknown slippage rule(s) {', '.join(unknown)}")
        if self.stale_cycles < 1:
            raise ValueError("no_change.cycles must be at least 1")
        if self.measure_tolerance < 0:
            raise ValueError("measure_off_track.tolerance must not be negative")
        if self.forecast_slip_high_days < self.forecast_slip_days:
            raise ValueError("forecast_slipped.high_after_days must not be below after_days")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> SlippageConfig:
        """Read the ``slippage:`` section of ``config/digest.yaml``, e.g.::

            overdue: {severity: high, grace_days: 0}
            forecast_slipped: {severity: medium, after_days: 0,
                               high_severity: high, high_after_days: 90}
            milestone_missed: {severity: medium}
            no_update: {severity: medium}
            status_worse: {severity: high}
            no_change: {severity: low, cycles: 2}
            measure_off_track: {severity: medium, tolerance: 0.1}
            no_due_date: {severity: low, enabled: false}

        Every key is optional; an unknown key or a bad value raises ``ValueError`` naming it, so a
        typo in the YAML is not silently ignored.
        """
        if not data:
            return cls()
        values: dict[str, Any] = {}
        disabled: set[str] = set()
        for rule, section in data.items():
            if rule not in _KEYS:
                raise ValueError(f"slippage: unknown rule {rule!r} (rules: {', '.join(RULES)})")
            if section is None:
                continue
            if not isinstance(section, Mapping):
                raise ValueError(f"slippage.{rule}: expected a mapping of settings")
            for key, raw in section.items():
                where = f"slippage.{rule}.{key}"
                if key == "enabled":
                    if not isinstance(raw, bool):
                        raise ValueError(f"{where}: expected true or false, got {raw!r}")
                    if not raw:
                        disabled.add(rule)
                    continue
                if key not in _KEYS[rule]:
                    allowed = ", ".join(["enabled", *_KEYS[rule]])
                    raise ValueError(f"{where}: unknown setting (settings: {allowed})")
                attr = _KEYS[rule][key]
                values[attr] = _convert(where, _FIELD_TYPES[attr], raw)
        try:
            return cls(**values, disabled=frozenset(disabled))
        except ValueError as exc:
            raise ValueError(f"slippage: {exc}") from None


def slippage_problems(data: Any) -> list[tuple[list[str | int], str]]:
    """Every mistake in a ``slippage:`` section, each with its key path (for digest.yaml's
    validation, which reports them all at once rather than the first)."""
    if not data:
        return []
    if not isinstance(data, Mapping):
        return [(["slippage"], "expected a mapping of rules (see docs/digest.md)")]
    found: list[tuple[list[str | int], str]] = []
    for rule, section in data.items():
        pieces = section.items() if isinstance(section, Mapping) else [(None, section)]
        for key, raw in pieces:
            try:
                SlippageConfig.from_mapping({rule: section if key is None else {key: raw}})
            except ValueError as exc:
                where, _, message = str(exc).partition(": ")
                path: list[str | int] = [*where.split(".")]
                found.append((path, message))
    if not found:
        try:
            SlippageConfig.from_mapping(data)
        except ValueError as exc:
            found.append((["slippage"], str(exc).removeprefix("slippage: ")))
    return found


#: YAML rule -> YAML setting -> SlippageConfig field.
_KEYS: dict[str, dict[str, str]] = {
    "overdue": {"severity": "overdue", "grace_days": "overdue_grace_days"},
    "forecast_slipped": {
        "severity": "forecast_slipped",
        "after_days": "forecast_slip_days",
        "high_severity": "forecast_slipped_high",
        "high_after_days": "forecast_slip_high_days",
    },
    "milestone_missed": {"severity": "milestone_missed"},
    "no_update": {"severity": "no_update"},
    "status_worse": {"severity": "status_worse"},
    "no_change": {"severity": "no_change", "cycles": "stale_cycles"},
    "measure_off_track": {"severity": "measure_off_track", "tolerance": "measure_tolerance"},
    "no_due_date": {"severity": "no_due_date"},
}
_FIELD_TYPES = {f.name: str(f.type) for f in fields(SlippageConfig)}


def _convert(where: str, kind: str, raw: Any) -> Any:
    if kind == "Severity":
        if isinstance(raw, str) and raw.strip().upper() in Severity.__members__:
            return Severity[raw.strip().upper()]
        raise ValueError(f"{where}: expected low, medium or high, got {raw!r}")
    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
            return raw
        raise ValueError(f"{where}: expected a whole number of 0 or more, got {raw!r}")
    if kind == "float":
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        raise ValueError(f"{where}: expected a number (0.1 is 10%), got {raw!r}")
    raise AssertionError(kind)  # pragma: no cover


# -- what the rules look at ----------------------------------------------------------------------


@dataclass(frozen=True)
class MilestoneFacts:
    position: int
    label: str
    due: FuzzyDate  # the milestone's forecast (its baseline unless someone moved it)
    complete: bool = False


@dataclass(frozen=True)
class MeasureFacts:
    """An impact measure linked to the action, with its expected trajectory and its readings."""

    name: str
    unit: str = ""
    higher_is_better: bool = True
    trajectory: tuple[tuple[date, float], ...] = ()  # (date, expected value), any order
    readings: tuple[tuple[date, float], ...] = ()  # (period end, value), any order


@dataclass(frozen=True)
class CycleState:
    """An action as it stood at one earlier meeting."""

    meeting: date
    status: str | None
    status_label: str
    narrative: str  # the latest words from the lead by then ("" if none)


@dataclass(frozen=True)
class ActionFacts:
    """Everything the rules need to know about one action on one day."""

    ref: str
    status: str | None = None  # a StatusMeaning value, None = never reported
    status_label: str = ""
    withdrawn: bool = False
    #: The current baseline: the one the board last agreed (workflows/board/baselines.py).
    baseline: FuzzyDate | None = None
    forecast: FuzzyDate | None = None  # None = the baseline
    #: The baseline first imported, when the board has agreed another since.
    original_baseline: FuzzyDate | None = None
    #: How the plan's due cell read ("date", "parts", "tbc", "completed", "empty", "unreadable").
    due_kind: str = "date"
    narrative: str = ""  # the latest words from the lead, as they stand now
    updated_this_cycle: bool = False
    previous_meeting: date | None = None
    #: The action at each earlier meeting, most recent (the previous meeting) first; stops at the
    #: first meeting before the action existed.
    history: tuple[CycleState, ...] = ()
    milestones: tuple[MilestoneFacts, ...] = ()
    measures: tuple[MeasureFacts, ...] = ()

    @property
    def done(self) -> bool:
        """Complete (or withdrawn): nothing left to chase."""
        return self.withdrawn or self.status == "complete"

    @property
    def due(self) -> FuzzyDate | None:
        """The date it is due by now: the forecast, else the baseline."""
        return self.forecast or self.baseline


# -- the rules -----------------------------------------------------------------------------------

Rule = Callable[[ActionFacts, SlippageConfig, date], Flag | None]


def overdue(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """Past its (forecast) due date and not complete."""
    due = facts.due
    if facts.done or due is None:
        return None
    if today <= due.last_day + timedelta(days=config.overdue_grace_days):
        return None
    return Flag("overdue", config.overdue, f"Overdue: due {due.display}, not complete")


def forecast_slipped(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """The forecast is later than the baseline the board agreed (the current one, when it
    agreed a new date): how much later."""
    del today
    slip = slip_days(facts.baseline, facts.forecast)
    if facts.done or slip is None or slip <= config.forecast_slip_days:
        return None
    assert facts.baseline is not None and facts.forecast is not None
    severity = (
        config.forecast_slipped_high
        if slip > config.forecast_slip_high_days
        else config.forecast_slipped
    )
    return Flag(
        "forecast_slipped",
        severity,
        f"Forecast {facts.forecast.display} is {how_long(facts.baseline, facts.forecast)} later "
        f"than the baseline {facts.baseline.display}"
        + (
            f" (agreed again; first {facts.original_baseline.display})"
            if facts.original_baseline and facts.original_baseline != facts.baseline
            else ""
        ),
    )


def milestone_missed(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """A milestone whose date has passed without it being marked complete; the flag clears
    once it is marked done (by the secretary, the form or an email: workflows/board/)."""
    if facts.done:
        return None
    missed = [m for m in facts.milestones if not m.complete and m.due.last_day < today]
    if not missed:
        return None
    names = [f"{_milestone_name(m)} ({m.due.display})" for m in missed]
    noun = "Milestone" if len(missed) == 1 else "Milestones"
    return Flag("milestone_missed", config.milestone_missed, f"{noun} {_and(names)} missed")


def no_update(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """The lead has not reported on it since the previous meeting."""
    if facts.done or facts.updated_this_cycle:
        return None
    if facts.previous_meeting is None:
        reason = "No update this cycle"
    else:
        reason = f"No update since the {short_date(facts.previous_meeting, today)} meeting"
    return Flag("no_update", config.no_update, reason)


def status_worse(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """The status is worse than at the previous meeting (Amber -> Red)."""
    del today
    if facts.withdrawn or not facts.history:
        return None
    before = facts.history[0]
    if status_change(before.status, facts.status) != "worse":
        return None
    was = before.status_label or str(before.status)
    now = facts.status_label or str(facts.status)
    return Flag("status_worse", config.status_worse, f"Status worse: {was} → {now}")


def no_change(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """Neither status nor narrative has changed for ``stale_cycles`` meetings: slow to progress.

    An action never reported at all is left to :func:`no_update`; "No change since the last
    update." from a lead keeps the narrative as it was, so it counts as no change.
    """
    del today
    if facts.done or (facts.status is None and not facts.narrative):
        return None
    cycles = 0
    for earlier in facts.history:
        if (earlier.status, earlier.narrative) != (facts.status, facts.narrative):
            break
        cycles += 1
    if cycles < config.stale_cycles:
        return None
    return Flag(
        "no_change",
        config.no_change,
        f"No change in status or narrative for {cycles} {_plural(cycles, 'cycle')}",
    )


def measure_off_track(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """The latest reading of an impact measure is worse than its trajectory by more than the
    tolerance. Several measures off track make one flag listing each."""
    if facts.withdrawn:
        return None
    reasons = []
    for measure in facts.measures:
        reason = _measure_reason(measure, config.measure_tolerance, today)
        if reason:
            reasons.append(reason)
    if not reasons:
        return None
    return Flag("measure_off_track", config.measure_off_track, "; ".join(reasons))


def no_due_date(facts: ActionFacts, config: SlippageConfig, today: date) -> Flag | None:
    """Nothing to hold the action to: the plan says "TBC" (or nothing readable)."""
    del today
    if facts.done or facts.due is not None or facts.due_kind == "completed":
        return None
    detail = {"tbc": " (TBC)", "unreadable": " (the plan's date could not be read)"}
    return Flag("no_due_date", config.no_due_date, "No due date" + detail.get(facts.due_kind, ""))


ALL_RULES: tuple[tuple[str, Rule], ...] = (
    ("overdue", overdue),
    ("forecast_slipped", forecast_slipped),
    ("milestone_missed", milestone_missed),
    ("no_update", no_update),
    ("status_worse", status_worse),
    ("no_change", no_change),
    ("measure_off_track", measure_off_track),
    ("no_due_date", no_due_date),
)


def flags_for(facts: ActionFacts, config: SlippageConfig, today: date) -> tuple[Flag, ...]:
    """Every rule's flag for the action, in rule order (worst-first sorting is the reader's)."""
    out = []
    for name, rule in ALL_RULES:
        if name in config.disabled:
            continue
        flag = rule(facts, config, today)
        if flag is not None:
            out.append(flag)
    return tuple(out)


# -- helpers shared with the digest --------------------------------------------------------------


def status_change(before: str | None, after: str | None) -> str:
    """ "better", "worse", "same", "new" (first report) or "none" (never reported)."""
    if after is None:
        return "none"
    if before is None:
        return "new"
    if before not in STATUS_RANK or after not in STATUS_RANK:
        return "same"  # not_due (or an unknown meaning) is neither better nor worse
    if STATUS_RANK[after] > STATUS_RANK[before]:
        return "better"
    if STATUS_RANK[after] < STATUS_RANK[before]:
        return "worse"
    return "same"


def slip_days(baseline: FuzzyDate | None, forecast: FuzzyDate | None) -> int | None:
    """Forecast minus baseline in days (by their deadlines), None without both."""
    if baseline is None or forecast is None:
        return None
    return (forecast.last_day - baseline.last_day).days


def how_long(earlier: FuzzyDate, later: FuzzyDate) -> str:
    """ "2 months", "1 year", "12 days": in the units the plan wrote its dates in."""
    if earlier.precision is Precision.YEAR or later.precision is Precision.YEAR:
        years = later.year - earlier.year
        return f"{years} {_plural(years, 'year')}"
    assert earlier.month is not None and later.month is not None
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    if Precision.DAY in (earlier.precision, later.precision):
        days = (later.last_day - earlier.last_day).days
        if days < 60:
            return f"{days} {_plural(days, 'day')}"
    return f"{months} {_plural(months, 'month')}"


def short_date(d: date, today: date) -> str:
    """ "9 Sep" this year, "9 Sep 2024" otherwise."""
    text = f"{d.day} {d:%b}"
    return text if d.year == today.year else f"{text} {d.year}"


def expected_value(trajectory: tuple[tuple[date, float], ...], on: date) -> float | None:
    """The trajectory's value on a day: linear between its points, flat beyond its ends."""
    points = sorted(trajectory)
    if not points:
        return None
    if on <= points[0][0]:
        return points[0][1]
    for (d0, v0), (d1, v1) in pairwise(points):
        if d0 <= on <= d1:
            span = (d1 - d0).days
            return v1 if span == 0 else v0 + (v1 - v0) * (on - d0).days / span
    return points[-1][1]


def _measure_reason(measure: MeasureFacts, tolerance: float, today: date) -> str:
    readings = sorted(r for r in measure.readings if r[0] <= today)
    if not readings:
        return ""
    on, value = readings[-1]
    expected = expected_value(measure.trajectory, on)
    if expected is None:
        return ""
    margin = abs(expected) * tolerance
    worse = value < expected - margin if measure.higher_is_better else value > expected + margin
    if not worse:
        return ""
    return (
        f"{measure.name}: {_number(value, measure.unit)} against "
        f"{_number(expected, measure.unit)} expected by {on.day} {on:%b %Y}"
    )


def _number(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def _milestone_name(m: MilestoneFacts) -> str:
    label = m.label.strip()
    if not label or label.isdigit():
        return label or str(m.position)
    return f'{m.position} "{label}"'


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"
