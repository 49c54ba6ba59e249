"""Reading council workbooks (.xlsx, .xlsm, .xls, .csv) into plain grids of cells.

Values come from python-calamine, which is about twenty times faster than openpyxl and exposes
merged cells. Calamine does not expose number formats, and councils' month-precision dates
("Feb-23") and Excel's mangling of "Apr-24" into "24-Apr" can only be told apart by format, so
when a sheet holds real date cells, their formats are read straight from the XML: each date
cell's style id from the sheet (already read for the scan below) and the styles' number formats
from ``xl/styles.xml``, streamed. A full openpyxl pass to find them took longer than the rest
of the import together.

Nothing in a file is trusted to be small. Calamine builds a sheet as one dense grid from its first
to its last cell, so one stray cell in XFD1048576 would make it allocate 17 billion cells and
abort the process. Before calamine reads a sheet of an .xlsx, the sheet's XML is scanned for the
cells that really hold values (trailing cells that are only formatted, or hold nothing but
spaces, do not count and are left out); a CSV is read row by row. The extent found is checked
against the limits below, each reported with the fix. The same scan finds the cells calamine
reads as empty though they say something: Excel errors (``#N/A``) and formulas no program ever
calculated; the grid carries both so the import can report them.

Every failure of any reader (calamine, openpyxl, csv, zip, XML) is a :class:`SpreadsheetError`
whose one-line message names the file and the fix.
"""

from __future__ import annotations

import codecs
import collections
import csv
import html
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from workflows.plan.sheet import EXCEL_ERRORS, MAX_CELL_CHARS, Grid, column_letter

SUPPORTED = (".xlsx", ".xlsm", ".xls", ".csv")

#: The largest file Chaser reads (a plan workbook is typically well under 1 MB).
MAX_FILE_BYTES = 50 * 1024 * 1024
#: The most an .xlsx may unpack to (its parts are zipped XML, ten or more times larger).
MAX_UNPACKED_BYTES = 250 * 1024 * 1024
#: The most rows a sheet may use: a plan has 50–150 actions; 50,000 rows leave room for a
#: 20,000-action plan written over several rows each.
MAX_ROWS = 50_000
#: The most columns a sheet may use (a plan uses 10–30).
MAX_COLUMNS = 200
#: The most cells a sheet may use, rows × columns of its used range.
MAX_CELLS = 2_000_000
#: The most text a sheet may hold, in characters (about 2,000 pages; a plan holds a few dozen).
MAX_TEXT_CHARS = 50_000_000
__all__ = [
    "MAX_CELLS",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "MAX_TEXT_CHARS",
    "MAX_UNPACKED_BYTES",
    "SUPPORTED",
    "SpreadsheetError",
    "read_grid",
    "read_text_csv",
]

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_MARK = "EncryptedPackage".encode("utf-16-le")
_RESAVE = "open it in Excel and save it again as .xlsx"


class SpreadsheetError(Exception):
    """The file cannot be read as a plan; the message names the fix.

    ``kind`` is ``bad_file`` (not a spreadsheet, damaged, protected) or ``too_large`` (over one
    of the limits); where one cell is concerned, ``row`` (1-based), ``column`` (its letter) and
    ``value`` (shortened) say which.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "bad_file",
        sheet: str = "",
        row: int | None = None,
        column: str = "",
        value: str = "",
        expected: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.sheet = sheet
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected


def read_grid(path: Path, sheet: str | None = None) -> Grid:
    """Read one sheet of ``path``: the named one, else the first."""
    if not path.exists():
        raise SpreadsheetError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise SpreadsheetError(f"{path}: is a directory; give the plan's .xlsx or .csv file")
    try:
        return _read(path, sheet)
    except SpreadsheetError:
        raise
    except MemoryError as exc:
        raise SpreadsheetError(
            f"{path}: is too large to read in memory; copy the plan's sheet alone to a new "
            "workbook, save it as .xlsx and import that",
            kind="too_large",
        ) from exc
    except Exception as exc:
        raise SpreadsheetError(
            f"{path}: could not be read ({_short(exc)}); {_RESAVE}, or export it as CSV (UTF-8)"
        ) from exc
    except BaseException as exc:
        # A panic inside calamine arrives as pyo3's PanicException, a BaseException.
        if type(exc).__name__ != "PanicException":
            raise
        raise SpreadsheetError(
            f"{path}: the workbook is damaged ({_short(exc)}); {_RESAVE}"
        ) from exc


def read_text_csv(path: Path) -> str:
    """The text of a CSV file (UTF-8, UTF-16 or Windows-1252, as Excel writes them), checked
    to be text and within :data:`MAX_FILE_BYTES`."""
    head = _head(path)
    _check_size(path)
    return _decode(path, path.read_bytes(), head)


def _read(path: Path, sheet: str | None) -> Grid:
    suffix = path.suffix.lower()
    head = _head(path)
    if not head:
        raise SpreadsheetError(f"{path}: the file is empty; export the plan from Excel again")
    _check_size(path)
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
        return _read_xls(path, sheet)
    if suffix == ".csv":
        if head.startswith(b"PK\x03\x04"):
            raise SpreadsheetError(
                f"{path}: is an Excel workbook with a .csv name; rename it to .xlsx, or open it "
                "in Excel and save it as CSV UTF-8"
            )
        return _read_csv(path, head)
    if suffix in (".xlsx", ".xlsm"):
        if not head.startswith(b"PK"):
            raise SpreadsheetError(
                f"{path}: is not an Excel workbook (it does not start like one); "
                "open it in Excel and save it as .xlsx, or export it as .csv"
            )
        return _read_xlsx(path, sheet)
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


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SpreadsheetError(
            f"{path}: the file is {_megabytes(size)}, but Chaser reads files of at most "
            f"{_megabytes(MAX_FILE_BYTES)}; delete the other sheets, pictures and unused rows "
            "(or copy the plan's sheet alone to a new workbook), save, and import again",
            kind="too_large",
            value=_megabytes(size),
            expected=f"at most {_megabytes(MAX_FILE_BYTES)}",
        )


def _is_encrypted(path: Path) -> bool:
    # An encrypted OOXML file is a compound document holding an "EncryptedPackage" stream;
    # the stream names sit in the directory sectors, well within the first 64 KiB in practice.
    with path.open("rb") as fh:
        return _ENCRYPTED_MARK in fh.read(1 << 20)


# -- limits ---------------------------------------------------------------------------------------


def _over(rows: int, columns: int) -> bool:
    return rows > MAX_ROWS or columns > MAX_COLUMNS or rows * columns > MAX_CELLS


def _limits() -> str:
    return f"{MAX_COLUMNS:,} columns, {MAX_ROWS:,} rows and {MAX_CELLS:,} cells"


def _too_large(path: Path, sheet: str, extent: _Extent) -> SpreadsheetError:
    corner = Grid.cell_name(extent.rows - 1, extent.columns - 1)
    used = (
        f"the used range of sheet {sheet!r} reaches {corner} ({extent.columns:,} columns × "
        f"{extent.rows:,} rows), but a plan needs at most {_limits()}"
    )
    if extent.strays:
        first = extent.strays[0]
        shown = ", ".join(Grid.cell_name(r, c) for r, c in extent.strays[:3])
        if extent.stray_count > 3:
            shown += f" and {extent.stray_count - 3:,} more"
        inside = (
            Grid.cell_name(extent.inside_rows - 1, extent.inside_columns - 1)
            if extent.inside_rows
            else "A1"
        )
        fix = (
            f"delete the stray cells beyond {inside} ({shown}): select them in Excel, "
            "right-click > Delete, save, and import again (a plan that really is larger "
            "should be split into several plans)"
        )
        row, column = first[0] + 1, column_letter(first[1])
    else:
        fix = (
            "delete the rows and columns the plan does not use (or copy the plan alone to a new "
            "workbook), save, and import again"
        )
        row, column = extent.rows, column_letter(extent.columns - 1)
    return SpreadsheetError(
        f"{path}: {used}; {fix}",
        kind="too_large",
        sheet=sheet,
        row=row,
        column=column,
        value=corner,
        expected=f"at most {_limits()}",
    )


def _cell_too_long(
    path: Path, sheet: str, row: int, col: int | None, length: int | None, value: str
) -> SpreadsheetError:
    """``length`` None: the csv module stopped at a field over its own limit."""
    where = f"cell {Grid.cell_name(row, col)}" if col is not None else f"row {row + 1}"
    if path.suffix.lower() != ".csv":
        where += f" of sheet {sheet!r}"
    if length is not None:
        holds = f"holds {length:,} characters"
        fix = "shorten it (keep long narrative in a linked document)"
    else:
        holds = f"has a cell of more than {csv.field_size_limit():,} characters"
        fix = (
            'if a quote (") was left open, it joined the rest of the file into that cell: close '
            "it; otherwise shorten the cell (keep long narrative in a linked document)"
        )
    return SpreadsheetError(
        f"{path}: {where} {holds}, but a cell may hold at most {MAX_CELL_CHARS:,} characters "
        f"(as in Excel); {fix}, save, and import again",
        kind="too_large",
        sheet=sheet,
        row=row + 1,
        column=column_letter(col) if col is not None else "",
        value=_shorten(value),
        expected=f"at most {MAX_CELL_CHARS:,} characters",
    )


# -- CSV ------------------------------------------------------------------------------------------


def _decode(path: Path, raw: bytes, head: bytes) -> str:
    """Text as Excel's exports write it: UTF-8 (with or without BOM), UTF-16 ("Unicode text"),
    or Windows-1252 ("CSV", not "CSV UTF-8")."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if raw.startswith(bom):
            return raw[len(bom) :].decode(codec, errors="replace")
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return raw.decode(utf16, errors="replace")
    if _looks_binary(head):
        raise SpreadsheetError(
            f"{path}: is not a text CSV file (it holds binary data); export it from Excel as "
            "CSV UTF-8 (File > Save As > CSV UTF-8), or give the plan's .xlsx"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text of mostly Latin characters has a NUL in every other byte."""
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    codec = None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        codec = "utf-16-le"
    elif even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        codec = "utf-16-be"
    if codec is None:
        return None
    text = head[: len(head) // 2 * 2].decode(codec, errors="replace")
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f")
    return codec if controls <= len(text) // 20 else None


def _looks_binary(head: bytes) -> bool:
    """Mostly control bytes: not text (a stray NUL in a text file is taken out later)."""
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return head.count(0) > len(head) // 20 or controls > len(head) // 10


def _read_csv(path: Path, head: bytes) -> Grid:
    text = _decode(path, path.read_bytes(), head)
    sheet = path.name
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[object]] = []
    blank = 0  # empty rows seen since the last row with a value
    width = 0
    strays: list[tuple[int, int]] = []
    errors: dict[tuple[int, int], str] = {}
    try:
        for fields in reader:
            n = len(fields)
            while n and not fields[n - 1].strip():
                n -= 1
            if not n:
                blank += 1
                continue
            r = len(rows) + blank
            for c in range(n):
                if len(fields[c]) > MAX_CELL_CHARS:
                    raise _cell_too_long(path, sheet, r, c, len(fields[c]), fields[c])
            if r >= MAX_ROWS or n > MAX_COLUMNS or (r + 1) * max(width, n) > MAX_CELLS:
                strays.append((r, n - 1))
                extent = _Extent(
                    rows=r + 1,
                    columns=max(width, n),
                    strays=strays,
                    stray_count=1,
                    inside_rows=min(len(rows), MAX_ROWS),
                    inside_columns=min(width, MAX_COLUMNS),
                )
                if r < MAX_ROWS and n <= MAX_COLUMNS:
                    extent.strays = []
                raise _too_large(path, sheet, extent)
            rows.extend([] for _ in range(blank))
            blank = 0
            width = max(width, n)
            row: list[object] = []
            for c in range(n):
                text = fields[c]
                if text.strip() in EXCEL_ERRORS:
                    errors[(r, c)] = text.strip()
                    row.append(None)
                else:
                    row.append(text if text != "" else None)
            rows.append(row)
    except csv.Error as exc:
        r = len(rows) + blank
        if "field larger than field limit" in str(exc):
            raise _cell_too_long(path, sheet, r, None, None, "") from exc
        raise SpreadsheetError(
            f"{path}: row {r + 1} cannot be read as CSV ({_short(exc)}); export the plan "
            "from Excel again as CSV (UTF-8)",
            sheet=sheet,
            row=r + 1,
        ) from exc
    for row in rows:
        row.extend([None] * (width - len(row)))
    return Grid(source=str(path), sheet=path.stem, rows=rows, errors=errors)


# -- .xls -----------------------------------------------------------------------------------------


def _open_calamine(path: Path, source: Any = None) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        if source is None:
            return CalamineWorkbook.from_path(str(path))
        return CalamineWorkbook.from_filelike(source)
    except Exception as exc:
        raise SpreadsheetError(
            f"{path}: the workbook is damaged or not really a spreadsheet ({_short(exc)}); "
            f"{_RESAVE}"
        ) from exc


def _choose_sheet(path: Path, workbook: Any, sheet: str | None) -> str:
    names = list(workbook.sheet_names)
    if not names:
        raise SpreadsheetError(f"{path}: the workbook has no sheets")
    name = names[0] if sheet is None else sheet
    if name not in names:
        raise SpreadsheetError(
            f"{path}: there is no sheet {sheet!r}; the workbook has "
            f"{', '.join(repr(n) for n in names)} (pass --sheet or set `sheet` in the mapping)"
        )
    return str(name)


def _read_xls(path: Path, sheet: str | None) -> Grid:
    # An .xls sheet has at most 65,536 × 256 cells, so calamine can build it whole; its extent
    # is checked before the grid is made of it.
    workbook = _open_calamine(path)
    name = _choose_sheet(path, workbook, sheet)
    return _grid(path, name, workbook, _Extent(rows=0, columns=0))


# -- .xlsx ----------------------------------------------------------------------------------------


def _read_xlsx(path: Path, sheet: str | None) -> Grid:
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except Exception as exc:
        raise SpreadsheetError(
            f"{path}: the workbook is damaged or not really a spreadsheet ({_short(exc)}); "
            f"{_RESAVE}"
        ) from exc
    with archive:
        unpacked = sum(info.file_size for info in infos)
        if unpacked > MAX_UNPACKED_BYTES:
            raise SpreadsheetError(
                f"{path}: the workbook unpacks to {_megabytes(unpacked)}, but Chaser reads "
                f"workbooks of at most {_megabytes(MAX_UNPACKED_BYTES)} unpacked; delete the "
                "other sheets and unused rows (or copy the plan's sheet alone to a new "
                "workbook), save, and import again",
                kind="too_large",
            )
        workbook = _open_calamine(path)
        name = _choose_sheet(path, workbook, sheet)
        part = _sheet_part(archive, name)
        if part is None:
            # The workbook's parts do not say which is the sheet (calamine may still find it):
            # every part must then be within the limits.
            for each in archive.namelist():
                if each.lower().endswith(".xml"):
                    found = _scan(_read_part(path, archive, each))
                    if _over(found.reach_rows, found.reach_columns):
                        raise _too_large(
                            path, name, found if _over(found.rows, found.columns) else _reach(found)
                        )
            return _grid(path, name, workbook, _Extent(rows=0, columns=0))
        data = _read_part(path, archive, part)
        extent = _scan(data)
        if _over(extent.rows, extent.columns):
            raise _too_large(path, name, extent)
        _check_text(path, name, archive, data, extent)
        if _over(extent.reach_rows, extent.reach_columns):
            # Only blank cells lie beyond the used range: calamine reads a copy without them.
            trimmed = _without_cells_beyond(data, extent.rows, extent.columns)
            workbook = _open_calamine(path, _repacked(archive, part, trimmed))
    return _grid(path, name, workbook, extent, data)


def _check_text(
    path: Path, sheet: str, archive: zipfile.ZipFile, data: bytes, extent: _Extent
) -> None:
    """The text calamine would make of the sheet, counted before it does: each cell showing a
    shared string holds its own copy (a few kilobytes of .xlsx can show one long string a
    million times), and inline text is at most the sheet's XML."""
    lengths = _shared_lengths(path, archive) if extent.shared else []
    text = len(data) + sum(
        count * lengths[i] for i, count in extent.shared.items() if i < len(lengths)
    )
    if text > MAX_TEXT_CHARS:
        raise _too_much_text(path, sheet, None)


def _too_much_text(path: Path, sheet: str, row: int | None) -> SpreadsheetError:
    reached = f" (row {row + 1} reaches it)" if row is not None else ""
    return SpreadsheetError(
        f"{path}: sheet {sheet!r} holds more than {MAX_TEXT_CHARS:,} characters of text"
        f"{reached}, but a plan needs far fewer; copy the plan alone to a new workbook "
        "(without long notes repeated in every row), save, and import again",
        kind="too_large",
        sheet=sheet,
        row=row + 1 if row is not None else None,
        expected=f"at most {MAX_TEXT_CHARS:,} characters",
    )


def _shared_lengths(path: Path, archive: zipfile.ZipFile) -> list[int]:
    """An upper bound of each shared string's length (its XML's), in calamine's order: it keeps
    only the items holding text or rich text."""
    entry = next((n for n in archive.namelist() if n.lower() == "xl/sharedstrings.xml"), None)
    if entry is None:
        return []
    data = _read_part(path, archive, entry)
    return [
        len(body)
        for m in _SHARED_ITEM.finditer(data)
        if (body := m.group(1) or b"") and _HAS_TEXT.search(body)
    ]


def _reach(extent: _Extent) -> _Extent:
    return _Extent(rows=extent.reach_rows, columns=extent.reach_columns)


def _read_part(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        with archive.open(name) as fh:
            data = fh.read(MAX_UNPACKED_BYTES + 1)
    except Exception as exc:
        raise SpreadsheetError(
            f"{path}: the workbook is damaged ({_short(exc)}); {_RESAVE}"
        ) from exc
    if len(data) > MAX_UNPACKED_BYTES:
        raise SpreadsheetError(
            f"{path}: a sheet unpacks to more than {_megabytes(MAX_UNPACKED_BYTES)}; copy the "
            "plan's sheet alone to a new workbook, save, and import again",
            kind="too_large",
        )
    return data


def _repacked(archive: zipfile.ZipFile, part: str, data: bytes) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in archive.infolist():
            copy.writestr(info.filename, data if info.filename == part else archive.read(info))
    out.seek(0)
    return out


def _grid(path: Path, name: str, workbook: Any, extent: _Extent, data: bytes | None = None) -> Grid:
    """The sheet calamine reads; ``data``, the sheet's XML when it was found, gives the date
    cells' formats."""
    rows: list[list[object]] = []
    try:
        cal_sheet = workbook.get_sheet_by_name(name)
        start, end = cal_sheet.start, cal_sheet.end
        if end is not None and _over(end[0] + 1, end[1] + 1):
            raise _too_large(path, name, _Extent(rows=end[0] + 1, columns=end[1] + 1))
        # Row by row, so that text repeated from the shared strings is counted before it fills
        # the memory (a few kilobytes of .xlsx can name one long string a million times).
        text = 0
        for r, cells in enumerate(cal_sheet.iter_rows()):
            row: list[object] = [None if v == "" else v for v in cells]
            lengths = [len(v) for v in row if isinstance(v, str)]
            text += sum(lengths)
            if lengths and max(lengths) > MAX_CELL_CHARS:
                for c, v in enumerate(row):
                    if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                        raise _cell_too_long(
                            path, name, r, c + (start[1] if start else 0), len(v), v
                        )
            if text > MAX_TEXT_CHARS:
                raise _too_much_text(path, name, r)
            rows.append(row)
        merged_raw = cal_sheet.merged_cell_ranges or []
    except SpreadsheetError:
        raise
    except Exception as exc:
        raise SpreadsheetError(
            f"{path}: sheet {name!r} could not be read ({_short(exc)}); {_RESAVE}"
        ) from exc
    if start is not None and end is not None:
        # iter_rows starts at the first column holding a value (and, in some versions, row).
        if start[0] and len(rows) == end[0] - start[0] + 1:
            rows[:0] = [[] for _ in range(start[0])]
        if start[1]:
            for i, row in enumerate(rows):
                rows[i] = [None] * start[1] + row
    height, width = len(rows), max((len(row) for row in rows), default=0)
    errors = {k: v for k, v in extent.errors.items() if k[0] < height and k[1] < width}
    formulas = {k: v for k, v in extent.formulas.items() if k[0] < height and k[1] < width}
    _trim(rows, {*errors, *formulas})
    height, width = len(rows), len(rows[0]) if rows else 0
    merged = [((a[0], a[1]), (b[0], b[1])) for a, b in merged_raw]
    _fill_merges(path, name, rows, merged)
    grid = Grid(source=str(path), sheet=name, rows=rows, merged=merged)
    grid.errors = {k: v for k, v in errors.items() if k[0] < height and k[1] < width}
    grid.formulas = {k: v for k, v in formulas.items() if k[0] < height and k[1] < width}
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        grid.date_formats = _date_formats(path, name, rows, data, plain=extent.plain)
    return grid


def _trim(rows: list[list[object]], keep: set[tuple[int, int]]) -> None:
    """Drop trailing empty rows and columns (but not the cells in ``keep``); pad every row to
    the same width."""
    height = max((r + 1 for r, _ in keep), default=0)
    while len(rows) > height and all(v is None for v in rows[-1]):
        rows.pop()
    width = max((c + 1 for _, c in keep), default=0)
    for row in rows:
        last = len(row)
        while last > width and row[last - 1] is None:
            last -= 1
        width = max(width, last)
    for row in rows:
        del row[width:]
        row.extend([None] * (width - len(row)))


def _fill_merges(
    path: Path,
    sheet: str,
    rows: list[list[object]],
    merged: list[tuple[tuple[int, int], tuple[int, int]]],
) -> None:
    budget = MAX_CELLS  # merges do not overlap in a sound workbook, so they cover the grid once
    for (r0, c0), (r1, c1) in merged:
        if r0 >= len(rows) or r0 < 0 or c0 < 0:
            continue
        value = rows[r0][c0] if c0 < len(rows[r0]) else None
        last_row = min(r1, len(rows) - 1)
        for r in range(r0, last_row + 1):
            last_col = min(c1, len(rows[r]) - 1)
            budget -= max(0, last_col - c0 + 1)
            if budget < 0:
                raise SpreadsheetError(
                    f"{path}: sheet {sheet!r} has overlapping merged cells (more merged cells "
                    f"than the sheet has); unmerge them (Home > Merge & Center > Unmerge "
                    "Cells), save, and import again",
                    sheet=sheet,
                )
            for c in range(c0, last_col + 1):
                if rows[r][c] is None:
                    rows[r][c] = value


def _date_formats(
    path: Path, sheet: str, rows: list[list[object]], data: bytes | None, *, plain: bool
) -> dict[tuple[int, int], str]:
    """Number formats of the cells calamine returned as dates, the formats openpyxl would give.

    Read from the sheet's XML already in hand, ``data`` (each date cell's style id, ``s``), and
    the workbook's styles (streamed): no second pass over the sheet through openpyxl, which would
    take longer than the whole rest of the import. Only a workbook whose sheet part was not
    found falls back to openpyxl. A workbook whose styles cannot be read keeps its dates, read
    to the day."""
    wanted = {
        (r, c)
        for r, row in enumerate(rows)
        for c, v in enumerate(row)
        if isinstance(v, (date, datetime))
    }
    if not wanted:
        return {}
    if data is None:
        return _date_formats_by_openpyxl(path, sheet, wanted)
    try:
        with zipfile.ZipFile(path) as archive:
            styles = _cell_formats(archive)
    except Exception:
        return {}
    formats: dict[tuple[int, int], str] = {}
    for key, style in _style_ids(data, wanted, plain=plain):
        if 0 <= style < len(styles):
            formats[key] = styles[style]
    return formats


#: Excel's built-in number formats, as openpyxl names them (``openpyxl.styles.numbers``); an
#: id missing here (23–36 are the locale's own) reads as "General", as in openpyxl.
_BUILTIN_FORMATS = {
    0: "General",
    1: "0",
    2: "0.00",
    3: "#,##0",
    4: "#,##0.00",
    5: '"$"#,##0_);("$"#,##0)',
    6: '"$"#,##0_);[Red]("$"#,##0)',
    7: '"$"#,##0.00_);("$"#,##0.00)',
    8: '"$"#,##0.00_);[Red]("$"#,##0.00)',
    9: "0%",
    10: "0.00%",
    11: "0.00E+00",
    12: "# ?/?",
    13: "# ??/??",
    14: "mm-dd-yy",
    15: "d-mmm-yy",
    16: "d-mmm",
    17: "mmm-yy",
    18: "h:mm AM/PM",
    19: "h:mm:ss AM/PM",
    20: "h:mm",
    21: "h:mm:ss",
    22: "m/d/yy h:mm",
    37: "#,##0_);(#,##0)",
    38: "#,##0_);[Red](#,##0)",
    39: "#,##0.00_);(#,##0.00)",
    40: "#,##0.00_);[Red](#,##0.00)",
    41: '_(* #,##0_);_(* \\(#,##0\\);_(* "-"_);_(@_)',
    42: '_("$"* #,##0_);_("$"* \\(#,##0\\);_("$"* "-"_);_(@_)',
    43: '_(* #,##0.00_);_(* \\(#,##0.00\\);_(* "-"??_);_(@_)',
    44: '_("$"* #,##0.00_)_("$"* \\(#,##0.00\\)_("$"* "-"??_)_(@_)',
    45: "mm:ss",
    46: "[h]:mm:ss",
    47: "mmss.0",
    48: "##0.0E+0",
    49: "@",
}


def _cell_formats(archive: zipfile.ZipFile) -> list[str]:
    """The number format of each cell style (``cellXfs``, by style id) in ``xl/styles.xml``,
    streamed (its size is only bounded by the unpacked limit): a custom format (``numFmts``)
    by its id, else Excel's built-in one."""
    entry = next((n for n in archive.namelist() if n.lower() == "xl/styles.xml"), None)
    if entry is None:
        return ["General"]  # openpyxl's default stylesheet has the one plain style
    custom: dict[int, str] = {}
    ids: list[int] = []
    inside = {"numFmts": 0, "cellXfs": 0}  # conditional formats (dxf) have numFmts of their own
    with archive.open(entry) as fh:
        for event, el in ElementTree.iterparse(fh, events=("start", "end")):
            tag = _local(el.tag)
            if tag in inside:
                inside[tag] += 1 if event == "start" else -1
                continue
            if event == "start":
                continue
            if tag == "numFmt" and inside["numFmts"]:
                number = _int(el.get("numFmtId"))
                if number is not None:
                    custom[number] = el.get("formatCode", "")
            elif tag == "xf" and inside["cellXfs"]:
                ids.append(_int(el.get("numFmtId")) or 0)
            el.clear()
    return [custom[i] if i in custom else _BUILTIN_FORMATS.get(i, "General") for i in ids]


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _style_ids(
    data: bytes, wanted: set[tuple[int, int]], *, plain: bool
) -> Iterator[tuple[tuple[int, int], int]]:
    """The style id (``s``, 0 if none) of each cell of ``wanted`` the sheet's XML holds;
    ``plain``: the scan found every cell written the usual way."""
    if plain:
        # Only the cells of the columns holding dates are matched at all (a plan has one or
        # two such columns of a dozen or more).
        letters = sorted({column_letter(c) for _, c in wanted}, key=len, reverse=True)
        cell = re.compile(
            rb'<c\sr="(' + b"|".join(x.encode() for x in letters) + rb')([0-9]{1,7})"([^>]*)'
        )
        for m in cell.finditer(data):
            key = (int(m.group(2)) - 1, _column_index(m.group(1)))
            if key in wanted:
                found = _STYLE.search(m.group(3))
                yield key, int(found.group(1)) if found else 0
        return
    for _, _, r, c, attrs, _ in _cells(data):
        if (r, c) in wanted:
            found = _STYLE.search(attrs)
            yield (r, c), int(found.group(1)) if found else 0


def _date_formats_by_openpyxl(
    path: Path, sheet: str, wanted: set[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """One openpyxl read-only pass over the rows and columns holding ``wanted``."""
    from openpyxl import load_workbook

    formats: dict[tuple[int, int], str] = {}
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:
        return {}
    try:
        ws = workbook[sheet]
        for cells in ws.iter_rows(
            min_row=min(r for r, _ in wanted) + 1,
            max_row=max(r for r, _ in wanted) + 1,
            min_col=min(c for _, c in wanted) + 1,
            max_col=max(c for _, c in wanted) + 1,
        ):
            for cell in cells:
                row = getattr(cell, "row", None)
                col = getattr(cell, "column", None)
                if row is None or col is None:
                    continue
                key = (row - 1, col - 1)
                if key in wanted:
                    formats[key] = str(cell.number_format)
    except Exception:
        return {}
    finally:
        workbook.close()
    return formats


# -- the sheet XML --------------------------------------------------------------------------------


@dataclass
class _Extent:
    """What a scan of a sheet's XML found."""

    #: The used range of cells holding a value (1 + the last row, 1 + the last column).
    rows: int
    columns: int
    #: The range calamine would build: also cells holding an empty text.
    reach_rows: int = 0
    reach_columns: int = 0
    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)
    #: The first cells beyond MAX_ROWS or MAX_COLUMNS holding a value, and how many there are.
    strays: list[tuple[int, int]] = field(default_factory=list)
    stray_count: int = 0
    #: The used range of the cells within the limits.
    inside_rows: int = 0
    inside_columns: int = 0
    #: How many cells show each shared string, by its index.
    shared: collections.Counter[int] = field(default_factory=collections.Counter)
    #: Every cell is written the usual way (`<c r="B7" …`), so the fast patterns find them all.
    plain: bool = False


_NS = rb"(?:[A-Za-z_][\w.-]*:)?"
#: Every cell written the usual way: `<c r="B7" …` (Excel, openpyxl, LibreOffice).
_FAST_CELL = re.compile(rb'<c\sr="([A-Z]{1,3})([0-9]{1,7})"')
#: Any cell written otherwise: with a namespace prefix, without `r`, or with `r` not first.
_ODD_CELL = re.compile(rb'<[A-Za-z_][\w.-]*:c[\s/>]|<c(?:[>/]|\s(?!r="[A-Z]{1,3}[0-9]{1,7}"))')
_STYLE = re.compile(rb"""(?:^|\s)s\s*=\s*["']\s*([0-9]{1,9})\s*["']""")
_FAST_ERROR = re.compile(
    rb'<c\sr="([A-Z]{1,3})([0-9]{1,7})"[^>]*?\st="e"[^>]*?(?<!/)>(.*?)</c>', re.S
)
_FAST_FORMULA = re.compile(
    rb'<c\sr="([A-Z]{1,3})([0-9]{1,7})"([^>]*?)(?<!/)>\s*<f\b[^>]*?(?:/>|>([^<]*)</f>)'
    rb"\s*(<v\s*/>|<v>\s*</v>)?\s*</c>"
)
_FAST_SHARED = re.compile(
    rb'<c\sr="[A-Z]{1,3}[0-9]{1,7}"[^>]*?\st="s"[^>]*?(?<!/)>\s*<v>\s*([0-9]{1,9})\s*</v>'
)
_TOKEN = re.compile(
    rb"<" + _NS + rb"(?:row(?=[\s>/])([^>]*)>|c(?=[\s>/])([^>]*?)(?:/>|>(.*?)</" + _NS + rb"c>))",
    re.S,
)
_ROW_R = re.compile(rb"""(?:^|\s)r\s*=\s*["']\s*([0-9]+)\s*["']""")
_CELL_R = re.compile(rb"""(?:^|\s)r\s*=\s*["']\s*([A-Za-z]+)([0-9]+)\s*["']""")
_TYPE = re.compile(rb"""(?:^|\s)t\s*=\s*["']([^"']*)["']""")
_VALUE = re.compile(rb"<" + _NS + rb"v(?:\s[^>]*)?(?:/>|>([^<]*)</" + _NS + rb"v>)")
_INLINE = re.compile(rb"<" + _NS + rb"is[\s>/]")
_TEXT = re.compile(rb"<" + _NS + rb"t(?:\s[^>/]*)?>([^<]*)</" + _NS + rb"t>")
_FORMULA = re.compile(rb"<" + _NS + rb"f(?:\s[^>]*)?(?:/>|>([^<]*)</" + _NS + rb"f>)")
_SHARED_ITEM = re.compile(rb"<" + _NS + rb"si(?=[\s>/])[^>]*?(?:/>|>(.*?)</" + _NS + rb"si>)", re.S)
_HAS_TEXT = re.compile(rb"<" + _NS + rb"[tr](?=[\s>/])")


def _column_index(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ch - 64)
    return n - 1


def _xml_text(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8", errors="replace"))


def _scan(data: bytes) -> _Extent:
    """The used range of a sheet's XML, and its error and uncalculated formula cells."""
    if _ODD_CELL.search(data) is None:
        found = _FAST_CELL.findall(data)
        rows = max((int(r) for r in {r for _, r in found}), default=0)
        columns = max((_column_index(c) + 1 for c in {c for c, _ in found}), default=0)
        if not _over(rows, columns):
            extent = _Extent(
                rows=rows, columns=columns, reach_rows=rows, reach_columns=columns, plain=True
            )
            if b't="e"' in data:
                for m in _FAST_ERROR.finditer(data):
                    value = _VALUE.search(m.group(3))
                    if value is not None and value.group(1):
                        key = (int(m.group(2)) - 1, _column_index(m.group(1)))
                        extent.errors[key] = _xml_text(value.group(1))
            if b't="s"' in data:
                extent.shared.update(int(i) for i in _FAST_SHARED.findall(data))
            if b"<f" in data:
                for m in _FAST_FORMULA.finditer(data):
                    kind = _TYPE.search(m.group(3))
                    if m.group(5) is not None and kind is not None and kind.group(1) != b"n":
                        continue  # a text formula whose result is empty
                    key = (int(m.group(2)) - 1, _column_index(m.group(1)))
                    extent.formulas[key] = _formula_text(m.group(4))
            return extent
    return _precise_scan(data)


def _formula_text(raw: bytes | None) -> str:
    return f"={_xml_text(raw).strip()}" if raw and raw.strip() else "a shared formula"


def _cells(data: bytes) -> Iterator[tuple[int, int, int, int, bytes, bytes | None]]:
    """Every cell of a sheet's XML: its span, zero-based row and column, attributes and body."""
    row, col = -1, -1
    for m in _TOKEN.finditer(data):
        row_attrs = m.group(1)
        if row_attrs is not None:
            found = _ROW_R.search(row_attrs)
            row = int(found.group(1)) - 1 if found else row + 1
            col = -1
            continue
        attrs = m.group(2)
        ref = _CELL_R.search(attrs)
        if ref is not None:
            r, c = int(ref.group(2)) - 1, _column_index(ref.group(1))
        else:
            r, c = row, col + 1
        r, c = max(r, 0), max(c, 0)
        col = c
        yield m.start(), m.end(), r, c, attrs, m.group(3)


def _precise_scan(data: bytes) -> _Extent:
    extent = _Extent(rows=0, columns=0)
    for _, _, r, c, attrs, body in _cells(data):
        if not body:
            continue
        kind_found = _TYPE.search(attrs)
        kind = kind_found.group(1) if kind_found else b"n"
        value_found = _VALUE.search(body)
        value = (value_found.group(1) or b"") if value_found else None
        inline = _INLINE.search(body) is not None
        formula = _FORMULA.search(body)
        if kind == b"s" and value is not None and value.strip().isdigit():
            extent.shared[int(value.strip()[:9])] += 1
        if inline or (value is not None and (value.strip() or kind not in (b"n", b""))):
            extent.reach_rows = max(extent.reach_rows, r + 1)
            extent.reach_columns = max(extent.reach_columns, c + 1)
        if kind == b"e" and value:
            filled = True
        elif inline:
            filled = bool(b"".join(_TEXT.findall(body)).strip())
        else:
            filled = value is not None and bool(value.strip())
        if formula is not None and (value is None or (not value.strip() and kind in (b"n", b""))):
            extent.formulas[(r, c)] = _formula_text(formula.group(1))
        if not filled:
            continue
        if kind == b"e" and value:
            extent.errors[(r, c)] = _xml_text(value)
        extent.rows = max(extent.rows, r + 1)
        extent.columns = max(extent.columns, c + 1)
        if r >= MAX_ROWS or c >= MAX_COLUMNS:
            extent.stray_count += 1
            if len(extent.strays) < 3:
                extent.strays.append((r, c))
        else:
            extent.inside_rows = max(extent.inside_rows, r + 1)
            extent.inside_columns = max(extent.inside_columns, c + 1)
    return extent


def _without_cells_beyond(data: bytes, rows: int, columns: int) -> bytes:
    """The sheet's XML without the cells outside its used range (all of them blank)."""
    out: list[bytes] = []
    last = 0
    for start, end, r, c, _, _ in _cells(data):
        if r >= rows or c >= columns:
            out.append(data[last:start])
            last = end
    out.append(data[last:])
    return b"".join(out)


def _sheet_part(archive: zipfile.ZipFile, name: str) -> str | None:
    """The zip entry holding sheet ``name``'s XML, found the way calamine finds it (so the part
    scanned is the part it reads): ``xl/workbook.xml``, its relationships in
    ``xl/_rels/workbook.xml.rels``, entry names matched whatever their case. None if they do not
    say."""
    entries: dict[str, str] = {}
    for entry in archive.namelist():
        entries.setdefault(entry.lower(), entry)

    def read(part: str) -> ElementTree.Element | None:
        found = entries.get(part.lower())
        return ElementTree.fromstring(archive.read(found)) if found is not None else None

    try:
        rels = read("xl/_rels/workbook.xml.rels")
        book = read("xl/workbook.xml")
        if rels is None or book is None:
            return None
        targets = {
            el.get("Id", ""): el.get("Target", "")
            for el in rels.iter()
            if _local(el.tag) == "Relationship"
        }
        for el in book.iter():
            if _local(el.tag) != "sheet" or el.get("name") != name:
                continue
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
            target = targets.get(rid) if rid is not None else None
            if target is None:
                return None
            if target.startswith("/xl/"):
                target = target[1:]
            elif not target.startswith("xl/"):
                target = f"xl/{target}"
            return entries.get(target.lower())
    except (ElementTree.ParseError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# -- helpers --------------------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _shorten(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _short(exc: BaseException) -> str:
    """The exception in a few words: its type (calamine's messages can be one word) and the first
    line of its message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:120]
