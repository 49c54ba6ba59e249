"""Date cells' number formats, read straight from the XML, are the ones openpyxl reports.

The import no longer runs openpyxl over the sheet to find them (it took longer than the rest of
the import), so every workbook with real date cells is checked against openpyxl's own reading.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from integrations.spreadsheets import read_grid

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "chaser" / "samples").rglob("*.xlsx"))
RISKS = ROOT / "chaser" / "samples" / "plymouth_measures" / "plymouth_risk_register_2025.xlsx"
SHEET = "xl/worksheets/sheet1.xml"

#: Formats councils use for due dates, built-in (14–22) and custom.
FORMATS = [
    "mm-dd-yy",
    "d-mmm-yy",
    "d-mmm",
    "mmm-yy",
    "m/d/yy h:mm",
    "dd/mm/yyyy",
    "mmmm yyyy",
    "dd-mmm",
    "yyyy-mm-dd",
    "[$-809]dd mmmm yyyy;@",
    "ddd d mmm yy",
]


def _date_cells(path: Path, sheet: str | None) -> tuple[str, set[tuple[int, int]], dict]:  # type: ignore[type-arg]
    grid = read_grid(path, sheet)
    cells = {
        (r, c)
        for r, row in enumerate(grid.rows)
        for c, v in enumerate(row)
        if isinstance(v, (date, datetime))
    }
    return grid.sheet, cells, grid.date_formats


def _openpyxl_formats(
    path: Path, sheet: str, cells: set[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """What openpyxl says each of ``cells`` is formatted as (cells the XML holds)."""
    wb = load_workbook(path, read_only=True)
    try:
        found: dict[tuple[int, int], str] = {}
        for row in wb[sheet].iter_rows():
            for cell in row:
                r, c = getattr(cell, "row", None), getattr(cell, "column", None)
                if r is not None and c is not None and (r - 1, c - 1) in cells:
                    found[(r - 1, c - 1)] = str(cell.number_format)
        return found
    finally:
        wb.close()


def _sheets(path: Path) -> list[str]:
    wb = load_workbook(path, read_only=True)
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_it_reads_each_sample_workbooks_date_formats_as_openpyxl_does(path: Path) -> None:
    for sheet in _sheets(path):
        name, cells, formats = _date_cells(path, sheet)
        assert formats == _openpyxl_formats(path, name, cells), f"{path.name} {sheet!r}"


def test_it_finds_the_formats_of_the_risk_registers_review_dates() -> None:
    _, cells, formats = _date_cells(RISKS, None)
    assert cells, "the sample risk register should hold real date cells"
    assert set(formats) == cells
    assert set(formats.values()) == {"dd/mm/yyyy"}


def _dated_workbook(path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Plan"
    ws.append(["Ref", "Due", "Start", "Note"])
    for i, fmt in enumerate(FORMATS):
        ws.append([f"1.{i + 1}", datetime(2024, 1 + i, 1 + i), date(2023, 12, 1), "text"])
        ws.cell(row=i + 2, column=2).number_format = fmt
    ws.append(["2.1", datetime(2025, 4, 24), None, None])  # Excel's "24-Apr" for "Apr-24"
    ws.cell(row=len(FORMATS) + 3, column=2).number_format = "d-mmm"
    ws.append(["3.1", datetime(2024, 6, 30), None, None])  # merged across: filled, unformatted
    ws.merge_cells(f"B{len(FORMATS) + 4}:D{len(FORMATS) + 4}")
    ws.cell(row=len(FORMATS) + 4, column=2).number_format = "mmm-yy"
    wb.save(path)
    return path


def test_it_reads_every_kind_of_date_format_as_openpyxl_does(tmp_path: Path) -> None:
    path = _dated_workbook(tmp_path / "dates.xlsx")
    name, cells, formats = _date_cells(path, None)
    assert len(formats) >= len(FORMATS) + 2
    assert formats == _openpyxl_formats(path, name, cells)
    assert formats[(1, 1)] == "mm-dd-yy"
    assert formats[(4, 1)] == "mmm-yy"
    assert formats[(10, 1)] == "[$-809]dd mmmm yyyy;@"


def _rewritten(source: Path, target: Path, parts: dict[str, bytes]) -> Path:
    """``source`` with some of its parts replaced, saved as ``target``."""
    with zipfile.ZipFile(source) as zin:
        contents = {i.filename: zin.read(i) for i in zin.infolist()}
    contents.update(parts)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in contents.items():
            zout.writestr(name, data)
    target.write_bytes(out.getvalue())
    return target


def test_it_reads_a_custom_format_that_redefines_a_built_in_id_as_openpyxl_does(
    tmp_path: Path,
) -> None:
    source = _dated_workbook(tmp_path / "dates.xlsx")
    with zipfile.ZipFile(source) as zin:
        styles = zin.read("xl/styles.xml").decode()
    # Some exporters write their own code under a built-in id (14 is "mm-dd-yy" in Excel).
    styles = re.sub(
        r'<numFmts count="\d+">',
        '<numFmts count="99"><numFmt numFmtId="14" formatCode="dd/mm/yyyy"/>',
        styles,
    )
    assert 'numFmtId="14" formatCode' in styles
    path = _rewritten(source, tmp_path / "redefined.xlsx", {"xl/styles.xml": styles.encode()})
    name, cells, formats = _date_cells(path, None)
    assert formats[(1, 1)] == "dd/mm/yyyy"
    assert formats == _openpyxl_formats(path, name, cells)


def test_it_reads_the_formats_of_a_sheet_written_with_a_namespace_prefix(tmp_path: Path) -> None:
    source = _dated_workbook(tmp_path / "dates.xlsx")
    with zipfile.ZipFile(source) as zin:
        xml = zin.read(SHEET).decode()
    prefixed = re.sub(r"<(/?)(?!\?)([A-Za-z]\w*)", r"<\1x:\2", xml)
    prefixed = prefixed.replace(
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"',
        'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"',
        1,
    )
    assert "<x:c " in prefixed
    path = _rewritten(source, tmp_path / "prefixed.xlsx", {SHEET: prefixed.encode()})
    name, cells, formats = _date_cells(path, None)
    assert formats[(4, 1)] == "mmm-yy"
    assert formats == _openpyxl_formats(path, name, cells)


def test_it_does_not_take_a_conditional_formats_number_format_for_a_cells(
    tmp_path: Path,
) -> None:
    source = _dated_workbook(tmp_path / "dates.xlsx")
    with zipfile.ZipFile(source) as zin:
        styles = zin.read("xl/styles.xml").decode()
    found = re.search(r'numFmtId="(\d+)" formatCode="dd/mm/yyyy"', styles)
    assert found is not None
    # A conditional format ("turn red when overdue") may reuse a custom format's id.
    dxfs = (
        f'<dxfs count="1"><dxf><numFmt numFmtId="{found.group(1)}" formatCode="0.0"/></dxf></dxfs>'
    )
    styles = re.sub(r"<dxfs[^>]*/>|<dxfs.*?</dxfs>", "", styles, flags=re.S)
    styles = styles.replace("<tableStyles", dxfs + "<tableStyles", 1)
    assert "<dxf>" in styles
    path = _rewritten(source, tmp_path / "conditional.xlsx", {"xl/styles.xml": styles.encode()})
    name, cells, formats = _date_cells(path, None)
    assert formats[(6, 1)] == "dd/mm/yyyy"
    assert formats == _openpyxl_formats(path, name, cells)
