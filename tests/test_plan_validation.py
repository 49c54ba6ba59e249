"""The validation report: every cell that cannot be understood, located; bad files refused whole."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.importing import ImportOutcome, import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX
from tests.plan_builders import SMALL_MAPPING, write_mapping, write_workbook
from workflows.plan.mapping import MappingError, load_mapping
from workflows.plan.merge import latest_cells
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
        plan_id = s.exec(select(Plan.id)).one()
        assert plan_id is not None
        cells = latest_cells(s, plan_id)
    assert actions["4.1"].title == "Set up the\npanel"
    assert actions["4.1"].baseline_due == date(2024, 2, 29)
    assert actions["4.1"].status == "complete"
    assert actions["4.2"].title == "Review the\nwaiting & lists"
    assert actions["4.2"].progress == "…continued after the page break."
    assert cells[actions["4.2"].id or 0]["Progress"] == "…continued after the page break."
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
            for a in s.exec(select(Action).order_by(col(Action.position)))
        ]
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


# -- once per cause, not once per row ---------------------------------------------------------


def test_it_reports_a_cause_shared_by_many_rows_once_listing_the_rows(
    engine: Engine, tmp_path: Path
) -> None:
    rows: list[list[object]] = [
        ["Priority 1", f"1.{i}", f"Action {i}", "Virtual School lead", "TBC", "Purple"]
        for i in range(1, 41)
    ]
    rows[5][3] = "Head of SEND (AP)"  # one action with a known lead among them
    outcome = _run(engine, tmp_path, rows)
    assert outcome.actions == 40
    assert [(w.kind, w.row, w.column) for w in outcome.warnings] == [
        ("unresolved_lead", 3, "D"),
        ("unknown_status", 3, "F"),
        ("no_due_date", 3, "E"),
    ]
    lead, status, due = outcome.warnings
    assert lead.rows == (*range(3, 8), *range(9, 43)) and len(lead.refs) == 39
    assert lead.message == (
        "lead 'Virtual School lead' is not in the people directory (39 actions: rows 3–7, 9–42; "
        "refs 1.1, 1.2, 1.3, 1.4, 1.5 and 34 more); add them to the people CSV (code in "
        "brackets) or write their initials in the plan"
    )
    assert lead.ref == "" and lead.value == "Virtual School lead"
    assert str(lead).startswith("Plan, column D: lead 'Virtual School lead'")
    assert status.message.startswith("status 'Purple' is not on the plan's RAG scale")
    assert "40 actions: rows 3–42" in status.message
    assert due.message.startswith("40 actions have no due date ('TBC'): rows 3–42")
    assert json.loads(json.dumps(outcome.as_json()))["warnings"][0]["rows"][:3] == [3, 4, 5]


def test_it_groups_refs_stored_as_numbers_and_unreadable_dates_by_value(
    engine: Engine, tmp_path: Path
) -> None:
    outcome = _run(
        engine,
        tmp_path,
        [
            ["Priority 1", 1.1, "One", "Head of SEND (AP)", "next year-ish"],
            ["Priority 1", 1.2, "Two", "Head of SEND (AP)", "Next year-ish"],
            ["Priority 1", 1.3, "Three", "Head of SEND (AP)", "soonish"],
        ],
    )
    kinds = [(w.kind, w.rows) for w in outcome.warnings]
    assert kinds == [
        ("numeric_ref", (3, 4, 5)),
        ("unreadable_date", (3, 4)),
        ("unreadable_date", (5,)),
    ]
    assert outcome.warnings[0].message.startswith(
        "3 refs are stored as numbers, so 1.10 and 1.1 cannot be told apart (rows 3–5; refs "
        "1.1, 1.2, 1.3); format the Ref column as Text in Excel"
    )
    assert outcome.warnings[1].message.startswith(
        "'Due' 'next year-ish' could not be read as a date (2 actions: rows 3–4; refs 1.1, 1.2)"
    )


DATED_MAPPING = SMALL_MAPPING.replace("  due: Due\n", "  start: Start\n  due: Due\n")


def test_it_reports_each_action_due_before_it_starts_with_both_dates(
    engine: Engine, tmp_path: Path
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [
            ["Priority 1", "1.1", "Backwards", "Head of SEND (AP)", "September 2024", "July 2024"],
            ["Priority 1", "1.2", "Same month", "Head of SEND (AP)", "July 2024", "July 2024"],
            [
                "Priority 1",
                "1.3",
                "Also backwards",
                "Head of SEND (AP)",
                "01/05/2025",
                "Q4 2024/25",
            ],
        ],
        header=["Priority", "Ref", "Action", "Lead", "Start", "Due", "RAG", "Progress"],
    )
    mapping = load_mapping(write_mapping(tmp_path, DATED_MAPPING))
    outcome = import_plan(engine, book, mapping=mapping, now=NOW)
    late = [w for w in outcome.warnings if w.kind == "due_before_start"]
    assert [(w.row, w.column, w.ref) for w in late] == [(3, "F", "1.1"), (5, "F", "1.3")]
    assert late[0].message == (
        "action 1.1 is due ('Due' 'July 2024', Jul 2024) before it starts ('Start' "
        "'September 2024', Sep 2024); correct one of the two dates"
    )
    assert late[0].value == "start 'September 2024', due 'July 2024'"
    assert "'Q4 2024/25', Mar 2025" in late[1].message and "1 May 2025" in late[1].message


def _two_heads_of_service(engine: Engine, tmp_path: Path) -> None:
    """A directory where two people hold roles titled "Head of Service – …"."""
    people = tmp_path / "people.csv"
    people.write_text(
        "code,role,name,email\n"
        "EH,Head of Service – Early Help,Elsa Hatherleigh,elsa@example.org\n"
        "SH,Head of Service – Children with Disabilities,Saul Hembury,saul@example.org\n",
        encoding="utf-8",
    )
    import_people(engine, people, now=NOW)


def test_it_says_on_one_row_which_lead_or_sro_it_cannot_find_and_how_to_fix_it(
    engine: Engine, tmp_path: Path
) -> None:
    """One row each: its own message, naming the action (a cause many rows share is one
    warning, listing them, as the tests above and below show)."""
    _two_heads_of_service(engine, tmp_path)
    mapping = SMALL_MAPPING.replace("  lead: Lead\n", "  lead: Lead\n  sro: SRO\n")
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [
            ["Priority 1", "1.1", "Map needs", "Head of Service", "Director (ZZ)", "May 2024"],
            ["Priority 1", "1.2", "Train staff", "Head of Quality (QQ)", "", "May 2024"],
        ],
        header=["Priority", "Ref", "Action", "Lead", "SRO", "Due", "RAG", "Progress"],
    )
    outcome = import_plan(
        engine, book, mapping=load_mapping(write_mapping(tmp_path, mapping)), now=NOW
    )
    assert outcome.errors == []
    said = {(w.kind, w.header): w for w in outcome.warnings}
    ambiguous = said["ambiguous_lead", "Lead"]
    assert (ambiguous.row, ambiguous.column, ambiguous.ref) == (3, "D", "1.1")
    assert ambiguous.message == (
        "lead 'Head of Service' of action 1.1 is the role of 2 people in the directory: EH "
        "(Elsa Hatherleigh, Head of Service – Early Help) and SH (Saul Hembury, Head of "
        "Service – Children with Disabilities); write the initials in brackets, e.g. "
        "'Head of Service (EH)'"
    )
    assert ambiguous.expected == "initials in brackets after a role several people hold"
    sro = said["unresolved_lead", "SRO"]
    assert (sro.row, sro.column, sro.value) == (3, "E", "Director (ZZ)")
    assert (
        sro.message == "senior responsible officer 'Director (ZZ)' is not in the people directory"
    )
    lead = said["unresolved_lead", "Lead"]
    assert (lead.row, lead.ref, lead.rows, lead.refs) == (4, "1.2", (4,), ("1.2",))
    assert lead.message == (
        "lead 'Head of Quality (QQ)' of action 1.2 is not in the people directory; add them to "
        "the people CSV (code in brackets) or write their initials in the plan"
    )
    assert lead.expected == (
        "initials in brackets, e.g. 'Head of SEND (AP)', or a known role title"
    )


def test_it_names_both_people_who_hold_a_role_title_once(engine: Engine, tmp_path: Path) -> None:
    _two_heads_of_service(engine, tmp_path)
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [["Priority 1", f"1.{i}", f"Action {i}", "Head Of Service.", "May 2024"] for i in range(5)],
    )
    outcome = import_plan(engine, book, mapping=load_mapping(write_mapping(tmp_path)), now=NOW)
    (warning,) = outcome.warnings
    assert warning.kind == "ambiguous_lead" and warning.rows == (3, 4, 5, 6, 7)
    assert warning.message.startswith(
        "role title 'Head Of Service' is held by 2 people in the directory: EH (Elsa "
        "Hatherleigh, Head of Service – Early Help) and SH (Saul Hembury, Head of Service – "
        "Children with Disabilities); write the initials in brackets, e.g. 'Head Of Service (EH)'"
    )
