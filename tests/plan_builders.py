"""Small workbooks and mappings for import tests, written the way councils write them."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook

SMALL_MAPPING = """\
name: small
plan:
  code: small-plan
  title: A small plan
sheet: Plan
header:
  contains: [Ref, Action]
  search_rows: 10
columns:
  area: Priority
  ref: Ref
  title: Action
  lead: Lead
  due: Due
  status: RAG
  progress: Progress
required: [title, lead, due]
fill_down: [area]
status_scale:
  name: RAG
  values:
    - {value: Blue, label: Complete and embedded, meaning: complete, embedded: true}
    - {value: Green, label: Complete, meaning: complete}
    - {value: Amber, label: On track, meaning: on_track}
    - {value: Red, label: Off track, meaning: off_track}
"""

HEADER = ["Priority", "Ref", "Action", "Lead", "Due", "RAG", "Progress"]


def csv_rows(path: Path) -> list[dict[str, str]]:
    """A CSV plan's rows, by header (the sample plan's, to edit and write back)."""
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """``rows`` (as :func:`csv_rows` gives them) as a CSV plan at ``path``."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_mapping(folder: Path, text: str = SMALL_MAPPING) -> Path:
    path = folder / "small.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_workbook(
    path: Path,
    rows: list[list[Any]],
    *,
    header: list[str] | None = None,
    title_rows: int = 1,
    sheet: str = "Plan",
    merges: list[str] | None = None,
    number_formats: dict[str, str] | None = None,
) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for i in range(title_rows):
        ws.append([f"Improvement plan – title row {i + 1}"])
    if header is None:
        header = HEADER
    if header:
        ws.append(header)
    for row in rows:
        ws.append(row)
    for rng in merges or []:
        ws.merge_cells(rng)
    for cell, fmt in (number_formats or {}).items():
        ws[cell].number_format = fmt
    wb.save(path)
    return path
