"""The validation report: every cell that cannot be understood, located; bad files refused whole."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import ImportOutcome, import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX
from tests.plan_builders import write_mapping, write_workbook
from workflows.plan.mapping import MappingError, load_mapping
from workflows.store.models import Action, Milestone, Plan


def _run(
    engine: Engine, tmp_path: Path, rows: list[list[object]], **kwargs: object
) -> ImportOutcome:
    import_people(engine, PEOPLE_CSV, now=NOW)
    book = write_workbook(tmp_path / "plan.xlsx", rows, **kwargs)  # type: ignore[arg-type]
    return import_plan(engine, book, mapping=load_mapping(write_mapping(tmp_path)), now=NOW)


def _kinds(outcome: ImportOutcome) -> list[tuple[str, int | None, str, str]]:
    return [(w.kind, w.row, w.column, w.ref) for w in outcome.warnings]


def test_it_reports_each_unreadable_cell_with_sheet_row_column_value_and_expectation(
    engine: Engine, tmp_path: Path
) -> None:
    outcome = _run(
        engine,
        tmp_path,
        [
            [
                "Priority 1",
                "1.1",
                "Write the strategy",
                "Head of SEND (AP)",
                "next year-ish",
                "Amber",
            ],
            [None, "1.2", "Publish the offer", "Head of Nowhere (QQ)", "TBC", "Purple"],
            [None, 1.3, "Train staff", "Head of SEND (AP)", "March 2024", "Red"],
        ],
    )
    assert outcome.errors == []
    assert outcome.actions == 3
    assert _kinds(outcome) == [
        ("unreadable_date", 3, "E", "1.1"),
        ("unresolved_lead", 4, "D", "1.2"),
        ("unknown_status", 4, "F", "1.2"),
        ("no_due_date", 4, "E", "1.2"),
        ("numeric_ref", 5, "B", "1.3"),
    ]
    bad_date = outcome.warnings[0]
    assert (
        bad_date.sheet == "Plan" and bad_date.header == "Due" and bad_date.value == "next year-ish"
    )
    assert "March 2024" in bad_date.expected
    assert "'Head of Nowhere (QQ)'" in outcome.warnings[1].message
    assert outcome.warnings[2].expected == "one of Blue, Green, Amber, Red"
    assert "format the Ref column as Text" in outcome.warnings[4].message
    # the actions are still imported with what could be read
    with Session(engine) as s:
        a11 = s.exec(select(Action).where(Action.ref == "1.1")).one()
    assert (a11.due_kind, a11.baseline_due, a11.status_label) == ("unreadable", None, "Amber")


def test_it_reads_title_rows_merged_cells_continuations_and_html_remnants(
    engine: Engine, tmp_path: Path
) -> None:
    outcome = _run(
        engine,
        tmp_path,
        [
            ["PRIORITY IV", "4.1", "Set up the<br>panel", "Head of SEND (AP)", "Feb-24", "Green"],
            [
                "PRIORITY IV",
                "4.2",
                "Review the <p>waiting &amp; lists</p>",
                "Head of SEND (AP)",
                "May 2024",
            ],
            [None, None, None, None, None, None, "…continued after the page break."],
            ["Priority 5", "5.1", "Audit plans", "Head of Education (JB)", "June 2024"],
            [None, "5.2", "Audit more", "Head of Education (JB)", "July 2024"],
        ],
        title_rows=3,
        merges=["A5:A6"],
    )
    assert outcome.errors == [] and outcome.warnings == []
    assert outcome.actions == 4
    with Session(engine) as s:
        actions = {a.ref: a for a in s.exec(select(Action))}
    assert actions["4.1"].title == "Set up the\npanel"
    assert actions["4.1"].baseline_due == date(2024, 2, 29)
    assert actions["4.1"].status == "complete"
    assert actions["4.2"].title == "Review the\nwaiting & lists"
    assert actions["4.2"].progress == "…continued after the page break."
    assert actions["4.2"].raw_cells["Progress"] == "…continued after the page break."
    assert actions["4.2"].area_id == actions["4.1"].area_id
    assert actions["5.2"].area_id == actions["5.1"].area_id != actions["4.1"].area_id


def test_it_reads_real_excel_dates_by_their_number_format(engine: Engine, tmp_path: Path) -> None:
    outcome = _run(
        engine,
        tmp_path,
        [
            ["Priority 1", "1.1", "Month formatted", "Head of SEND (AP)", datetime(2023, 2, 1)],
            ["Priority 1", "1.2", "Mangled Apr-24", "Head of SEND (AP)", datetime(2023, 4, 24)],
            ["Priority 1", "1.3", "A real day", "Head of SEND (AP)", datetime(2024, 3, 15)],
        ],
        number_formats={"E3": "mmm-yy", "E4": "d-mmm", "E5": "dd/mm/yyyy"},
    )
    assert outcome.errors == []
    with Session(engine) as s:
        got = {a.ref: (a.baseline_due, a.baseline_due_precision) for a in s.exec(select(Action))}
    assert got == {
        "1.1": (date(2023, 2, 28), "month"),
        "1.2": (date(2024, 4, 30), "month"),
        "1.3": (date(2024, 3, 15), "day"),
    }
    assert [(w.kind, w.ref) for w in outcome.warnings] == [("date_read_as", "1.2")]


def test_it_generates_refs_for_a_plan_that_numbers_nothing(engine: Engine, tmp_path: Path) -> None:
    outcome = _run(
        engine,
        tmp_path,
        [
            ["Priority 3", None, "First thing", "Head of SEND (AP)", "May 2024"],
            [None, None, "Second thing", "Head of SEND (AP)", "June 2024"],
            ["Priority 4", None, "Third thing", "Head of SEND (AP)", "June 2024"],
        ],
    )
    assert outcome.warnings == []
    with Session(engine) as s:
        refs = [
            (a.ref, a.ref_generated, a.title)
            for a in s.exec(select(Action).order_by(Action.position))
        ]  # type: ignore[arg-type]
    assert refs == [
        ("P3-01", True, "First thing"),
        ("P3-02", True, "Second thing"),
        ("P4-01", True, "Third thing"),
    ]


def test_it_resolves_a_lead_known_only_by_role_title(engine: Engine, tmp_path: Path) -> None:
    outcome = _run(
        engine,
        tmp_path,
        [["Priority 1", "1.1", "Skills offer", "Head of Skills and Post 16", "May 2024"]],
    )
    assert outcome.warnings == []
    with Session(engine) as s:
        action = s.exec(select(Action)).one()
    assert action.accountable_id is not None
    with Session(engine) as s:
        from workflows.store.models import Person

        assert s.get(Person, action.accountable_id).code == "TB"  # type: ignore[union-attr]


def test_it_flags_a_duplicate_ref_and_keeps_both_actions(engine: Engine, tmp_path: Path) -> None:
    outcome = _run(
        engine,
        tmp_path,
        [
            ["Priority 1", "1.1", "One", "Head of SEND (AP)", "May 2024"],
            ["Priority 1", "1.1", "Two", "Head of SEND (AP)", "May 2024"],
        ],
    )
    assert [(w.kind, w.ref) for w in outcome.warnings] == [("duplicate_ref", "1.1-2")]
    assert outcome.actions == 2


def test_it_makes_milestones_of_numbered_parts(engine: Engine, tmp_path: Path) -> None:
    _run(
        engine,
        tmp_path,
        [
            [
                "Priority 1",
                "1.1",
                "Three things",
                "Head of SEND (AP)",
                "1) April 2024 2) December 2023 3) December 2023",
            ]
        ],
    )
    with Session(engine) as s:
        ms = s.exec(select(Milestone).order_by(Milestone.position)).all()  # type: ignore[arg-type]
    assert [(m.label, m.baseline_due) for m in ms] == [
        ("1", date(2024, 4, 30)),
        ("2", date(2023, 12, 31)),
        ("3", date(2023, 12, 31)),
    ]


# -- files that are not plans: one line naming the fix, and nothing imported ----------------


def _refused(engine: Engine, path: Path, mapping: Path = MAPPING) -> str:
    outcome = import_plan(engine, path, mapping=load_mapping(mapping), now=NOW)
    assert outcome.merge is None and outcome.actions == 0
    assert len(outcome.errors) == 1
    with Session(engine) as s:
        assert s.exec(select(Plan)).all() == [] and s.exec(select(Action)).all() == []
    return outcome.errors[0].message


def test_it_refuses_a_workbook_in_another_layout(engine: Engine, tmp_path: Path) -> None:
    book = write_workbook(
        tmp_path / "other.xlsx", [["x", "y"]], header=["Name", "Budget"], sheet="Action Plan"
    )
    message = _refused(engine, book)
    assert "not in the 'plymouth' layout" in message and "--mapping" in message


def test_it_names_a_mapped_column_missing_from_the_header(engine: Engine, tmp_path: Path) -> None:
    book = write_workbook(
        tmp_path / "cut.xlsx",
        [["Priority 1", "1.1", "Thing", "Head of SEND (AP)", "May 2024"]],
        header=["Priority", "Ref", "Action", "Lead", "Due", "Progress"],
    )
    message = _refused(engine, book, write_mapping(tmp_path))
    assert "'RAG' (field `status`) is not in the header row 2" in message
    assert "fix columns.status in the mapping" in message


def test_it_refuses_a_header_with_no_actions_below(engine: Engine, tmp_path: Path) -> None:
    book = write_workbook(tmp_path / "bare.xlsx", [])
    assert "no actions below it" in _refused(engine, book, write_mapping(tmp_path))


def test_it_refuses_an_empty_sheet(engine: Engine, tmp_path: Path) -> None:
    book = write_workbook(tmp_path / "empty.xlsx", [], title_rows=0, header=[])
    assert "is empty" in _refused(engine, book, write_mapping(tmp_path))


@pytest.mark.parametrize(
    ("name", "content"),
    [("plan.xlsx", b""), ("plan.xlsx", b"PK\x03\x04garbage"), ("plan.docx", b"PK\x03\x04")],
)
def test_it_refuses_files_that_are_not_spreadsheets(
    engine: Engine, tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert name in _refused(engine, path)


def test_it_refuses_a_missing_sheet_listing_the_sheets(engine: Engine) -> None:
    outcome = import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW, sheet="Plan")
    assert "'Action Plan', 'Key'" in outcome.errors[0].message


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("name: x\n", "plan: Field required"),
        (
            "name: x\nplan: {code: x}\nheader: {contains: [Ref]}\n"
            "columns: {owner: Lead, title: T}\n"
            "status_scale: {values: [{value: R, meaning: off_track}]}\n",
            "unknown field 'owner'",
        ),
        (
            "name: x\nplan: {code: x}\nheader: {contains: [Ref]}\ncolumns: {title: T}\n"
            "status_scale: {values: [{value: R, meaning: late}]}\n",
            "status_scale.values.0.meaning",
        ),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_it_names_the_key_and_fix_for_a_bad_mapping(tmp_path: Path, text: str, fix: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert fix in str(err.value) and str(path) in str(err.value)
