"""A table in a grid read through a header rule and a column map, as plan mappings do: the
header row is the first holding every header of ``header.contains`` (title rows above it are
skipped), columns are found by header text (however cased or spaced) or letter. Shared by the
scorecard and the risk register readers."""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from dataclasses import dataclass

from workflows.plan.mapping import ColumnRef, HeaderRule, normalise_header
from workflows.plan.reading import PlanReadError, Problem, clean_text
from workflows.plan.sheet import Grid, column_letter


class TableError(PlanReadError):
    """The file is not a table in this layout; each problem names the file, row and fix."""


@dataclass(frozen=True)
class TableRow:
    number: int  # 1-based, as Excel shows it
    cells: dict[str, object]  # field -> raw value
    row: list[object]  # the whole row, raw


@dataclass(frozen=True)
class Table:
    sheet: str
    header_row: int  # 1-based
    columns: dict[str, int]  # field -> zero-based column
    headers: list[object]  # the header row's raw cells
    rows: list[TableRow]

    def where(self, field: str, row: TableRow) -> tuple[str, str]:
        """(column letter, header text) of ``field``."""
        i = self.columns.get(field)
        if i is None:
            return "", ""
        return column_letter(i), clean_text(self.headers[i])


def _letter_index(letter: str) -> int:
    n = 0
    for ch in letter.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def read_table(
    grid: Grid, header: HeaderRule, columns: MappingType[str, ColumnRef], *, layout: str
) -> Table:
    """The header row, the mapped columns and every non-blank row below."""
    wanted = [normalise_header(h) for h in header.contains]
    limit = min(header.search_rows, len(grid.rows))
    found = None
    for r in range(limit):
        present = {normalise_header(v) for v in grid.rows[r] if v is not None}
        if all(w in present for w in wanted):
            found = r
            break
    quoted = ", ".join(repr(h) for h in header.contains)
    if found is None:
        raise TableError(
            [
                Problem(
                    kind="no_header_row",
                    sheet=grid.sheet,
                    message=(
                        f"no row in the first {limit} rows of sheet {grid.sheet!r} holds the "
                        f"headers {quoted}; this file is not in the {layout!r} layout: pass "
                        "--mapping for its layout, or fix `header.contains` in the mapping"
                    ),
                    expected=quoted,
                )
            ]
        )
    names = [normalise_header(v) for v in grid.rows[found]]
    cols: dict[str, int] = {}
    problems: list[Problem] = []
    for name, ref in columns.items():
        index: int | None = None
        if ref.letter:
            index = _letter_index(ref.letter)
        else:
            index = next(
                (
                    names.index(normalise_header(h))
                    for h in ref.headers
                    if normalise_header(h) in names
                ),
                None,
            )
        if index is None:
            shown = ", ".join(repr(clean_text(v)) for v in grid.rows[found] if v is not None)
            problems.append(
                Problem(
                    kind="missing_column",
                    sheet=grid.sheet,
                    row=found + 1,
                    message=(
                        f"column {' or '.join(repr(h) for h in ref.headers) or ref.letter} "
                        f"(field `{name}`) is not in the header row {found + 1}; the row has "
                        f"{shown}; fix columns.{name} in the mapping or pass --mapping for this "
                        "layout"
                    ),
                    expected=", ".join(ref.headers),
                )
            )
        else:
            cols[name] = index
    if problems:
        raise TableError(problems)
    rows: list[TableRow] = []
    for r in range(found + 1, len(grid.rows)):
        raw = grid.rows[r]
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in raw):
            continue
        cells = {name: (raw[i] if i < len(raw) else None) for name, i in cols.items()}
        rows.append(TableRow(number=r + 1, cells=cells, row=list(raw)))
    return Table(
        sheet=grid.sheet,
        header_row=found + 1,
        columns=cols,
        headers=list(grid.rows[found]),
        rows=rows,
    )


def text(value: object) -> str:
    return clean_text(value).strip()
