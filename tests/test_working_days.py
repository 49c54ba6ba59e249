"""England and Wales working days, computed offline."""

from __future__ import annotations

from datetime import date

import pytest

from workflows.calendar.working_days import (
    add_working_days,
    bank_holiday_name,
    bank_holidays,
    is_working_day,
    next_working_day,
    previous_working_day,
    working_day_on_or_after,
    working_day_on_or_before,
    working_days_between,
)


def test_it_treats_weekends_and_bank_holidays_as_days_off() -> None:
    assert is_working_day(date(2025, 4, 17))  # Maundy Thursday
    assert not is_working_day(date(2025, 4, 18))  # Good Friday
    assert not is_working_day(date(2025, 4, 19))  # Saturday
    assert not is_working_day(date(2025, 4, 21))  # Easter Monday
    assert not is_working_day(date(2025, 8, 25))  # Late Summer Bank Holiday
    assert not is_working_day(date(2026, 12, 28))  # Boxing Day (observed)


def test_it_names_the_bank_holiday() -> None:
    assert bank_holiday_name(date(2025, 4, 21)) == "Easter Monday"
    assert bank_holiday_name(date(2025, 4, 22)) is None


def test_it_goes_back_over_easter_when_counting_working_days_back() -> None:
    # Tue 22 Apr 2025: one working day before is Thu 17 Apr (Easter Monday, the weekend and
    # Good Friday are skipped).
    assert add_working_days(date(2025, 4, 22), -1) == date(2025, 4, 17)
    assert add_working_days(date(2025, 4, 23), -5) == date(2025, 4, 14)


def test_it_goes_forward_over_christmas() -> None:
    assert add_working_days(date(2025, 12, 24), 1) == date(2025, 12, 29)
    assert add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 2)


def test_it_leaves_the_day_alone_when_adding_zero() -> None:
    assert add_working_days(date(2025, 4, 19), 0) == date(2025, 4, 19)


def test_it_finds_the_working_day_before_and_after() -> None:
    assert previous_working_day(date(2025, 4, 22)) == date(2025, 4, 17)
    assert next_working_day(date(2025, 4, 17)) == date(2025, 4, 22)
    assert working_day_on_or_before(date(2025, 4, 21)) == date(2025, 4, 17)
    assert working_day_on_or_before(date(2025, 4, 22)) == date(2025, 4, 22)
    assert working_day_on_or_after(date(2025, 4, 18)) == date(2025, 4, 22)
    assert working_day_on_or_after(date(2025, 4, 17)) == date(2025, 4, 17)


def test_it_honours_extra_bank_holidays_from_config() -> None:
    extra = frozenset({date(2025, 7, 7)})
    assert not is_working_day(date(2025, 7, 7), extra_holidays=extra)
    assert bank_holiday_name(date(2025, 7, 7), extra_holidays=extra) == "extra bank holiday"
    assert add_working_days(date(2025, 7, 8), -1, extra_holidays=extra) == date(2025, 7, 4)


@pytest.mark.parametrize("n", [-12, -5, -1, 0, 1, 3, 20])
def test_it_counts_working_days_between_consistently(n: int) -> None:
    start = date(2025, 4, 15)
    assert working_days_between(start, add_working_days(start, n)) == n


def test_it_knows_one_off_bank_holidays_the_package_ships() -> None:
    # The State Funeral of Queen Elizabeth II, 19 Sep 2022.
    assert not is_working_day(date(2022, 9, 19))


def test_it_caches_each_year() -> None:
    assert bank_holidays(2025) is bank_holidays(2025)
    assert date(2025, 12, 25) in bank_holidays(2025)
