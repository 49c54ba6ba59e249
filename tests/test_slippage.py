"""The slippage rules, one by one: when each fires, its reason word for word, and its config."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from workflows.digest.contents import Flag, Severity
from workflows.digest.slippage import (
    ActionFacts,
    CycleState,
    MeasureFacts,
    MilestoneFacts,
    SlippageConfig,
    expected_value,
    flags_for,
    forecast_slipped,
    measure_off_track,
    milestone_missed,
    no_change,
    no_due_date,
    no_update,
    overdue,
    status_change,
    status_worse,
)
from workflows.plan.dates import FuzzyDate

TODAY = date(2025, 9, 24)
CONFIG = SlippageConfig()
DEC_2023 = FuzzyDate.month_of(2023, 12)
APR_2024 = FuzzyDate.month_of(2024, 4)
JUN_2024 = FuzzyDate.month_of(2024, 6)
JUL_2024 = FuzzyDate.month_of(2024, 7)
MAR_2026 = FuzzyDate.month_of(2026, 3)

#: An action that nothing is wrong with: due next year, updated this cycle, on track.
FINE = ActionFacts(
    ref="1.1",
    status="on_track",
    status_label="Amber",
    baseline=MAR_2026,
    narrative="Going well.",
    updated_this_cycle=True,
    previous_meeting=date(2025, 9, 9),
    history=(CycleState(date(2025, 9, 9), "on_track", "Amber", "Started."),),
)


def facts(**changes: object) -> ActionFacts:
    return dataclasses.replace(FINE, **changes)  # type: ignore[arg-type]


def test_nothing_is_flagged_on_an_action_going_well() -> None:
    assert flags_for(FINE, CONFIG, TODAY) == ()


# -- overdue ---


def test_overdue_when_the_due_date_has_passed_and_it_is_not_complete() -> None:
    assert overdue(facts(baseline=DEC_2023), CONFIG, TODAY) == Flag(
        "overdue", Severity.HIGH, "Overdue: due Dec 2023, not complete"
    )


def test_overdue_uses_the_forecast_when_there_is_one() -> None:
    flag = overdue(facts(baseline=DEC_2023, forecast=JUN_2024), CONFIG, TODAY)
    assert flag is not None and flag.reason == "Overdue: due Jun 2024, not complete"
    assert overdue(facts(baseline=DEC_2023, forecast=MAR_2026), CONFIG, TODAY) is None


def test_not_overdue_until_the_end_of_the_month_it_is_due() -> None:
    sep = FuzzyDate.month_of(2025, 9)
    assert overdue(facts(baseline=sep), CONFIG, date(2025, 9, 30)) is None
    assert overdue(facts(baseline=sep), CONFIG, date(2025, 10, 1)) is not None


def test_overdue_grace_and_severity_come_from_config() -> None:
    config = SlippageConfig(overdue=Severity.MEDIUM, overdue_grace_days=30)
    sep = FuzzyDate.month_of(2025, 9)
    assert overdue(facts(baseline=sep), config, date(2025, 10, 30)) is None
    flag = overdue(facts(baseline=sep), config, date(2025, 10, 31))
    assert flag is not None and flag.severity is Severity.MEDIUM


@pytest.mark.parametrize("done", [{"status": "complete"}, {"withdrawn": True}])
def test_complete_and_withdrawn_actions_are_not_overdue_or_late(done: dict[str, object]) -> None:
    stale = facts(baseline=DEC_2023, updated_this_cycle=False, **done)
    assert overdue(stale, CONFIG, TODAY) is None
    assert no_update(stale, CONFIG, TODAY) is None
    assert flags_for(stale, CONFIG, TODAY) == ()


# -- forecast slipped ---


def test_forecast_later_than_the_baseline_says_by_how_long() -> None:
    flag = forecast_slipped(facts(baseline=APR_2024, forecast=JUN_2024), CONFIG, TODAY)
    assert flag == Flag(
        "forecast_slipped",
        Severity.MEDIUM,
        "Forecast Jun 2024 is 2 months later than the baseline Apr 2024",
    )


def test_a_forecast_more_than_90_days_late_is_high() -> None:
    flag = forecast_slipped(facts(baseline=APR_2024, forecast=JUL_2024), CONFIG, TODAY)
    assert flag is not None
    assert flag.severity is Severity.HIGH  # 30 Apr -> 31 Jul is 92 days
    assert flag.reason == "Forecast Jul 2024 is 3 months later than the baseline Apr 2024"


def test_forecast_slip_in_days_and_years() -> None:
    day = forecast_slipped(
        facts(
            baseline=FuzzyDate.day_of(date(2025, 10, 1)),
            forecast=FuzzyDate.day_of(date(2025, 10, 13)),
        ),
        CONFIG,
        TODAY,
    )
    assert day is not None
    assert day.reason == "Forecast 13 Oct 2025 is 12 days later than the baseline 1 Oct 2025"
    year = forecast_slipped(
        facts(baseline=FuzzyDate.year_of(2025), forecast=FuzzyDate.year_of(2026)), CONFIG, TODAY
    )
    assert year is not None and year.reason == (
        "Forecast 2026 is 1 year later than the baseline 2025"
    )


def test_no_slip_when_the_forecast_is_the_baseline_or_earlier() -> None:
    assert forecast_slipped(facts(baseline=APR_2024, forecast=APR_2024), CONFIG, TODAY) is None
    assert forecast_slipped(facts(baseline=APR_2024, forecast=DEC_2023), CONFIG, TODAY) is None
    assert forecast_slipped(facts(baseline=APR_2024), CONFIG, TODAY) is None


def test_slip_thresholds_come_from_config() -> None:
    slipped = facts(baseline=APR_2024, forecast=JUN_2024)  # 61 days
    assert forecast_slipped(slipped, SlippageConfig(forecast_slip_days=61), TODAY) is None
    flag = forecast_slipped(slipped, SlippageConfig(forecast_slip_high_days=60), TODAY)
    assert flag is not None and flag.severity is Severity.HIGH


# -- milestones ---


def test_a_missed_milestone_is_named_with_its_date() -> None:
    milestones = (
        MilestoneFacts(1, "1", APR_2024, complete=True),
        MilestoneFacts(2, "2", DEC_2023),
        MilestoneFacts(3, "3", MAR_2026),
    )
    assert milestone_missed(facts(milestones=milestones), CONFIG, TODAY) == Flag(
        "milestone_missed", Severity.MEDIUM, "Milestone 2 (Dec 2023) missed"
    )


def test_several_missed_milestones_make_one_flag() -> None:
    milestones = (
        MilestoneFacts(1, "Developed", FuzzyDate.month_of(2024, 2)),
        MilestoneFacts(2, "", JUN_2024),
    )
    flag = milestone_missed(facts(milestones=milestones), CONFIG, TODAY)
    assert flag is not None
    assert flag.reason == 'Milestones 1 "Developed" (Feb 2024) and 2 (Jun 2024) missed'


def test_no_missed_milestone_when_complete_or_still_ahead() -> None:
    ahead = (MilestoneFacts(1, "1", MAR_2026),)
    assert milestone_missed(facts(milestones=ahead), CONFIG, TODAY) is None
    behind = (MilestoneFacts(1, "1", DEC_2023),)
    assert milestone_missed(facts(milestones=behind, status="complete"), CONFIG, TODAY) is None


# -- no update ---


def test_no_update_names_the_previous_meeting() -> None:
    assert no_update(facts(updated_this_cycle=False), CONFIG, TODAY) == Flag(
        "no_update", Severity.MEDIUM, "No update since the 9 Sep meeting"
    )
    last_year = facts(updated_this_cycle=False, previous_meeting=date(2024, 12, 10))
    flag = no_update(last_year, CONFIG, date(2025, 1, 7))
    assert flag is not None and flag.reason == "No update since the 10 Dec 2024 meeting"
    first = facts(updated_this_cycle=False, previous_meeting=None)
    flag = no_update(first, CONFIG, TODAY)
    assert flag is not None and flag.reason == "No update this cycle"


def test_no_update_severity_from_config() -> None:
    flag = no_update(
        facts(updated_this_cycle=False), SlippageConfig(no_update=Severity.HIGH), TODAY
    )
    assert flag is not None and flag.severity is Severity.HIGH


# -- status worse ---


def test_status_worse_than_at_the_previous_meeting() -> None:
    worse = facts(status="off_track", status_label="Red")
    assert status_worse(worse, CONFIG, TODAY) == Flag(
        "status_worse", Severity.HIGH, "Status worse: Amber → Red"
    )


@pytest.mark.parametrize(
    ("status", "label"), [("on_track", "Amber"), ("complete", "Green"), ("not_due", "Not due")]
)
def test_status_the_same_better_or_neutral_is_not_worse(status: str, label: str) -> None:
    assert status_worse(facts(status=status, status_label=label), CONFIG, TODAY) is None


def test_a_first_report_is_never_worse() -> None:
    first = facts(status="off_track", status_label="Red", history=())
    assert status_worse(first, CONFIG, TODAY) is None


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (None, None, "none"),
        (None, "off_track", "new"),
        ("on_track", "off_track", "worse"),
        ("at_risk", "on_track", "better"),
        ("off_track", "complete", "better"),
        ("on_track", "on_track", "same"),
        ("not_due", "off_track", "same"),
    ],
)
def test_status_change(before: str | None, after: str | None, change: str) -> None:
    assert status_change(before, after) == change


# -- slow to progress ---


def _cycles(
    n: int, status: str = "on_track", narrative: str = "Recruiting."
) -> tuple[CycleState, ...]:
    days = [date(2025, 9, 9), date(2025, 8, 19), date(2025, 7, 29), date(2025, 7, 8)]
    return tuple(CycleState(d, status, "Amber", narrative) for d in days[:n])


def test_no_change_for_n_cycles_is_slow_to_progress() -> None:
    stale = facts(narrative="Recruiting.", history=_cycles(3))
    assert no_change(stale, CONFIG, TODAY) == Flag(
        "no_change", Severity.LOW, "No change in status or narrative for 3 cycles"
    )


def test_a_change_of_status_or_words_resets_the_count() -> None:
    history = (
        CycleState(date(2025, 9, 9), "on_track", "Amber", "Recruiting."),
        CycleState(date(2025, 8, 19), "on_track", "Amber", "Advertising."),
    )
    assert no_change(facts(narrative="Recruiting.", history=history), CONFIG, TODAY) is None
    new_words = facts(narrative="Two posts filled.", history=_cycles(3))
    assert no_change(new_words, CONFIG, TODAY) is None
    new_status = facts(status="off_track", narrative="Recruiting.", history=_cycles(3))
    assert no_change(new_status, CONFIG, TODAY) is None


def test_stale_cycles_threshold_from_config() -> None:
    stale = facts(narrative="Recruiting.", history=_cycles(2))
    assert no_change(stale, CONFIG, TODAY) is not None
    assert no_change(stale, SlippageConfig(stale_cycles=3), TODAY) is None
    one = no_change(
        facts(narrative="Recruiting.", history=_cycles(1)), SlippageConfig(stale_cycles=1), TODAY
    )
    assert one is not None and one.reason == "No change in status or narrative for 1 cycle"


def test_never_reported_and_complete_actions_are_not_stale() -> None:
    never = facts(status=None, status_label="", narrative="", history=_cycles(3, None, ""))  # type: ignore[arg-type]
    assert no_change(never, CONFIG, TODAY) is None
    done = facts(status="complete", narrative="Done.", history=_cycles(3, "complete", "Done."))
    assert no_change(done, CONFIG, TODAY) is None


# -- impact measures ---

WAITS = MeasureFacts(
    name="Children waiting over 18 weeks",
    higher_is_better=False,
    trajectory=((date(2025, 3, 31), 120.0), (date(2025, 9, 30), 80.0)),
    readings=((date(2025, 6, 30), 101.0), (date(2025, 9, 30), 96.0)),
)


def test_a_measure_off_its_trajectory() -> None:
    flag = measure_off_track(facts(measures=(WAITS,)), CONFIG, date(2025, 10, 6))
    assert flag == Flag(
        "measure_off_track",
        Severity.MEDIUM,
        "Children waiting over 18 weeks: 96 against 80 expected by 30 Sep 2025",
    )


def test_a_measure_within_tolerance_is_not_flagged() -> None:
    near = dataclasses.replace(WAITS, readings=((date(2025, 9, 30), 88.0),))  # 10% over 80
    assert measure_off_track(facts(measures=(near,)), CONFIG, date(2025, 10, 6)) is None
    assert (
        measure_off_track(
            facts(measures=(near,)), SlippageConfig(measure_tolerance=0.05), date(2025, 10, 6)
        )
        is not None
    )


def test_higher_is_better_measures_and_units() -> None:
    checks = MeasureFacts(
        name="2-year checks done",
        unit="%",
        trajectory=((date(2025, 6, 30), 75.0),),
        readings=((date(2025, 6, 30), 62.5),),
    )
    flag = measure_off_track(facts(measures=(checks,)), CONFIG, TODAY)
    assert flag is not None
    assert flag.reason == "2-year checks done: 62.5% against 75% expected by 30 Jun 2025"
    better = dataclasses.replace(checks, readings=((date(2025, 6, 30), 90.0),))
    assert measure_off_track(facts(measures=(better,)), CONFIG, TODAY) is None


def test_readings_after_today_are_not_seen_yet() -> None:
    # Only the June reading (101 against 100 expected, interpolated) is known on 24 Sep.
    assert measure_off_track(facts(measures=(WAITS,)), CONFIG, TODAY) is None


def test_a_complete_action_is_still_flagged_for_its_impact() -> None:
    done = facts(status="complete", measures=(WAITS,))
    assert [f.rule for f in flags_for(done, CONFIG, date(2025, 10, 6))] == ["measure_off_track"]


def test_expected_value_is_linear_between_points_and_flat_beyond() -> None:
    points = ((date(2025, 1, 1), 100.0), (date(2025, 1, 11), 50.0))
    assert expected_value(points, date(2024, 12, 1)) == 100.0
    assert expected_value(points, date(2025, 1, 6)) == 75.0
    assert expected_value(points, date(2026, 1, 1)) == 50.0
    assert expected_value((), date(2025, 1, 1)) is None


# -- no due date ---


def test_no_due_date() -> None:
    assert no_due_date(facts(baseline=None, due_kind="tbc"), CONFIG, TODAY) == Flag(
        "no_due_date", Severity.LOW, "No due date (TBC)"
    )
    flag = no_due_date(facts(baseline=None, due_kind="empty"), CONFIG, TODAY)
    assert flag is not None and flag.reason == "No due date"
    assert no_due_date(facts(baseline=None, due_kind="completed"), CONFIG, TODAY) is None
    assert no_due_date(facts(baseline=None, status="complete"), CONFIG, TODAY) is None
    assert no_due_date(FINE, CONFIG, TODAY) is None


# -- all together, and the config file ---


def test_flags_for_runs_every_rule_in_order() -> None:
    bad = facts(
        status="off_track",
        status_label="Red",
        baseline=APR_2024,
        forecast=JUL_2024,
        updated_this_cycle=False,
        milestones=(MilestoneFacts(2, "2", DEC_2023),),
    )
    assert [(f.rule, f.severity) for f in flags_for(bad, CONFIG, TODAY)] == [
        ("overdue", Severity.HIGH),
        ("forecast_slipped", Severity.HIGH),
        ("milestone_missed", Severity.MEDIUM),
        ("no_update", Severity.MEDIUM),
        ("status_worse", Severity.HIGH),
    ]
    quiet = SlippageConfig(disabled=frozenset({"overdue", "milestone_missed"}))
    assert [f.rule for f in flags_for(bad, quiet, TODAY)] == [
        "forecast_slipped",
        "no_update",
        "status_worse",
    ]


def test_config_from_mapping() -> None:
    assert SlippageConfig.from_mapping(None) == SlippageConfig()
    config = SlippageConfig.from_mapping(
        {
            "overdue": {"severity": "medium", "grace_days": 14},
            "forecast_slipped": {"after_days": 31, "high_after_days": 60, "high_severity": "HIGH"},
            "no_change": {"cycles": 3, "severity": "medium"},
            "measure_off_track": {"tolerance": 0.05},
            "no_due_date": {"enabled": False},
            "status_worse": None,
        }
    )
    assert config == SlippageConfig(
        overdue=Severity.MEDIUM,
        overdue_grace_days=14,
        forecast_slip_days=31,
        forecast_slip_high_days=60,
        no_change=Severity.MEDIUM,
        stale_cycles=3,
        measure_tolerance=0.05,
        disabled=frozenset({"no_due_date"}),
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"overdew": {}}, "unknown rule 'overdew'"),
        ({"overdue": {"severty": "high"}}, "slippage.overdue.severty: unknown setting"),
        ({"overdue": {"severity": "urgent"}}, "expected low, medium or high, got 'urgent'"),
        ({"no_change": {"cycles": 0}}, "no_change.cycles must be at least 1"),
        ({"no_change": {"cycles": "two"}}, "expected a whole number"),
        ({"measure_off_track": {"tolerance": "10%"}}, "expected a number (0.1 is 10%)"),
        ({"no_update": {"enabled": "no"}}, "expected true or false"),
        ({"overdue": "high"}, "expected a mapping"),
        ({"forecast_slipped": {"after_days": 100}}, "high_after_days must not be below"),
    ],
)
def test_config_mistakes_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        SlippageConfig.from_mapping(data)
    assert message in str(error.value)
