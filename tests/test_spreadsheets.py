"""Reading workbooks: every kind of file that is not a plan gets one line naming the fix."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest
from msoffcrypto.format.ooxml import OOXMLFile
from openpyxl import Workbook

from integrations.spreadsheets import SpreadsheetError, read_grid
from tests.conftest import PLAN_CSV, PLAN_XLSX


def test_it_reads_the_plymouth_workbook_below_its_merged_title() -> None:
    grid = read_grid(PLAN_XLSX, "Action Plan")
    assert grid.sheet == "Action Plan"
    assert grid.rows[1][4] == "Ref"
    assert grid.rows[2][4] == "1.1"
    # the merged title fills every cell of its merge
    assert grid.rows[0][0] == grid.rows[0][11]
    assert grid.merged == [((0, 0), (0, 11))]
    assert len(grid.rows) == 78


def test_it_reads_the_csv_export_with_line_breaks_inside_cells() -> None:
    grid = read_grid(PLAN_CSV)
    assert grid.rows[0][4] == "Ref"
    lead_25 = next(r[6] for r in grid.rows if r[4] == "2.5")
    assert isinstance(lead_25, str) and lead_25.count("\n") == 3


@pytest.mark.parametrize(
    ("name", "content", "fix"),
    [
        ("empty.xlsx", b"", "the file is empty"),
        ("notes.xlsx", b"this is a text file, not a workbook\n" * 4, "not an Excel workbook"),
        ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 200, "damaged"),
        ("report.pdf", b"%PDF-1.7\n", "save the plan as .xlsx or .csv"),
        ("binary.csv", b"\x00\x01\x02\x03", "not a text CSV file"),
        ("old.xls", b"just text", "not an Excel workbook"),
    ],
)
def test_it_refuses_a_file_that_is_not_a_spreadsheet_naming_the_fix(
    tmp_path: Path, name: str, content: bytes, fix: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SpreadsheetError) as err:
        read_grid(path)
    message = str(err.value)
    assert "\n" not in message
    assert name in message and fix in message


def test_it_says_a_password_protected_workbook_needs_its_password_removed(tmp_path: Path) -> None:
    out = io.BytesIO()
    with PLAN_XLSX.open("rb") as src:
        OOXMLFile(src).encrypt("s3cret", out)
    path = tmp_path / "protected.xlsx"
    path.write_bytes(out.getvalue())
    with pytest.raises(SpreadsheetError, match=r"password-protected.*remove the"):
        read_grid(path)


def test_it_names_the_sheets_a_workbook_has_when_the_sheet_is_wrong() -> None:
    with pytest.raises(SpreadsheetError, match=r"no sheet 'Plan'.*'Action Plan', 'Key'"):
        read_grid(PLAN_XLSX, "Plan")


def test_it_says_a_missing_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SpreadsheetError, match="no such file"):
        read_grid(tmp_path / "nope.xlsx")


def test_it_reads_number_formats_of_real_date_cells(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Ref", "Due"])
    ws.append(["1.1", datetime(2023, 2, 1)])
    ws.append(["1.2", datetime(2025, 4, 24)])
    ws["B2"].number_format = "mmm-yy"
    ws["B3"].number_format = "d-mmm"
    path = tmp_path / "dates.xlsx"
    wb.save(path)
    grid = read_grid(path)
    assert grid.date_formats == {(1, 1): "mmm-yy", (2, 1): "d-mmm"}
    assert isinstance(grid.rows[1][1], date)
