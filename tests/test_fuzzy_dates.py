"""Dates as councils write them: workflows.plan.dates."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl.utils.datetime import from_excel

from workflows.plan.dates import (
    EXPECTED,
    FuzzyDate,
    ParsedDate,
    Precision,
    parse_date_cell,
)

SAMPLES = Path(__file__).resolve().parent.parent / "chaser" / "samples" / "plymouth"
PLAN_CSV = SAMPLES / "plymouth_send_plan_2023.csv"

D = date
M, DAY, Y = Precision.MONTH, Precision.DAY, Precision.YEAR


def _plan_rows() -> list[dict[str, str]]:
    with PLAN_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------
# FuzzyDate


def test_it_shows_a_month_as_short_month_and_year_and_means_the_end_of_it_as_the_deadline() -> None:
    dec = FuzzyDate.month_of(2023, 12)
    assert (dec.first_day, dec.last_day, dec.display, str(dec)) == (
        D(2023, 12, 1),
        D(2023, 12, 31),
        "Dec 2023",
        "Dec 2023",
    )
    assert FuzzyDate.month_of(2024, 2).last_day == D(2024, 2, 29)


def test_it_shows_a_day_with_its_day_number_and_a_year_alone_as_the_year() -> None:
    day = FuzzyDate.day_of(D(2023, 12, 5))
    assert (day.first_day, day.last_day, day.display, day.precision) == (
        D(2023, 12, 5),
        D(2023, 12, 5),
        "5 Dec 2023",
        DAY,
    )
    year = FuzzyDate.year_of(2025)
    assert (year.first_day, year.last_day, year.display) == (D(2025, 1, 1), D(2025, 12, 31), "2025")


def test_it_offers_month_and_day_constructors_on_the_class_and_keeps_the_fields() -> None:
    # Type checkers only see the fields; typed code calls month_of() and day_of().
    made: FuzzyDate = FuzzyDate.month(2023, 12)  # type: ignore[misc,operator]
    assert made == FuzzyDate.month_of(2023, 12)
    assert (made.month, made.day, made.year) == (12, None, 2023)
    day: FuzzyDate = FuzzyDate.day(D(2024, 3, 31))  # type: ignore[misc,operator]
    assert day == FuzzyDate.day_of(D(2024, 3, 31))
    assert (day.day, day.month) == (31, 3)
    assert hash(made) == hash(FuzzyDate.month_of(2023, 12))
    with pytest.raises(AttributeError):
        made.month = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("stored", "precision", "end", "display"),
    [
        (D(2023, 12, 31), "month", True, "Dec 2023"),
        (D(2023, 8, 1), "month", False, "Aug 2023"),
        (D(2024, 3, 31), "day", True, "31 Mar 2024"),
        (D(2025, 12, 31), Precision.YEAR, True, "2025"),
    ],
)
def test_it_rebuilds_a_stored_date_for_display(
    stored: date, precision: str, end: bool, display: str
) -> None:
    rebuilt = FuzzyDate.from_stored(stored, precision, end=end)
    assert rebuilt.display == display
    assert (rebuilt.last_day if end else rebuilt.first_day) == stored


def test_it_refuses_impossible_dates() -> None:
    with pytest.raises(ValueError):
        FuzzyDate(2024, 2, 30, DAY)
    with pytest.raises(ValueError):
        FuzzyDate(2024, 13, None, M)
    with pytest.raises(ValueError):
        FuzzyDate(2024, 3, 5, M)


# --------------------------------------------------------------------------------------------
# One date per cell

SINGLE = [
    # value, first_day, last_day, precision, display, note, recurring, warning fragment
    ("August 2023", D(2023, 8, 1), D(2023, 8, 31), M, "Aug 2023", "", False, None),
    ("Feb 2024", D(2024, 2, 1), D(2024, 2, 29), M, "Feb 2024", "", False, None),
    ("february 2024", D(2024, 2, 1), D(2024, 2, 29), M, "Feb 2024", "", False, None),
    ("SEPT 2024", D(2024, 9, 1), D(2024, 9, 30), M, "Sep 2024", "", False, None),
    ("Sept. 2024", D(2024, 9, 1), D(2024, 9, 30), M, "Sep 2024", "", False, None),
    ("Sep 2024", D(2024, 9, 1), D(2024, 9, 30), M, "Sep 2024", "", False, None),
    ("Dec. 2023", D(2023, 12, 1), D(2023, 12, 31), M, "Dec 2023", "", False, None),
    ("March, 2024", D(2024, 3, 1), D(2024, 3, 31), M, "Mar 2024", "", False, None),
    ("Feb-23", D(2023, 2, 1), D(2023, 2, 28), M, "Feb 2023", "", False, None),
    ("Feb '24", D(2024, 2, 1), D(2024, 2, 29), M, "Feb 2024", "", False, None),
    ("Feb ’24", D(2024, 2, 1), D(2024, 2, 29), M, "Feb 2024", "", False, None),
    ("Feb 24", D(2024, 2, 1), D(2024, 2, 29), M, "Feb 2024", "", False, "day 24 of February"),
    ("feb-24", D(2024, 2, 1), D(2024, 2, 29), M, "Feb 2024", "", False, None),
    ("Feb 95", D(2095, 2, 1), D(2095, 2, 28), M, "Feb 2095", "", False, "looks unlikely"),
    ("24-Apr", D(2024, 4, 1), D(2024, 4, 30), M, "Apr 2024", "", False, "'Apr-24'"),
    ("Febuary 2024", D(2024, 2, 1), D(2024, 2, 29), M, "Feb 2024", "", False, "February"),
    ("end of March 2024", D(2024, 3, 1), D(2024, 3, 31), M, "Mar 2024", "", False, None),
    ("By the end of March 2024", D(2024, 3, 1), D(2024, 3, 31), M, "Mar 2024", "", False, None),
    ("by June 2024", D(2024, 6, 1), D(2024, 6, 30), M, "Jun 2024", "", False, None),
    (
        "April 2024 (Reviewed annually)",
        D(2024, 4, 1),
        D(2024, 4, 30),
        M,
        "Apr 2024",
        "Reviewed annually",
        True,
        None,
    ),
    ("Review August 2024", D(2024, 8, 1), D(2024, 8, 31), M, "Aug 2024", "Review", False, None),
    (
        "June 2024 (at full staffing complement)",
        D(2024, 6, 1),
        D(2024, 6, 30),
        M,
        "Jun 2024",
        "at full staffing complement",
        False,
        None,
    ),
    (
        "March 2024 (at full staffing complement)",
        D(2024, 3, 1),
        D(2024, 3, 31),
        M,
        "Mar 2024",
        "at full staffing complement",
        False,
        None,
    ),
    (
        "December 2023 (for first dissemination half termly thereafter).",
        D(2023, 12, 1),
        D(2023, 12, 31),
        M,
        "Dec 2023",
        "for first dissemination half termly thereafter",
        True,
        None,
    ),
    (
        "July 2024 Continued shared item for PBWG\nSept/Oct annually.",
        D(2024, 7, 1),
        D(2024, 7, 31),
        M,
        "Jul 2024",
        "Continued shared item for PBWG; Sept/Oct annually",
        True,
        None,
    ),
    ("March 2024 TBC", D(2024, 3, 1), D(2024, 3, 31), M, "Mar 2024", "TBC", False, None),
    (
        "Complete by March 2024",
        D(2024, 3, 1),
        D(2024, 3, 31),
        M,
        "Mar 2024",
        "Complete",
        False,
        None,
    ),
    (
        "March 2024, then monthly",
        D(2024, 3, 1),
        D(2024, 3, 31),
        M,
        "Mar 2024",
        "then monthly",
        True,
        None,
    ),
    # days
    ("2024-03-31", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("2024-03-31 00:00:00", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("31/03/2024", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("31.03.24", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("31-03-2024", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("31 March 2024", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("31st March 2024", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("1st of April 2024", D(2024, 4, 1), D(2024, 4, 1), DAY, "1 Apr 2024", "", False, None),
    (
        "25 th of September 2024",
        D(2024, 9, 25),
        D(2024, 9, 25),
        DAY,
        "25 Sep 2024",
        "",
        False,
        None,
    ),
    ("31-Mar-24", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("March 31, 2024", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    ("1/5/2026", D(2026, 5, 1), D(2026, 5, 1), DAY, "1 May 2026", "", False, "day first"),
    ("5/31/2026", D(2026, 5, 31), D(2026, 5, 31), DAY, "31 May 2026", "", False, "US order"),
    ("45170", D(2023, 9, 1), D(2023, 9, 1), DAY, "1 Sep 2023", "", False, None),
    ("45382.0", D(2024, 3, 31), D(2024, 3, 31), DAY, "31 Mar 2024", "", False, None),
    # quarters, terms, years
    ("Q1 2024", D(2024, 3, 1), D(2024, 3, 31), M, "Mar 2024", "", False, "calendar quarter"),
    ("Q4 2024", D(2024, 12, 1), D(2024, 12, 31), M, "Dec 2024", "", False, "calendar quarter"),
    ("Q1 2024/25", D(2024, 6, 1), D(2024, 6, 30), M, "Jun 2024", "", False, None),
    ("Q4 2024/25", D(2025, 3, 1), D(2025, 3, 31), M, "Mar 2025", "", False, None),
    ("Spring term 2024", D(2024, 3, 1), D(2024, 3, 31), M, "Mar 2024", "", False, None),
    ("Summer term 2025", D(2025, 7, 1), D(2025, 7, 31), M, "Jul 2025", "", False, None),
    ("autumn 2024", D(2024, 12, 1), D(2024, 12, 31), M, "Dec 2024", "", False, None),
    ("2025", D(2025, 1, 1), D(2025, 12, 31), Y, "2025", "", False, None),
]


@pytest.mark.parametrize(
    ("value", "first", "last", "precision", "display", "note", "recurring", "warning"),
    SINGLE,
    ids=[row[0] for row in SINGLE],
)
def test_it_reads_a_single_date_the_way_the_council_wrote_it(
    value: str,
    first: date,
    last: date,
    precision: Precision,
    display: str,
    note: str,
    recurring: bool,
    warning: str | None,
) -> None:
    parsed = parse_date_cell(value)
    assert parsed.kind == "date", parsed
    assert parsed.date is not None
    assert (parsed.date.first_day, parsed.date.last_day) == (first, last)
    assert parsed.date.precision is precision
    assert parsed.date.display == display
    assert parsed.note == note
    assert parsed.recurring is recurring
    assert parsed.parts == ()
    assert parsed.problem is None
    assert parsed.raw == value
    if warning is None:
        assert parsed.warnings == ()
    else:
        assert any(warning in w for w in parsed.warnings), parsed.warnings


@pytest.mark.parametrize(
    ("value", "start", "due", "warning"),
    [
        ("Jan 2024-Sept 2026", "Jan 2024", "Sep 2026", None),
        ("Jan 2024 – Sept 2026", "Jan 2024", "Sep 2026", None),
        ("January to July 2024", "Jan 2024", "Jul 2024", None),
        ("Sept/Oct 2024", "Sep 2024", "Oct 2024", None),
        ("September to July 2024", "Sep 2023", "Jul 2024", "September 2023 to July 2024"),
        ("2024/25", "2024", "2025", "the years 2024 to 2025"),
    ],
)
def test_it_reads_a_range_as_due_at_its_end_with_a_start(
    value: str, start: str, due: str, warning: str | None
) -> None:
    parsed = parse_date_cell(value)
    assert parsed.kind == "date"
    assert parsed.date is not None and parsed.start is not None
    assert (parsed.start.display, parsed.date.display) == (start, due)
    if warning:
        assert any(warning in w for w in parsed.warnings), parsed.warnings
    else:
        assert parsed.warnings == ()


def test_it_keeps_a_range_qualifier_as_the_note() -> None:
    parsed = parse_date_cell("January to July 2024 (Programme roll out)")
    assert parsed.kind == "date"
    assert parsed.start == FuzzyDate.month_of(2024, 1)
    assert parsed.date == FuzzyDate.month_of(2024, 7)
    assert parsed.note == "Programme roll out"


# --------------------------------------------------------------------------------------------
# Several dated parts


def _parts(parsed: ParsedDate) -> list[tuple[str, str, str | None]]:
    return [(p.label, p.due.display, p.start.display if p.start else None) for p in parsed.parts]


PARTS = [
    (
        "1) April 2024\n2) December 2023\n3) December 2023",
        [("1", "Apr 2024", None), ("2", "Dec 2023", None), ("3", "Dec 2023", None)],
        "Apr 2024",
        "",
    ),
    (
        "1) April 2024 2) December 2023 3) December 2023",
        [("1", "Apr 2024", None), ("2", "Dec 2023", None), ("3", "Dec 2023", None)],
        "Apr 2024",
        "",
    ),
    (
        "1) January 2024\n2) September 2023\n3) September 2023",
        [("1", "Jan 2024", None), ("2", "Sep 2023", None), ("3", "Sep 2023", None)],
        "Jan 2024",
        "",
    ),
    (
        "a) March 2024\nb) Policy June 2024",
        [("a", "Mar 2024", None), ("b) Policy", "Jun 2024", None)],
        "Jun 2024",
        "",
    ),
    (
        "Developed by February 2024 Disseminated and training has occurred by June 2024",
        [
            ("Developed", "Feb 2024", None),
            ("Disseminated and training has occurred", "Jun 2024", None),
        ],
        "Jun 2024",
        "",
    ),
    (
        "December 2023 (for statement to be developed). February 2024 (for confirming commitment).",
        [
            ("for statement to be developed", "Dec 2023", None),
            ("for confirming commitment", "Feb 2024", None),
        ],
        "Feb 2024",
        "",
    ),
    (
        "Publication November 2023; Implementation Jan 2024-Sept 2026.",
        [("Publication", "Nov 2023", None), ("Implementation", "Sep 2026", "Jan 2024")],
        "Sep 2026",
        "",
    ),
    (
        "March 2025 Report April 2024.",
        [("", "Mar 2025", None), ("Report", "Apr 2024", None)],
        "Mar 2025",
        "",
    ),
    (
        "December 2023 (for programme to be developed). January to July 2024 (Programme roll out)",
        [
            ("for programme to be developed", "Dec 2023", None),
            ("Programme roll out", "Jul 2024", "Jan 2024"),
        ],
        "Jul 2024",
        "",
    ),
    (
        "October 2023 for current version. April 2024 for revised version",
        [("for current version", "Oct 2023", None), ("for revised version", "Apr 2024", None)],
        "Apr 2024",
        "",
    ),
    (
        "Process and expected use confirmed March 2024.\nImplementation reviewed December 2024.",
        [
            ("Process and expected use confirmed", "Mar 2024", None),
            ("Implementation reviewed", "Dec 2024", None),
        ],
        "Dec 2024",
        "",
    ),
    (
        "Policy March 2024; Training 31/05/2024.\nSee the action log",
        [("Policy", "Mar 2024", None), ("Training", "31 May 2024", None)],
        "31 May 2024",
        "See the action log",
    ),
]


@pytest.mark.parametrize(("value", "parts", "overall", "note"), PARTS, ids=[p[0] for p in PARTS])
def test_it_splits_a_cell_with_several_dates_into_labelled_parts_due_at_the_latest(
    value: str, parts: list[tuple[str, str, str | None]], overall: str, note: str
) -> None:
    parsed = parse_date_cell(value)
    assert parsed.kind == "parts", parsed
    assert _parts(parsed) == parts
    assert parsed.date is not None and parsed.date.display == overall
    assert parsed.note == note
    assert parsed.start is None
    assert parsed.problem is None


def test_it_keeps_the_raw_fragment_of_each_part() -> None:
    parsed = parse_date_cell(
        "Developed by February 2024 Disseminated and training has occurred by June 2024"
    )
    assert [p.text for p in parsed.parts] == [
        "Developed by February 2024",
        "Disseminated and training has occurred by June 2024",
    ]
    numbered = parse_date_cell("1) April 2024\n2) December 2023")
    assert [p.text for p in numbered.parts] == ["April 2024", "December 2023"]


def test_it_gives_the_earliest_date_of_a_start_cell_with_parts() -> None:
    parsed = parse_date_cell("1) January 2024\n2) September 2023\n3) September 2023")
    assert parsed.earliest == FuzzyDate.month_of(2023, 9)
    assert parse_date_cell("Jan 2024-Sept 2026").earliest == FuzzyDate.month_of(2024, 1)
    assert parse_date_cell("TBC").earliest is None


def test_it_warns_about_a_numbered_item_without_a_date() -> None:
    parsed = parse_date_cell("1) TBC\n2) March 2024\n3) June 2024")
    assert parsed.kind == "parts"
    assert _parts(parsed) == [("2", "Mar 2024", None), ("3", "Jun 2024", None)]
    assert parsed.note == "1) TBC"
    assert any("item 1 has no date" in w for w in parsed.warnings)


# --------------------------------------------------------------------------------------------
# Statuses, empty cells and gibberish


@pytest.mark.parametrize(
    ("value", "kind", "note"),
    [
        ("TBC", "tbc", "TBC"),
        ("tbc.", "tbc", "tbc"),
        ("TBA", "tbc", "TBA"),
        ("To be confirmed", "tbc", "To be confirmed"),
        ("Ongoing", "tbc", "Ongoing"),
        ("TBC (awaiting funding decision)", "tbc", "TBC; awaiting funding decision"),
        ("Completed", "completed", ""),
        ("completed", "completed", ""),
        ("COMPLETE", "completed", ""),
        ("Complete.", "completed", ""),
        ("Done", "completed", ""),
        ("Completed March 2024", "completed", "March 2024"),
        ("", "empty", ""),
        ("   ", "empty", ""),
        ("-", "empty", ""),
    ],
)
def test_it_reads_statuses_and_empty_cells_without_a_date(value: str, kind: str, note: str) -> None:
    parsed = parse_date_cell(value)
    assert (parsed.kind, parsed.note, parsed.date, parsed.parts, parsed.problem) == (
        kind,
        note,
        None,
        (),
        None,
    )


def test_it_reads_a_missing_cell_as_empty() -> None:
    parsed = parse_date_cell(None)
    assert (parsed.kind, parsed.raw, parsed.date) == ("empty", "", None)
    assert parse_date_cell(float("nan")).kind == "empty"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("next year-ish", "'next year' is relative"),
        ("Q5 2024", "'Q5 2024' is not a quarter"),
        ("31/02/2024", "'31/02/2024' is not a real date: February 2024 has 29 days"),
        ("31 February 2024", "is not a real date"),
        ("Sept/Oct annually", "found the month 'Sept' but no year"),
        ("March 15th", "found the month 'March' but no year"),
        ("when the funding lands", "no date found in 'when the funding lands'"),
        ("13/13/2024", "there is no month 13"),
    ],
)
def test_it_says_what_was_wrong_with_an_unreadable_cell(value: str, problem: str) -> None:
    parsed = parse_date_cell(value)
    assert parsed.kind == "unreadable"
    assert parsed.problem is not None and problem in parsed.problem
    assert parsed.date is None and parsed.parts == ()
    assert not parsed.readable


def test_it_tells_the_admin_what_a_readable_cell_looks_like() -> None:
    parsed = parse_date_cell("whenever")
    assert parsed.problem is not None and parsed.problem.endswith(EXPECTED)
    assert "'March 2024'" in EXPECTED and "'31/03/2024'" in EXPECTED


def test_it_keeps_a_readable_date_next_to_an_impossible_one_with_a_warning() -> None:
    parsed = parse_date_cell("March 2024 (was 31/02/2024)")
    assert parsed.kind == "date"
    assert parsed.date == FuzzyDate.month_of(2024, 3)
    assert any("31/02/2024" in w for w in parsed.warnings)


# --------------------------------------------------------------------------------------------
# Spreadsheet values


@pytest.mark.parametrize(
    ("value", "number_format", "display", "precision"),
    [
        (datetime(2023, 2, 1), "mmm-yy", "Feb 2023", M),
        (datetime(2023, 2, 1), "mmm-yyyy", "Feb 2023", M),
        (datetime(2023, 8, 1), "mmmm yyyy", "Aug 2023", M),
        (datetime(2023, 8, 1), "[$-809]mmmm\\ yyyy;@", "Aug 2023", M),
        (datetime(2024, 3, 31), "dd/mm/yyyy", "31 Mar 2024", DAY),
        (datetime(2024, 3, 31, 14, 30), "dd/mm/yyyy hh:mm", "31 Mar 2024", DAY),
        (date(2024, 3, 31), "General", "31 Mar 2024", DAY),
        (date(2024, 3, 31), None, "31 Mar 2024", DAY),
        (datetime(2024, 3, 31), "yyyy", "2024", Y),
    ],
)
def test_it_takes_a_real_date_cells_precision_from_its_number_format(
    value: date, number_format: str | None, display: str, precision: Precision
) -> None:
    parsed = parse_date_cell(value, number_format=number_format)
    assert parsed.kind == "date"
    assert parsed.date is not None
    assert (parsed.date.display, parsed.date.precision) == (display, precision)
    assert parsed.warnings == ()
    assert parsed.raw == str(value)


@pytest.mark.parametrize("number_format", ["d-mmm", "dd-mmm", "d mmm"])
def test_it_reads_excels_mangled_apr_24_as_april_2024_with_a_warning(number_format: str) -> None:
    # A typed "Apr-24" becomes 24 April of the year it was typed in, shown as "24-Apr".
    parsed = parse_date_cell(datetime(2025, 4, 24), number_format=number_format)
    assert parsed.kind == "date"
    assert parsed.date == FuzzyDate.month_of(2024, 4)
    assert parsed.date.display == "Apr 2024"
    assert len(parsed.warnings) == 1
    assert "'24-Apr'" in parsed.warnings[0] and "April 2024" in parsed.warnings[0]


@pytest.mark.parametrize("serial", [45170, 45170.0, 45382, 45382.75, 36526])
def test_it_reads_excel_serial_numbers_like_openpyxl_does(serial: float) -> None:
    parsed = parse_date_cell(serial)
    expected = from_excel(serial)
    assert parsed.kind == "date"
    assert parsed.date is not None and parsed.date.precision is DAY
    assert parsed.date.first_day == expected.date()
    assert parse_date_cell(str(serial)).date == parsed.date


def test_it_reads_a_whole_number_that_is_a_year_as_that_year() -> None:
    parsed = parse_date_cell(2025)
    assert parsed.date == FuzzyDate.year_of(2025)


@pytest.mark.parametrize("value", [12, 3.5, True, -1])
def test_it_refuses_numbers_that_cannot_be_dates(value: object) -> None:
    parsed = parse_date_cell(value)
    assert parsed.kind == "unreadable"
    assert parsed.problem


# --------------------------------------------------------------------------------------------
# The Plymouth plan


def test_it_reads_every_date_in_the_plymouth_plan() -> None:
    rows = _plan_rows()
    values = {row[col] for row in rows for col in ("Start Date", "Completion date")}
    assert len(values) > 30
    for value in sorted(values):
        parsed = parse_date_cell(value)
        assert parsed.kind in ("date", "parts", "completed"), (value, parsed)
        assert parsed.problem is None
        if parsed.kind != "completed":
            assert parsed.date is not None


def test_it_reads_the_plymouth_start_dates_that_began_before_the_plan() -> None:
    starts = {row["Ref"]: parse_date_cell(row["Start Date"]) for row in _plan_rows()}
    assert starts["7.5"].date == FuzzyDate.month_of(2023, 3)
    assert starts["7.6"].date == FuzzyDate.month_of(2023, 1)


def test_it_pairs_numbered_start_and_due_parts_by_label() -> None:
    start = parse_date_cell("1) January 2024\n2) September 2023\n3) September 2023")
    due = parse_date_cell("1) April 2024\n2) December 2023\n3) December 2023")
    assert [p.label for p in start.parts] == [p.label for p in due.parts] == ["1", "2", "3"]
    spans = [(s.due.first_day, d.due.last_day) for s, d in zip(start.parts, due.parts, strict=True)]
    assert spans == [
        (D(2024, 1, 1), D(2024, 4, 30)),
        (D(2023, 9, 1), D(2023, 12, 31)),
        (D(2023, 9, 1), D(2023, 12, 31)),
    ]


def test_it_reads_the_same_cell_the_same_way_every_time() -> None:
    first = parse_date_cell("Publication November 2023; Implementation Jan 2024-Sept 2026.")
    again = parse_date_cell("Publication November 2023; Implementation Jan 2024-Sept 2026.")
    assert first == again
