"""Reading council workbooks (.xlsx, .xlsm, .xls, .csv) into plain grids of cells.

Values come from python-calamine, which is about twenty times faster than openpyxl and exposes
merged cells. Calamine does not expose number formats, and councils' month-precision dates
("Feb-23") and Excel's mangling of "Apr-24" into "24-Apr" can only be told apart by format, so
when a sheet holds real date cells, their formats are read with openpyxl (read-only, one pass).

Every failure is a :class:`SpreadsheetError` whose message names the file and the fix.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from pathlib import Path

from workflows.plan.sheet import Grid

SUPPORTED = (".xlsx", ".xlsm", ".xls", ".csv")
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_MARK = "EncryptedPackage".encode("utf-16-le")


class SpreadsheetError(Exception):
    """The file cannot be read as a plan; the message names the fix."""


def read_grid(path: Path, sheet: str | None = None) -> Grid:
    """Read one sheet of ``path``: the named one, else the first."""
    if not path.exists():
        raise SpreadsheetError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise SpreadsheetError(f"{path}: is a directory; give the plan's .xlsx or .csv file")
    suffix = path.suffix.lower()
    head = _head(path)
    if not head:
        raise SpreadsheetError(f"{path}: the file is empty; export the plan from Excel again")
    if head.startswith(_CFB_MAGIC):
        if _is_encrypted(path):
            raise SpreadsheetError(
                f"{path}: the workbook is password-protected; open it in Excel, remove the "
                "password (File > Info > Protect Workbook > Encrypt with Password) "
                "and save it again"
            )
        if suffix != ".xls":
            raise SpreadsheetError(
                f"{path}: this is an old-style .xls workbook with a {suffix} name; "
                "rename it to .xls or save it as .xlsx"
            )
        return _read_calamine(path, sheet)
    if suffix == ".csv":
        return _read_csv(path, head)
    if suffix in (".xlsx", ".xlsm"):
        if not head.startswith(b"PK"):
            raise SpreadsheetError(
                f"{path}: is not an Excel workbook (it does not start like one); "
                "open it in Excel and save it as .xlsx, or export it as .csv"
            )
        return _read_calamine(path, sheet)
    if suffix == ".xls":
        raise SpreadsheetError(
            f"{path}: is not an Excel workbook; open it in Excel and save it as .xlsx"
        )
    raise SpreadsheetError(
        f"{path}: is not a spreadsheet Chaser reads; save the plan as .xlsx or .csv "
        f"(supported: {', '.join(SUPPORTED)})"
    )


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(4096)


def _is_encrypted(path: Path) -> bool:
    # An encrypted OOXML file is a compound document holding an "EncryptedPackage" stream;
    # the stream names sit in the directory sectors, well within the first 64 KiB in practice.
    with path.open("rb") as fh:
        return _ENCRYPTED_MARK in fh.read(1 << 20)


def _read_csv(path: Path, head: bytes) -> Grid:
    if b"\x00" in head:
        raise SpreadsheetError(
            f"{path}: is not a text CSV file (it holds binary data); export the plan as CSV "
            "(UTF-8) or give the .xlsx"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's "CSV" (not "CSV UTF-8") export on Windows writes cp1252.
        text = raw.decode("cp1252", errors="replace")
    rows: list[list[object]] = [
        [cell if cell != "" else None for cell in row]
        for row in csv.reader(io.StringIO(text, newline=""))
    ]
    width = max((len(r) for r in rows), default=0)
    for r in rows:
        r.extend([None] * (width - len(r)))
    return Grid(source=str(path), sheet=path.stem, rows=rows)


def _read_calamine(path: Path, sheet: str | None) -> Grid:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:
        raise SpreadsheetError(
            f"{path}: the workbook is damaged or not really a spreadsheet ({_short(exc)}); "
            "open it in Excel and save it again as .xlsx"
        ) from exc
    names = list(workbook.sheet_names)
    if not names:
        raise SpreadsheetError(f"{path}: the workbook has no sheets")
    name = names[0] if sheet is None else sheet
    if name not in names:
        raise SpreadsheetError(
            f"{path}: there is no sheet {sheet!r}; the workbook has "
            f"{', '.join(repr(n) for n in names)} (pass --sheet or set `sheet` in the mapping)"
        )
    try:
        cal_sheet = workbook.get_sheet_by_name(name)
        rows: list[list[object]] = [
            [None if v == "" else v for v in row]
            for row in cal_sheet.to_python(skip_empty_area=False)
        ]
        merged_raw = cal_sheet.merged_cell_ranges or []
    except Exception as exc:
        raise SpreadsheetError(
            f"{path}: sheet {name!r} could not be read ({_short(exc)}); "
            "open it in Excel and save it again as .xlsx"
        ) from exc
    width = max((len(r) for r in rows), default=0)
    for r in rows:
        r.extend([None] * (width - len(r)))
    merged = [((a[0], a[1]), (b[0], b[1])) for a, b in merged_raw]
    _fill_merges(rows, merged)
    grid = Grid(source=str(path), sheet=name, rows=rows, merged=merged)
    if path.suffix.lower() in (".xlsx", ".xlsm") and _has_dates(rows):
        grid.date_formats = _date_formats(path, name, rows)
    return grid


def _fill_merges(
    rows: list[list[object]], merged: list[tuple[tuple[int, int], tuple[int, int]]]
) -> None:
    for (r0, c0), (r1, c1) in merged:
        if r0 >= len(rows):
            continue
        value = rows[r0][c0] if c0 < len(rows[r0]) else None
        for r in range(r0, min(r1, len(rows) - 1) + 1):
            for c in range(c0, min(c1, len(rows[r]) - 1) + 1):
                if rows[r][c] is None:
                    rows[r][c] = value


def _has_dates(rows: list[list[object]]) -> bool:
    return any(isinstance(v, (date, datetime, time)) for row in rows for v in row)


def _date_formats(path: Path, sheet: str, rows: list[list[object]]) -> dict[tuple[int, int], str]:
    """Number formats of the cells calamine returned as dates (one openpyxl read-only pass)."""
    from openpyxl import load_workbook

    wanted = {
        (r, c)
        for r, row in enumerate(rows)
        for c, v in enumerate(row)
        if isinstance(v, (date, datetime))
    }
    formats: dict[tuple[int, int], str] = {}
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = workbook[sheet]
        for cells in ws.iter_rows():
            for cell in cells:
                row = getattr(cell, "row", None)
                col = getattr(cell, "column", None)
                if row is None or col is None:
                    continue
                key = (row - 1, col - 1)
                if key in wanted:
                    formats[key] = str(cell.number_format)
    finally:
        workbook.close()
    return formats


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
