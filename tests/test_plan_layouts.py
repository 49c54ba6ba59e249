"""Areas in every form councils write them, and the two shipped layouts besides Plymouth's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import ImportOutcome, choose_mapping, import_people, import_plan
from integrations.spreadsheets import read_grid
from tests.conftest import MAPPING, NOW, ROOT
from tests.plan_builders import SMALL_MAPPING, write_mapping, write_workbook
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import scope_of
from workflows.plan.leads import DirectoryEntry
from workflows.plan.mapping import MappingError, load_mapping
from workflows.plan.reading import ParsedPlan, read_area_heading, read_plan
from workflows.store.models import Action, Area

SOUTHEND = ROOT / "chaser" / "samples" / "southend"
TORBAY = ROOT / "chaser" / "samples" / "torbay"
SOUTHEND_MAPPING = ROOT / "config" / "mappings" / "southend.yaml"
TORBAY_MAPPING = ROOT / "config" / "mappings" / "torbay.yaml"
AP = (DirectoryEntry("AP", "Aisha Pendleford", "Head of SEND"),)


@pytest.mark.parametrize(
    ("cell", "number", "title"),
    [
        ("PRIORITY ACTION AREA I", 1, ""),
        ("IMPROVEMENT AREA 9", 9, ""),
        ("Improvement Area 6", 6, ""),
        (
            "Priority 3: Understand the needs of our families",
            3,
            "Understand the needs of our families",
        ),
        (
            "3. To identify need early and assess it well",
            3,
            "To identify need early and assess it well",
        ),
        ("4) Embed the graduated response", 4, "Embed the graduated response"),
        ("Area three", 3, ""),
        ("PRIORITY TWO – Inclusion", 2, "Inclusion"),
        (
            "Working together and building trust - priority 1",
            1,
            "Working together and building trust",
        ),
        ("IV. To embed inclusion", 4, "To embed inclusion"),
        (3, 3, ""),
        (3.0, 3, ""),
        ("3", 3, ""),
    ],
)
def test_it_reads_the_area_number_and_title_of_every_heading_form(
    cell: object, number: int, title: str
) -> None:
    heading = read_area_heading(cell)
    assert heading is not None
    assert (heading.number, heading.title) == (number, title)


@pytest.mark.parametrize(
    "cell", ["To identify need early", "1.1 Leaders will", "Priority civic duty", "", None, True]
)
def test_it_finds_no_area_number_where_there_is_none(cell: object) -> None:
    assert read_area_heading(cell) is None


# -- through a mapping ---------------------------------------------------------------------------


def _read(
    tmp_path: Path, rows: Sequence[Sequence[object]], mapping: str, **kwargs: object
) -> ParsedPlan:
    book = write_workbook(tmp_path / "plan.xlsx", rows, **kwargs)  # type: ignore[arg-type]
    path = tmp_path / "m.yaml"
    path.write_text(mapping, encoding="utf-8")
    return read_plan(read_grid(book, "Plan"), load_mapping(path), AP)


def _areas(parsed: ParsedPlan) -> list[tuple[str, int | None]]:
    return [(a.ref, a.area_number) for a in parsed.actions]


def test_it_reads_priority_headings_in_the_area_column(tmp_path: Path) -> None:
    parsed = _read(
        tmp_path,
        [
            ["Priority 3: Understand the needs", None, "Map need", "Head of SEND", "May 2024"],
            [None, None, "Publish it", "Head of SEND", "June 2024"],
            ["Priority 4: Inclusion", None, "Train staff", "Head of SEND", "July 2024"],
        ],
        SMALL_MAPPING,
    )
    assert _areas(parsed) == [("P3-01", 3), ("P3-02", 3), ("P4-01", 4)]
    assert parsed.areas[3].title == "Understand the needs"
    assert parsed.warnings == []


def test_it_reads_area_numbers_in_a_column_of_their_own(tmp_path: Path) -> None:
    mapping = SMALL_MAPPING.replace("  area: Priority\n", "  area: No.\n  area_title: Priority\n")
    mapping = mapping.replace("fill_down: [area]", "fill_down: [area, area_title]")
    parsed = _read(
        tmp_path,
        [
            [
                1,
                "Priority 1: SEND is everyone's business",
                None,
                "Induction",
                "Head of SEND",
                "Q3 2024/25",
            ],
            [None, None, None, "Pledge", "Head of SEND", "Spring term 2025"],
            [
                "2",
                "Priority 2: Identify needs early",
                None,
                "Screening",
                "Head of SEND",
                "Q1 2025/26",
            ],
        ],
        mapping,
        header=["No.", "Priority", "Ref", "Action", "Lead", "Due", "RAG", "Progress"],
    )
    assert _areas(parsed) == [("P1-01", 1), ("P1-02", 1), ("P2-01", 2)]
    assert parsed.areas[1].title == "SEND is everyone's business"
    assert parsed.areas[2].title == "Identify needs early"
    assert parsed.warnings == []


def test_it_reads_area_numbers_written_as_words(tmp_path: Path) -> None:
    parsed = _read(
        tmp_path,
        [
            ["Area three", None, "Map need", "Head of SEND", "May 2024"],
            ["AREA FOUR – Inclusion", None, "Train staff", "Head of SEND", "July 2024"],
        ],
        SMALL_MAPPING,
    )
    assert _areas(parsed) == [("P3-01", 3), ("P4-01", 4)]
    assert parsed.areas[4].title == "Inclusion"


NO_AREA_COLUMN = """\
name: strategy
plan: {code: strategy}
sheet: Plan
header: {contains: [Action, Lead]}
columns: {title: Action, lead: Lead, due: Due}
status_scale: {values: [{value: Complete, meaning: complete}]}
"""
STRATEGY_HEADER = ["Action", "Lead", "Due"]


def test_it_finds_numbered_heading_rows_when_the_mapping_has_no_area_column(
    tmp_path: Path,
) -> None:
    parsed = _read(
        tmp_path,
        [
            ["1. To identify need early and assess it well"],
            ["Screen every two-year-old", "Head of SEND", "May 2024"],
            ["Publish the pathway", "Head of SEND", "June 2024"],
            ["2. To meet need in mainstream settings"],
            ["Train SENCos", "Head of SEND", "July 2024"],
        ],
        NO_AREA_COLUMN,
        header=STRATEGY_HEADER,
        merges=["A3:C3", "A6:C6"],
    )
    assert _areas(parsed) == [("P1-01", 1), ("P1-02", 1), ("P2-01", 2)]
    assert parsed.areas[1].title == "To identify need early and assess it well"
    assert parsed.warnings == []


def test_a_second_line_of_a_lead_is_not_taken_for_an_area_heading(tmp_path: Path) -> None:
    mapping = NO_AREA_COLUMN.replace(
        "header: {contains: [Action, Lead]}", "header: {contains: [Lead, Action]}"
    )
    parsed = _read(
        tmp_path,
        [
            ["Priority 1"],
            ["Head of SEND", "Screen every two-year-old", "May 2024"],
            ["2) with the Head of Education"],
        ],
        mapping,
        header=["Lead", "Action", "Due"],
    )
    assert sorted(parsed.areas) == [1]
    assert parsed.actions[0].lead_raw == "Head of SEND\n2) with the Head of Education"


def test_it_says_once_which_rows_an_unnumbered_heading_leaves_in_no_area(tmp_path: Path) -> None:
    mapping = NO_AREA_COLUMN + "area_headings: rows\n"
    parsed = _read(
        tmp_path,
        [
            ["1. To identify need early"],
            ["Screen every two-year-old", "Head of SEND", "May 2024"],
            ["To identify need early and assess it well"],
            *[[f"Action {i}", "Head of SEND", "June 2024"] for i in range(7)],
        ],
        mapping,
        header=STRATEGY_HEADER,
    )
    assert [a.area_number for a in parsed.actions] == [1] + [None] * 7
    (warning,) = parsed.warnings
    assert warning.kind == "unreadable_area"
    assert warning.message.startswith(
        "area heading has no number: rows 6–12, 'To identify need early and assess it well' "
        "(refs P0-01, P0-02, P0-03, P0-04, P0-05 and 2 more); write the number at the start, "
        "e.g. '2. To identify need early and assess it well'"
    )
    assert warning.rows == tuple(range(6, 13))


def test_it_reports_actions_above_the_first_heading_and_a_repeated_number(tmp_path: Path) -> None:
    parsed = _read(
        tmp_path,
        [
            ["Foreword actions", "Head of SEND", "May 2024"],
            ["1. To identify need early"],
            ["Screen", "Head of SEND", "May 2024"],
            ["1. To meet need well"],
            ["Train", "Head of SEND", "June 2024"],
        ],
        NO_AREA_COLUMN,
        header=STRATEGY_HEADER,
    )
    assert [a.area_number for a in parsed.actions] == [None, 1, 1]
    assert [(w.kind, w.row) for w in parsed.warnings] == [("no_area", 3), ("repeated_area", 6)]
    assert "row 3 has no area (no area heading above it" in parsed.warnings[0].message
    assert parsed.warnings[1].message.startswith(
        "area heading '1. To meet need well' (row 6) has the number 1 of the area heading "
        "'1. To identify need early' (row 4)"
    )


def test_it_says_once_with_the_fix_when_no_action_has_an_area(tmp_path: Path) -> None:
    parsed = _read(
        tmp_path,
        [
            ["To identify need early"],
            *[[f"Action {i}", "Head of SEND", "June 2024"] for i in range(30)],
            ["To meet need well"],
            *[[f"Action {i}", "Head of SEND", "June 2024"] for i in range(30, 63)],
        ],
        NO_AREA_COLUMN,
        header=STRATEGY_HEADER,
    )
    assert {a.area_number for a in parsed.actions} == {None}
    (warning,) = parsed.warnings
    assert warning.kind == "no_areas"
    assert warning.message.startswith(
        "none of the 63 actions has an area number, so every one is in area 0"
    )
    assert "no meeting's scope covers any of them" in warning.message
    assert "Rows 3, 34 hold a single cell each (row 3 'To identify need early'" in warning.message
    assert "set `area_headings: rows`" in warning.message


def test_it_says_once_when_the_area_column_has_no_numbers(tmp_path: Path) -> None:
    parsed = _read(
        tmp_path,
        [
            ["To identify need early", None, f"Action {i}", "Head of SEND", "May 2024"]
            for i in range(9)
        ],
        SMALL_MAPPING,
    )
    (warning,) = parsed.warnings
    assert warning.kind == "no_areas" and warning.column == "A" and warning.header == "Priority"
    assert "The 'Priority' column (A) holds headings without a number (row 3 'To identify" in (
        warning.message
    )


def test_it_refuses_a_mapping_with_both_heading_rows_and_an_area_column(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, SMALL_MAPPING + "area_headings: rows\n")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert "area_headings: rows" in str(err.value) and "columns.area" in str(err.value)


def test_it_refuses_an_unknown_area_headings_value(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, SMALL_MAPPING + "area_headings: headings\n")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert "area_headings" in str(err.value) and "'auto' or 'rows'" in str(err.value)


# -- the shipped samples ------------------------------------------------------------------------


def _import_sample(engine: Engine, folder: Path, mapping: Path) -> ImportOutcome:
    import_people(engine, next(folder.glob("*_people.csv")), now=NOW)
    outcome = import_plan(
        engine, next(folder.glob("*.xlsx")), mapping=load_mapping(mapping), now=NOW
    )
    assert outcome.errors == []
    return outcome


SOUTHEND_TITLES = {
    1: "To develop an effective approach to jointly plan and commission the services that\n"
    "meet the needs of those that have SEND",
    2: "To assess and meet children and young people’s social care needs in conjunction with EHC "
    "needs assessments and plans",
    3: "To involve children, young people and their families in the meaningful, effective "
    "co-production of the services, resources and support they need",
    4: "To develop a shared understanding by local area leaders of the needs of these children "
    "and young people and their education, care and health outcomes",
    5: "To strengthen the assessment of the effectiveness of the local area in improving "
    "outcomes for children and young people",
}


def test_it_imports_the_southend_plan_with_no_refs_into_its_five_areas(engine: Engine) -> None:
    outcome = _import_sample(engine, SOUTHEND, SOUTHEND_MAPPING)
    assert outcome.actions == 20
    with Session(engine) as s:
        areas = {a.id: a for a in s.exec(select(Area))}
        actions = list(s.exec(select(Action).order_by(Action.position)))  # type: ignore[arg-type]
    assert {a.number: a.title for a in areas.values()} == SOUTHEND_TITLES
    numbers = [areas[a.area_id].number for a in actions if a.area_id is not None]
    assert len(numbers) == 20 and sorted(set(numbers)) == [1, 2, 3, 4, 5]
    assert [a.ref for a in actions][:6] == ["A1.1", "A1.2", "A1.3", "A1.4", "A1.5", "A2.1"]
    assert all(a.ref_generated for a in actions)
    # the four-phrase scale, however the cells spell it
    assert {a.status_label for a in actions} == {
        "Complete",
        "In progress – on track",
        "In progress – some concerns",
        "Not started",
    }
    # a progress note that ran onto the next line joined its action
    first_social_care = next(a for a in actions if a.ref == "A2.1")
    assert first_social_care.progress == "78% in June\nJuly: 81%, improving"
    # every warning once, each naming its row
    kinds = sorted(w.kind for w in outcome.warnings)
    assert kinds == [
        "ambiguous_lead",
        "due_before_start",
        "no_due_date",
        "no_due_date",
        "unreadable_date",
        "unresolved_lead",
    ]


def test_every_southend_action_with_a_lead_is_in_the_boards_scope() -> None:
    parsed = read_plan(
        read_grid(SOUTHEND / "southend_wsoa_2019.xlsx", "WSoA Action Plan"),
        load_mapping(SOUTHEND_MAPPING),
        _directory(SOUTHEND / "southend_people.csv"),
    )
    board = scope_of(load_cycles(SOUTHEND / "config" / "cycles.yaml"), "SPB")
    assert all(board.covers(area=a.area_number) for a in parsed.actions)
    assert sum(a.accountable is not None for a in parsed.actions) == 18


def test_it_finds_the_southend_headings_by_itself_without_area_headings(tmp_path: Path) -> None:
    text = SOUTHEND_MAPPING.read_text(encoding="utf-8").replace("area_headings: rows\n", "")
    assert "area_headings" not in text
    path = tmp_path / "southend.yaml"
    path.write_text(text, encoding="utf-8")
    parsed = read_plan(
        read_grid(SOUTHEND / "southend_wsoa_2019.xlsx", "WSoA Action Plan"), load_mapping(path), ()
    )
    assert sorted(parsed.areas) == [1, 2, 3, 4, 5]
    assert all(a.area_number is not None for a in parsed.actions)


def test_it_imports_the_torbay_plan_with_numbers_quarters_terms_and_job_titles(
    engine: Engine,
) -> None:
    outcome = _import_sample(engine, TORBAY, TORBAY_MAPPING)
    assert outcome.actions == 16
    with Session(engine) as s:
        areas = {a.id: a for a in s.exec(select(Area))}
        actions = {a.ref: a for a in s.exec(select(Action))}
    assert {a.number for a in areas.values()} == {1, 2, 3, 4, 5}  # "4" was typed as text
    assert {a.number: a.title for a in areas.values()}[5] == (
        "Improve transition planning for young people moving into adulthood"
    )
    assert str(actions["1.1"].baseline_due) == "2024-12-31"  # Q3 2024/25
    assert str(actions["1.2"].baseline_due) == "2025-03-31"  # Spring term 2025
    assert [r for r in actions if r.startswith("P5")] == ["P5.1", "P5.2", "P5.3"]
    assert areas[actions["P5.1"].area_id].number == 5
    by_kind = {w.kind: w for w in outcome.warnings}
    # job titles however they are written; the one two people hold is named, once
    ambiguous = by_kind["ambiguous_lead"]
    assert ambiguous.rows == (9, 18) and "DK (Demelza Kitto" in ambiguous.message
    assert "DO (Dunstan Ottery" in ambiguous.message
    assert "unresolved_lead" not in by_kind
    assert sorted(by_kind) == ["ambiguous_lead", "date_read_as", "no_due_date", "numeric_ref"]


def _directory(path: Path) -> tuple[DirectoryEntry, ...]:
    import csv

    from workflows.plan.leads import directory_from_rows

    with path.open(encoding="utf-8", newline="") as f:
        return directory_from_rows(csv.DictReader(f))


# -- choosing a mapping among several ---------------------------------------------------------


def test_the_shipped_configuration_still_picks_plymouths_mapping_by_itself() -> None:
    assert len(list((ROOT / "config" / "mappings").glob("*.yaml"))) >= 3
    assert choose_mapping(ROOT / "config", None).name == "plymouth"
    chosen = choose_mapping(ROOT / "config", None, plan_code="torbay-send-strategy-2024")
    assert chosen.name == "torbay"


def test_it_lists_the_mappings_when_it_cannot_tell_which_is_meant(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    for path in (MAPPING, SOUTHEND_MAPPING):
        (tmp_path / "mappings" / path.name).write_text(path.read_text(encoding="utf-8"))
    with pytest.raises(MappingError) as err:
        choose_mapping(tmp_path, None)
    message = str(err.value)
    assert "several mappings (plymouth.yaml, southend.yaml); choose one with --mapping" in message
    assert "southend.yaml for plan southend-send-wsoa-2019" in message
    (tmp_path / "chasing.yaml").write_text("plan: southend-send-wsoa-2019\n", encoding="utf-8")
    assert choose_mapping(tmp_path, None).name == "southend"
