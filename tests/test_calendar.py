"""The governance calendar: meetings and papers deadlines from cycles.yaml (no clock)."""

from __future__ import annotations

import itertools
import textwrap
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from workflows.calendar.cycles import CyclesConfig, load_cycles, parse_cycles
from workflows.calendar.meetings import (
    MeetingStatus,
    groups_reporting_to,
    meeting_key,
    meetings,
    next_meeting,
    papers_deadline,
    reporting_group_for,
    scope_of,
)

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "cycles.yaml"


def config(groups: str, top: str = "") -> CyclesConfig:
    text = textwrap.dedent(top) + "groups:\n" + textwrap.indent(textwrap.dedent(groups), "  ")
    return parse_cycles(text, source="test.yaml")


BOARD_AND_DELIVERY = """\
- code: SIB
  name: Improvement Board
  cadence: Six weekly
  first_meeting: 2025-07-08
- code: SSDG
  name: Delivery Group
  cadence: Six weekly
  alternates_with: SIB
"""


def dates(cfg: CyclesConfig, start: date, end: date, code: str, **kw: bool) -> list[date]:
    return [m.date for m in meetings(cfg, start, end, groups=[code], **kw)]


# -- alternation --------------------------------------------------------------------------


def test_it_never_puts_the_board_and_the_delivery_group_in_the_same_week() -> None:
    cfg = config(BOARD_AND_DELIVERY)
    found = meetings(cfg, date(2025, 7, 1), date(2027, 7, 1))
    weeks = {
        code: {m.date.isocalendar()[:2] for m in found if m.group == code} for code in cfg.codes
    }
    assert len(weeks["SIB"]) > 15 and len(weeks["SSDG"]) > 15
    assert weeks["SIB"].isdisjoint(weeks["SSDG"])


def test_it_has_the_leaders_meet_every_three_weeks() -> None:
    cfg = config(BOARD_AND_DELIVERY)
    found = meetings(cfg, date(2025, 7, 1), date(2026, 7, 1))
    assert [m.group for m in found[:4]] == ["SIB", "SSDG", "SIB", "SSDG"]
    gaps = {(b.date - a.date).days for a, b in itertools.pairwise(found)}
    assert gaps == {21}
    assert [m.date for m in found[:3]] == [date(2025, 7, 8), date(2025, 7, 29), date(2025, 8, 19)]


def test_it_accepts_an_alternating_group_on_another_day_of_the_alternate_week() -> None:
    cfg = config(
        BOARD_AND_DELIVERY
        + """\
- code: PCIB
  name: Children's Services Improvement Board
  alternates_with: SSDG
  first_meeting: 2025-07-10
"""
    )
    assert dates(cfg, date(2025, 7, 1), date(2025, 9, 30), "PCIB") == [
        date(2025, 7, 10),
        date(2025, 8, 21),
    ]


# -- the shipped Plymouth config ----------------------------------------------------------


def test_it_gives_the_known_plymouth_board_dates() -> None:
    cfg = load_cycles(SHIPPED)
    found = meetings(cfg, date(2025, 7, 1), date(2026, 1, 31), groups=["SIB"])
    assert [m.date for m in found] == [
        date(2025, 7, 8),
        date(2025, 8, 19),
        date(2025, 9, 30),  # "the September board"
        date(2025, 11, 11),
        date(2025, 12, 16),  # moved from 23 Dec
    ]
    assert found[-1].slot == date(2025, 12, 23)
    assert found[-1].status is MeetingStatus.MOVED
    assert found[0].papers_deadline == date(2025, 7, 1)


def test_it_keeps_task_and_finish_groups_out_of_august_in_the_shipped_config() -> None:
    cfg = load_cycles(SHIPPED)
    august = meetings(cfg, date(2025, 8, 1), date(2025, 8, 31))
    assert {m.group for m in august} >= {"SIB", "QPEC", "PCIB"}
    assert not {m.group for m in august} & {"TFG-GOC", "TFG-TPA", "TFG-GR", "TFG-INC", "HWL"}


def test_it_scopes_the_board_to_the_whole_plan_through_the_reporting_lines() -> None:
    cfg = load_cycles(SHIPPED)
    assert set(groups_reporting_to(cfg, "SIB")) == {
        "SSDG",
        "TFG-GOC",
        "TFG-TPA",
        "TFG-GR",
        "TFG-INC",
        "HWL",
        "SC-CDT",
    }
    assert groups_reporting_to(cfg, "SIB")[0] == "SSDG"  # nearest first
    board = scope_of(cfg, "SIB")
    assert board.areas == frozenset(range(1, 10))
    assert len(board.task_and_finish_groups) == 7
    inclusion = scope_of(cfg, "TFG-INC")
    assert inclusion.groups == frozenset({"TFG-INC"})
    assert inclusion.covers(task_and_finish_group="inclusion")
    assert not inclusion.covers(task_and_finish_group="Graduated Response", area=6)
    assert scope_of(cfg, "SSLB").groups >= {"SIB", "SSDG", "HWL"}


def test_it_matches_plan_task_and_finish_names_whatever_the_apostrophe() -> None:
    cfg = load_cycles(SHIPPED)
    straight = "Social Care and Children's Disability Team"
    assert reporting_group_for(cfg, task_and_finish_group=straight) == "SC-CDT"
    assert scope_of(cfg, "SC-CDT").covers(
        task_and_finish_group="SOCIAL CARE AND CHILDREN’S DISABILITY TEAM"
    )
    assert (
        reporting_group_for(cfg, task_and_finish_group="Early identification and support") == "SSDG"
    )
    assert (
        reporting_group_for(cfg, task_and_finish_group="SEND Sufficiency and Provision") == "SSDG"
    )
    assert reporting_group_for(cfg, area=7) == "HWL"
    assert reporting_group_for(cfg, task_and_finish_group="Unknown", area=None) is None


# -- exceptions and recesses --------------------------------------------------------------


EXCEPTIONS = """\
- code: SIB
  name: Improvement Board
  cadence: every 6 weeks
  first_meeting: 2025-07-08
  exceptions:
    - slot: 2025-08-19
      moved_to: 2025-08-26
      time: "14:00"
      note: Chair on leave
    - slot: 2025-09-30
      cancelled: true
      note: Replaced by a workshop
    - slot: 2025-11-11
      time: "15:30"
    - added: 2025-10-14
      note: Extra meeting before re-inspection
"""


def test_it_moves_a_meeting_but_keeps_its_slot_and_key() -> None:
    cfg = config(EXCEPTIONS)
    moved = meetings(cfg, date(2025, 8, 1), date(2025, 8, 31))
    assert len(moved) == 1
    m = moved[0]
    assert (m.slot, m.date, m.status) == (date(2025, 8, 19), date(2025, 8, 26), MeetingStatus.MOVED)
    assert m.starts_at.time() == time(14, 0)
    assert meeting_key(m) == m.key == "SIB:2025-08-19"
    assert "Chair on leave" in m.note and "moved from Tue 19 Aug 2025" in m.note
    assert m.papers_deadline == date(2025, 8, 18)  # 5 working days back over 25 Aug


def test_it_finds_a_meeting_moved_into_the_window_from_outside_it() -> None:
    cfg = config(EXCEPTIONS)
    assert dates(cfg, date(2025, 8, 20), date(2025, 8, 31), "SIB") == [date(2025, 8, 26)]
    assert dates(cfg, date(2025, 8, 18), date(2025, 8, 25), "SIB") == []


def test_it_leaves_out_a_cancelled_meeting_unless_asked() -> None:
    cfg = config(EXCEPTIONS)
    window = (date(2025, 9, 1), date(2025, 9, 30))
    assert meetings(cfg, *window) == []
    shown = meetings(cfg, *window, include_cancelled=True)
    assert [(m.date, m.status, m.note) for m in shown] == [
        (date(2025, 9, 30), MeetingStatus.CANCELLED, "Replaced by a workshop")
    ]
    assert not shown[0].goes_ahead


def test_it_changes_only_the_time_of_a_meeting() -> None:
    cfg = config(EXCEPTIONS)
    (m,) = meetings(cfg, date(2025, 11, 1), date(2025, 11, 30))
    assert (m.date, m.starts_at.time(), m.status) == (
        date(2025, 11, 11),
        time(15, 30),
        MeetingStatus.MOVED,
    )
    assert m.ends_at - m.starts_at == timedelta(hours=2)


def test_it_adds_a_meeting_outside_the_cycle() -> None:
    cfg = config(EXCEPTIONS)
    (m,) = meetings(cfg, date(2025, 10, 1), date(2025, 10, 31))
    assert (m.slot, m.date, m.status, m.key) == (
        date(2025, 10, 14),
        date(2025, 10, 14),
        MeetingStatus.ADDED,
        "SIB:2025-10-14",
    )


RECESS = """\
- code: TFG
  name: Task and finish group
  cadence: Three weekly
  first_meeting: 2025-07-16
- code: SIB
  name: Board
  cadence: every 6 weeks
  first_meeting: 2025-07-08
"""


def test_it_skips_meetings_in_an_august_recess_every_year() -> None:
    cfg = config(
        RECESS,
        top="""\
        recesses:
          - name: Summer recess
            months: [August]
            groups: [TFG]
        """,
    )
    assert dates(cfg, date(2025, 7, 1), date(2025, 9, 30), "TFG") == [
        date(2025, 7, 16),
        date(2025, 9, 17),
    ]
    assert date(2026, 8, 5) not in dates(cfg, date(2026, 7, 1), date(2026, 9, 30), "TFG")
    assert date(2025, 8, 19) in dates(cfg, date(2025, 8, 1), date(2025, 8, 31), "SIB")
    skipped = meetings(
        cfg, date(2025, 8, 1), date(2025, 8, 31), groups=["TFG"], include_cancelled=True
    )
    assert [(m.date, m.status, m.note) for m in skipped] == [
        (date(2025, 8, 6), MeetingStatus.CANCELLED, "Summer recess"),
        (date(2025, 8, 27), MeetingStatus.CANCELLED, "Summer recess"),
    ]


def test_it_skips_a_dated_recess_for_every_group_and_lets_an_explicit_move_win() -> None:
    cfg = config(
        RECESS.replace(
            "  first_meeting: 2025-07-08\n",
            "  first_meeting: 2025-07-08\n  exceptions:\n"
            "    - slot: 2025-12-23\n      moved_to: 2026-01-06\n",
        ),
        top="""\
        recesses:
          - name: Christmas
            from: 2025-12-20
            to: 2026-01-04
        """,
    )
    assert dates(cfg, date(2025, 12, 20), date(2026, 1, 4), "TFG") == []
    assert dates(cfg, date(2025, 12, 1), date(2026, 1, 31), "SIB") == [date(2026, 1, 6)]


# -- papers deadlines ---------------------------------------------------------------------


def test_it_moves_a_papers_deadline_back_over_easter() -> None:
    cfg = config(
        """\
        - code: WED
          name: Wednesday group
          cadence: weekly
          first_meeting: 2025-04-02
          papers_deadline_working_days: 1
        """
    )
    by_date = {
        m.date: m.papers_deadline for m in meetings(cfg, date(2025, 4, 1), date(2025, 4, 30))
    }
    assert by_date[date(2025, 4, 16)] == date(2025, 4, 15)
    # Wed 23 Apr: 1 working day before is Tue 22; Easter Monday is 21 Apr.
    assert by_date[date(2025, 4, 23)] == date(2025, 4, 22)


def test_it_pushes_a_papers_deadline_past_a_bank_holiday_to_the_working_day_before() -> None:
    # Tue 22 Apr 2025, 1 working day: Mon 21 is Easter Monday, Fri 18 Good Friday -> Thu 17.
    assert papers_deadline(date(2025, 4, 22), 1) == date(2025, 4, 17)
    # Wed 27 Aug 2025, 2 working days: Tue 26, then Mon 25 is the bank holiday -> Fri 22.
    assert papers_deadline(date(2025, 8, 27), 2) == date(2025, 8, 22)
    # 0 means the meeting day, or the working day before it.
    assert papers_deadline(date(2025, 4, 21), 0) == date(2025, 4, 17)
    assert papers_deadline(date(2025, 4, 22), 0) == date(2025, 4, 22)


def test_it_uses_the_configured_extra_bank_holidays() -> None:
    cfg = config(
        """\
        - code: SIB
          name: Board
          cadence: every 6 weeks
          first_meeting: 2025-07-08
          papers_deadline_working_days: 1
        """,
        top="extra_bank_holidays: [2025-07-07]\n",
    )
    (m,) = meetings(cfg, date(2025, 7, 1), date(2025, 7, 31))
    assert m.papers_deadline == date(2025, 7, 4)


def test_it_warns_when_a_meeting_falls_on_a_bank_holiday() -> None:
    cfg = config(
        """\
        - code: MON
          name: Monday group
          cadence: weekly
          first_meeting: 2025-04-14
        """
    )
    (m,) = meetings(cfg, date(2025, 4, 21), date(2025, 4, 21))
    assert "Easter Monday" in m.note


# -- clock changes ------------------------------------------------------------------------


WEEKLY_TUESDAY = """\
- code: TUE
  name: Tuesday group
  cadence: every week on Tuesday
  first_meeting: 2025-10-14
  time: "10:00"
"""


def test_it_keeps_ten_o_clock_local_across_the_october_clock_change() -> None:
    cfg = config(WEEKLY_TUESDAY)
    before, after = meetings(cfg, date(2025, 10, 21), date(2025, 10, 28))
    assert before.starts_at.hour == after.starts_at.hour == 10
    assert before.starts_at.astimezone(UTC) == datetime(2025, 10, 21, 9, 0, tzinfo=UTC)
    assert after.starts_at.astimezone(UTC) == datetime(2025, 10, 28, 10, 0, tzinfo=UTC)
    assert after.starts_at.utcoffset() == timedelta(0)
    assert after.ends_at.astimezone(UTC) == datetime(2025, 10, 28, 12, 0, tzinfo=UTC)


def test_it_keeps_ten_o_clock_local_across_the_march_clock_change() -> None:
    cfg = config(WEEKLY_TUESDAY)
    before, after = meetings(cfg, date(2026, 3, 24), date(2026, 3, 31))
    assert before.starts_at.astimezone(UTC) == datetime(2026, 3, 24, 10, 0, tzinfo=UTC)
    assert after.starts_at.astimezone(UTC) == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
    assert after.starts_at.utcoffset() == timedelta(hours=1)
    assert str(after.starts_at.tzinfo) == "Europe/London"


def test_it_keeps_a_six_weekly_cycle_on_tuesdays_through_both_clock_changes() -> None:
    cfg = config(BOARD_AND_DELIVERY)
    found = meetings(cfg, date(2025, 9, 1), date(2026, 5, 1), groups=["SIB"])
    assert all(m.date.weekday() == 1 and m.starts_at.hour == 10 for m in found)
    assert {m.starts_at.utcoffset() for m in found} == {timedelta(0), timedelta(hours=1)}


# -- monthly and quarterly ----------------------------------------------------------------


def test_it_schedules_quarterly_on_the_same_week_of_the_month() -> None:
    cfg = config(
        """\
        - code: SSLB
          name: Strategic Systems Leadership Board
          cadence: Quarterly
          first_meeting: 2025-09-11
        """
    )
    assert dates(cfg, date(2025, 1, 1), date(2026, 7, 1), "SSLB") == [
        date(2025, 9, 11),
        date(2025, 12, 11),
        date(2026, 3, 12),
        date(2026, 6, 11),
    ]


def test_it_schedules_monthly_by_a_rule() -> None:
    cfg = config(
        """\
        - code: SECOND
          name: Second Tuesday
          cadence: monthly on the second Tuesday
          first_meeting: 2025-07-08
        - code: LAST
          name: Last Friday
          cadence: last Friday of the month
          first_meeting: 2025-07-25
        - code: EVERY2
          name: Every two months
          cadence: every 2 months on the first Monday
          first_meeting: 2025-09-01
          until: 2026-01-31
        """
    )
    window = (date(2025, 7, 1), date(2026, 3, 31))
    assert dates(cfg, *window, "SECOND")[:4] == [
        date(2025, 7, 8),
        date(2025, 8, 12),
        date(2025, 9, 9),
        date(2025, 10, 14),
    ]
    assert dates(cfg, *window, "LAST")[:4] == [
        date(2025, 7, 25),
        date(2025, 8, 29),
        date(2025, 9, 26),
        date(2025, 10, 31),
    ]
    assert dates(cfg, *window, "EVERY2") == [date(2025, 9, 1), date(2025, 11, 3), date(2026, 1, 5)]


def test_it_starts_a_window_in_the_middle_of_a_cycle() -> None:
    cfg = config(BOARD_AND_DELIVERY)
    assert dates(cfg, date(2026, 1, 1), date(2026, 3, 31), "SIB") == [
        date(2026, 2, 3),
        date(2026, 3, 17),
    ]
    assert dates(cfg, date(2025, 1, 1), date(2025, 7, 7), "SIB") == []  # before the first


def test_it_finds_the_next_meeting_that_goes_ahead() -> None:
    cfg = config(EXCEPTIONS)
    nxt = next_meeting(cfg, "SIB", date(2025, 9, 1))
    assert nxt is not None and nxt.date == date(2025, 10, 14)  # 30 Sep is cancelled


def test_it_refuses_an_unknown_group_code() -> None:
    cfg = config(BOARD_AND_DELIVERY)
    with pytest.raises(KeyError, match="SIB, SSDG"):
        meetings(cfg, date(2025, 7, 1), date(2025, 8, 1), groups=["XYZ"])
