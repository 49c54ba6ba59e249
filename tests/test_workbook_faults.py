"""Workbooks that crashed `chaser plan import` (issue 15, found by fuzzing): each is now read, or
refused with the import's own one-line error naming the file, the cell and the fix."""

from __future__ import annotations

import io
import zipfile
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

import integrations.spreadsheets as spreadsheets
from chaser.importing import ImportOutcome, import_people, import_plan
from tests.conftest import NOW, PEOPLE_CSV
from tests.plan_builders import HEADER, write_mapping, write_workbook
from workflows.plan.mapping import load_mapping
from workflows.plan.merge import latest_cells
from workflows.plan.people import PeopleFileError
from workflows.store.models import Action, ImportedRow, Person, Plan

LEAD = "Head of SEND (AP)"


def _import(engine: Engine, tmp_path: Path, path: Path, **kwargs: object) -> ImportOutcome:
    import_people(engine, PEOPLE_CSV, now=NOW)
    mapping = load_mapping(write_mapping(tmp_path))
    return import_plan(engine, path, mapping=mapping, now=NOW, **kwargs)  # type: ignore[arg-type]


def _nothing_saved(engine: Engine) -> bool:
    with Session(engine) as s:
        return not s.exec(select(Plan)).all() and not s.exec(select(Action)).all()


def _actions(engine: Engine) -> dict[str, Action]:
    with Session(engine) as s:
        return {a.ref: a for a in s.exec(select(Action))}


def _cells(engine: Engine) -> dict[str, dict[str, Any]]:
    """Each action's cells as its latest import read them, by ref."""
    with Session(engine) as s:
        refs = {a.id: a.ref for a in s.exec(select(Action))}
        plans = list(s.exec(select(Plan.id)))
        return {refs[i]: c for p in plans if p for i, c in latest_cells(s, p).items()}


def _only_error(outcome: ImportOutcome) -> str:
    assert len(outcome.errors) == 1, outcome.errors
    message = outcome.errors[0].message
    assert "\n" not in message
    return message


# -- cells calamine reads as times, durations, errors and formulas ------------------------------


def test_it_reports_a_time_of_day_in_the_due_column_with_the_fix(
    engine: Engine, tmp_path: Path
) -> None:
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [
            ["Priority 1", "1.1", "Write the strategy", LEAD, time(10, 30), "Amber", time(9, 5)],
            ["Priority 1", "1.2", "Publish it", LEAD, "March 2024", "Amber", timedelta(hours=26)],
        ],
    )
    outcome = _import(engine, tmp_path, book)
    assert outcome.errors == []
    (warning,) = [w for w in outcome.warnings if w.kind == "unreadable_date"]
    assert (warning.row, warning.column, warning.ref, warning.value) == (3, "E", "1.1", "10:30:00")
    assert warning.message == (
        "'Due' of action 1.1 could not be read as a date: the cell holds the time of day 10:30, "
        "not a date; type the date instead (such as 'March 2024' or '31/03/2024') and, if Excel "
        "shows it as a time, format the cell as a date (Format Cells > Date)"
    )
    actions = _actions(engine)
    assert _cells(engine)["1.1"]["Due"] == "10:30:00"
    assert actions["1.1"].progress == "09:05"
    assert _cells(engine)["1.2"]["Progress"] == "26:00"
    assert actions["1.2"].progress == "26:00"


def test_it_reports_an_error_cell_as_the_cells_error(engine: Engine, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Plan"
    ws.append(HEADER)
    ws.append(["Priority 1", "1.1", "Write the strategy", LEAD, "March 2024", "#N/A"])
    ws.append(["Priority 1", "1.2", "Publish it", LEAD, "#DIV/0!", "#N/A"])
    for cell in ("F2", "E3", "F3"):
        ws[cell].data_type = "e"
    wb.save(tmp_path / "plan.xlsx")
    outcome = _import(engine, tmp_path, tmp_path / "plan.xlsx")
    assert outcome.errors == []
    errors = [w for w in outcome.warnings if w.kind == "cell_error"]
    assert [(w.row, w.column, w.rows, w.refs, w.value) for w in errors] == [
        (2, "F", (2, 3), ("1.1", "1.2"), "#N/A"),
        (3, "E", (3,), ("1.2",), "#DIV/0!"),
    ]
    assert errors[0].message == (
        "'RAG' holds the error #N/A in 2 rows (rows 2–3; refs 1.1, 1.2), read as empty; correct "
        "the formula in Excel (or type the value instead), save, and import again"
    )
    assert errors[1].message == (
        "'Due' (cell E3) holds the error #DIV/0!, so it was read as empty; correct the formula "
        "in Excel (or type the value instead), save, and import again"
    )
    actions = _actions(engine)
    assert _cells(engine)["1.2"]["Due"] == "#DIV/0!"
    assert (actions["1.2"].due_kind, actions["1.1"].status) == ("empty", None)


def test_it_reports_an_error_in_a_csv_export_as_the_cells_error(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "plan.csv"
    path.write_text(
        "Priority,Ref,Action,Lead,Due,RAG,Progress\nPriority 1,1.1,Write it,AP,#REF!,Amber,\n",
        encoding="utf-8",
    )
    outcome = _import(engine, tmp_path, path)
    (warning,) = [w for w in outcome.warnings if w.kind == "cell_error"]
    assert (warning.sheet, warning.row, warning.column, warning.value) == (
        "plan.csv",
        2,
        "E",
        "#REF!",
    )


def test_it_reports_a_formula_no_program_calculated(engine: Engine, tmp_path: Path) -> None:
    # openpyxl writes formulas without results, as any program that does not calculate does.
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [["Priority 1", "1.1", "Write the strategy", LEAD, '=EDATE("2024-01-31",2)', "Amber"]],
    )
    outcome = _import(engine, tmp_path, book)
    assert outcome.errors == []
    (warning,) = [w for w in outcome.warnings if w.kind == "formula_not_calculated"]
    assert (warning.row, warning.column, warning.value) == (3, "E", '=EDATE("2024-01-31",2)')
    assert warning.message == (
        "'Due' (cell E3) holds =EDATE(\"2024-01-31\",2) but no result, so it was read as empty; "
        "the file was saved by a program that does not calculate formulas; open it in Excel "
        "(which calculates them), save, and import again"
    )
    assert _cells(engine)["1.1"]["Due"] == '=EDATE("2024-01-31",2)'


# -- values longer than the store keeps --------------------------------------------------------


def test_it_refuses_a_ref_longer_than_the_store_keeps_on_every_database(
    engine: Engine, tmp_path: Path
) -> None:
    long_ref = "1." + "7" * 40
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [
            ["Priority 1", "1.1", "Write the strategy", LEAD, "March 2024", "Amber"],
            ["Priority 1", long_ref, "Publish it", LEAD, "March 2024", "Amber"],
        ],
    )
    outcome = _import(engine, tmp_path, book)
    assert _only_error(outcome) == (
        f"{book}: ref '1.{'7' * 37}…' (row 4, column B) is 42 characters long, but a ref may "
        "have at most 32; shorten it in the workbook; if column B does not hold the refs, map "
        "the column that does as columns.ref"
    )
    error = outcome.errors[0]
    assert (error.kind, error.sheet, error.row, error.column, error.header) == (
        "too_long",
        "Plan",
        4,
        "B",
        "Ref",
    )
    assert error.value == long_ref
    assert outcome.merge is None
    assert _nothing_saved(engine)


def test_it_refuses_a_plan_code_longer_than_the_store_keeps(engine: Engine, tmp_path: Path) -> None:
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [["Priority 1", "1.1", "Write the strategy", LEAD, "March 2024", "Amber"]],
    )
    outcome = _import(engine, tmp_path, book, plan_code="p" * 70)
    assert _only_error(outcome) == (
        f"{book}: the plan's code '{'p' * 59}…' is 70 characters long, but it may have at most "
        "64; choose a shorter plan code (--plan, or plan.code in the mapping)"
    )
    assert _nothing_saved(engine)


def test_it_gives_a_repeated_long_ref_a_new_ref_that_fits(engine: Engine, tmp_path: Path) -> None:
    ref = "1." + "x" * 30  # exactly 32 characters
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [
            ["Priority 1", ref, "Write the strategy", LEAD, "March 2024", "Amber"],
            ["Priority 1", ref, "Publish the offer", LEAD, "March 2024", "Amber"],
        ],
    )
    outcome = _import(engine, tmp_path, book)
    assert outcome.errors == []
    assert set(_actions(engine)) == {ref, ref[:30] + "-2"}


# -- limits checked before a grid is built ------------------------------------------------------


def test_it_refuses_a_csv_cell_over_the_csv_modules_limit(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text(
        f"Priority,Ref,Action,Lead,Due,RAG\nPriority 1,1.1,{'x' * 200_000},AP,March 2024,Amber\n",
        encoding="utf-8",
    )
    outcome = _import(engine, tmp_path, path)
    assert _only_error(outcome) == (
        f"{path}: row 2 has a cell of more than 131,072 characters, but a cell may hold at most "
        '32,767 characters (as in Excel); if a quote (") was left open, it joined the rest of '
        "the file into that cell: close it; otherwise shorten the cell (keep long narrative in a "
        "linked document), save, and import again"
    )
    assert (outcome.errors[0].kind, outcome.errors[0].row) == ("too_large", 2)
    assert _nothing_saved(engine)


def test_it_refuses_a_cell_longer_than_excel_allows(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text(
        "Priority,Ref,Action,Lead,Due,RAG,Progress\n"
        f"Priority 1,1.1,{'x' * 40_000},AP,March 2024,Amber,\n",
        encoding="utf-8",
    )
    outcome = _import(engine, tmp_path, path)
    assert _only_error(outcome) == (
        f"{path}: cell C2 holds 40,000 characters, but a cell may hold at most 32,767 characters "
        "(as in Excel); shorten it (keep long narrative in a linked document), save, and import "
        "again"
    )
    error = outcome.errors[0]
    assert (error.row, error.column, error.value) == (2, "C", "x" * 59 + "…")
    assert _nothing_saved(engine)


def test_it_refuses_one_stray_cell_in_xfd1048576_naming_the_limit(
    engine: Engine, tmp_path: Path
) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Plan"
    ws.append(HEADER)
    ws.append(["Priority 1", "1.1", "Write the strategy", LEAD, "March 2024", "Amber"])
    ws["XFD1048576"] = "stray"
    book = tmp_path / "plan.xlsx"
    wb.save(book)
    assert book.stat().st_size < 10_000
    outcome = _import(engine, tmp_path, book)
    assert _only_error(outcome) == (
        f"{book}: the used range of sheet 'Plan' reaches XFD1048576 (16,384 columns × 1,048,576 "
        "rows), but a plan needs at most 200 columns, 50,000 rows and 2,000,000 cells; delete the "
        "stray cells beyond G2 (XFD1048576): select them in Excel, right-click > Delete, save, "
        "and import again (a plan that really is larger should be split into several plans)"
    )
    error = outcome.errors[0]
    assert (error.kind, error.row, error.column, error.value) == (
        "too_large",
        1_048_576,
        "XFD",
        "XFD1048576",
    )
    assert _nothing_saved(engine)


def test_it_reads_a_sheet_whose_far_cells_are_only_formatted_or_blank(
    engine: Engine, tmp_path: Path
) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Plan"
    ws.append(HEADER)
    ws.append(["Priority 1", "1.1", "Write the strategy", LEAD, "March 2024", "Amber"])
    ws["XFD1048576"] = " "  # a space: calamine would build the whole range for it
    ws["XFD1"].number_format = "0.00"
    ws["A1048576"].number_format = "0.00"
    book = tmp_path / "plan.xlsx"
    wb.save(book)
    outcome = _import(engine, tmp_path, book)
    assert outcome.errors == []
    assert list(_actions(engine)) == ["1.1"]


def test_it_refuses_a_row_wider_than_a_plan(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    wide = ",".join(["x"] * 250)
    path.write_text(
        f"Priority,Ref,Action,Lead,Due,RAG\nPriority 1,1.1,Write it,AP,March 2024,Amber\n{wide}\n",
        encoding="utf-8",
    )
    outcome = _import(engine, tmp_path, path)
    message = _only_error(outcome)
    assert message.startswith(
        f"{path}: the used range of sheet 'plan.csv' reaches IP3 (250 columns × 3 rows), but a "
        "plan needs at most 200 columns, 50,000 rows and 2,000,000 cells; delete the stray cells "
        "beyond F2 (IP3)"
    )
    assert _nothing_saved(engine)


def test_it_refuses_more_rows_than_the_limit(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 5)
    rows = [["Priority 1", f"1.{i}", f"Action {i}", LEAD, "March 2024", "Amber"] for i in range(9)]
    book = write_workbook(tmp_path / "plan.xlsx", rows)
    outcome = _import(engine, tmp_path, book)
    message = _only_error(outcome)
    assert message.startswith(
        f"{book}: the used range of sheet 'Plan' reaches G11 (7 columns × 11 rows), but a plan "
        "needs at most 200 columns, 5 rows and 2,000,000 cells; delete the stray cells beyond G5 "
        "(A6, B6, C6 and 33 more)"
    )
    assert _nothing_saved(engine)


def test_it_refuses_a_file_over_the_size_limit(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    book = write_workbook(
        tmp_path / "plan.xlsx",
        [["Priority 1", "1.1", "Write the strategy", LEAD, "March 2024", "Amber"]],
    )
    size = book.stat().st_size
    monkeypatch.setattr(spreadsheets, "MAX_FILE_BYTES", 1000)
    mapping = load_mapping(write_mapping(tmp_path))
    outcome = import_plan(engine, book, mapping=mapping, now=NOW)
    assert _only_error(outcome) == (
        f"{book}: the file is {size:,} bytes, but Chaser reads files of at most 1,000 bytes; "
        "delete the other sheets, pictures and unused rows (or copy the plan's sheet alone to a "
        "new workbook), save, and import again"
    )
    assert _nothing_saved(engine)


# -- reader errors --------------------------------------------------------------------------------


def _rezipped(source: Path, target: Path, part: str, data: bytes) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename == part else zin.read(info))
    target.write_bytes(out.getvalue())
    return target


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("truncated", "the workbook is damaged or not really a spreadsheet (BadZipFile: File is"),
        ("bad sheet xml", "sheet 'Plan' could not be read (XmlError"),
        ("bad workbook xml", "the workbook is damaged or not really a spreadsheet ("),
    ],
)
def test_it_turns_zip_and_xml_errors_into_one_line_naming_the_fix(
    engine: Engine, tmp_path: Path, damage: str, said: str
) -> None:
    good = write_workbook(
        tmp_path / "good.xlsx",
        [["Priority 1", "1.1", "Write the strategy", LEAD, "March 2024", "Amber"]],
    )
    book = tmp_path / "plan.xlsx"
    if damage == "truncated":
        book.write_bytes(good.read_bytes()[:1500])
    elif damage == "bad sheet xml":
        _rezipped(good, book, "xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row><c>")
    else:
        _rezipped(good, book, "xl/workbook.xml", b"<<<")
    outcome = _import(engine, tmp_path, book)
    message = _only_error(outcome)
    assert message.startswith(f"{book}: {said}")
    assert message.endswith("open it in Excel and save it again as .xlsx")
    assert outcome.errors[0].kind == "bad_file"
    assert _nothing_saved(engine)


# -- control characters -----------------------------------------------------------------------


def test_it_takes_nul_bytes_and_control_characters_out_of_stored_text_and_says_so_once(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "plan.csv"
    path.write_bytes(
        b"Priority,Ref,Action,Lead,Due,RAG,Progress\n"
        b"Priority 1,1.1,Write\x00 the strategy,Head of SEND (AP),March 2024,Amber,ok\x01\n"
        b"Priority 1,1.2,Publish\x00 it,Head of SEND (AP)\x00,March 2024,Amber,fine\n"
    )
    outcome = _import(engine, tmp_path, path)
    assert outcome.errors == []
    warnings = [w for w in outcome.warnings if w.kind == "control_characters"]
    assert [(w.row, w.column, w.rows, w.refs) for w in warnings] == [
        (2, "C", (2, 3), ("1.1", "1.2")),
        (2, "G", (2,), ("1.1",)),
    ]
    assert warnings[0].message == (
        "2 rows hold NUL bytes (\\x00) in their cells (rows 2–3; refs 1.1, 1.2), which cannot "
        "be stored as text; they were taken out of the text Chaser keeps (the raw cells show "
        "them as escapes such as \\x00); remove them in the workbook (Excel's =CLEAN() does), "
        "as they come from pasting out of another system"
    )
    assert warnings[1].message.startswith(
        "cell G2 ('Progress') holds control characters (\\x01), which cannot be stored as text"
    )
    actions = _actions(engine)
    assert (actions["1.1"].title, actions["1.1"].progress) == ("Write the strategy", "ok")
    assert actions["1.2"].lead_raw == "Head of SEND (AP)"
    assert _cells(engine)["1.1"]["Action"] == "Write\\x00 the strategy"
    with Session(engine) as s:
        cells = [r.cells for r in s.exec(select(ImportedRow))]
    assert {"Write\\x00 the strategy", "Head of SEND (AP)\\x00"} <= {
        v for c in cells for v in c.values()
    }


def test_it_reads_a_plan_exported_as_utf16_text(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    text = (
        "Priority,Ref,Action,Lead,Due,RAG,Progress\n"
        "Priority 1,1.1,Write the café plan,AP,March 2024,Amber,\n"
    )
    path.write_bytes(text.encode("utf-16"))
    outcome = _import(engine, tmp_path, path)
    assert outcome.errors == []
    assert _actions(engine)["1.1"].title == "Write the café plan"


# -- the people CSV -----------------------------------------------------------------------------


def test_it_refuses_a_people_csv_with_a_huge_field_naming_the_row(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f"code,name,role\nAP,Aisha,{'x' * 200_000}\n", encoding="utf-8")
    with pytest.raises(PeopleFileError) as err:
        import_people(engine, path, now=NOW)
    (problem,) = err.value.problems
    assert (problem.kind, problem.row) == ("bad_cell", 2)
    assert problem.message == (
        "a cell of row 2 holds more than 131,072 characters, but a cell may hold at most 32,767 "
        '(a quote (") left open joins the rest of the file into one cell); shorten it and import '
        "again"
    )
    with Session(engine) as s:
        assert s.exec(select(Person)).all() == []


def test_it_imports_people_whose_cells_hold_nul_bytes_on_every_database(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(b"code,name,role\nAP,Aisha\x00 Pendleford,Head of SEND\x07\n")
    result = import_people(engine, path, now=NOW)
    assert result.created == 1
    with Session(engine) as s:
        person = s.exec(select(Person)).one()
    assert (person.name, person.role) == ("Aisha Pendleford", "Head of SEND")


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252", "utf-8-sig"])
def test_it_imports_people_in_the_encodings_excel_writes(
    engine: Engine, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes("code,name,role\nAP,Zoë Brontë,Head of SEND\n".encode(encoding))
    import_people(engine, path, now=NOW)
    with Session(engine) as s:
        assert s.exec(select(Person)).one().name == "Zoë Brontë"


def test_it_refuses_a_binary_file_given_as_the_people_csv(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PeopleFileError) as err:
        import_people(engine, path, now=NOW)
    (problem,) = err.value.problems
    assert problem.message.startswith(f"{path}: is not a text CSV file (it holds binary data)")


# -- found by the fuzzing ----------------------------------------------------------------------


def test_it_reimports_a_plan_whose_unnumbered_action_was_replaced(
    engine: Engine, tmp_path: Path
) -> None:
    first = write_workbook(
        tmp_path / "first.xlsx",
        [["Priority 1", None, "Write the strategy", LEAD, "March 2024", "Amber"]],
    )
    again = write_workbook(
        tmp_path / "again.xlsx",
        [["Priority 1", None, "Something else entirely", LEAD, "March 2024", "Amber"]],
    )
    assert _import(engine, tmp_path, first).ok
    outcome = _import(engine, tmp_path, again)
    assert outcome.ok
    assert {a.title: a.withdrawn for a in _actions(engine).values()} == {
        "Write the strategy": True,
        "Something else entirely": False,
    }
    refs = {a.title: a.ref for a in _actions(engine).values()}
    assert refs == {"Write the strategy": "P1-01", "Something else entirely": "P1-02"}
