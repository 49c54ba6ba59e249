"""Fuzzing `chaser plan import`: whatever the file holds, the import returns an outcome.

Generated workbooks (every kind of cell calamine returns: times, durations, booleans, floats,
huge integers, long and control-character text, formulas, Excel errors; random headers, merges,
stray far cells), CSV files (random encodings, quotes, NUL bytes, huge fields, blank rows) and
random or damaged bytes go through the real :func:`chaser.importing.import_plan` into a SQLite
store. The property: no exception escapes; the outcome has errors (each one line naming the file)
or a merge; what was stored is text PostgreSQL keeps and JSON the CLI can print.

The seed is fixed (``derandomize``) and the budget small, so this runs the same way in CI in a
few seconds. ``bench/fuzz_workbooks.py`` runs the same generators over 10,000 inputs.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import ImportOutcome, import_people, import_plan
from tests.conftest import NOW, PEOPLE_CSV
from tests.plan_builders import HEADER, SMALL_MAPPING
from workflows.plan.mapping import Mapping, load_mapping
from workflows.plan.sheet import EXCEL_ERRORS, has_control_characters
from workflows.store.db import make_engine, upgrade
from workflows.store.models import Action, Area, ImportedRow, Milestone

# -- what goes in the cells -------------------------------------------------------------------

_CONTROL = "\x00\x01\x07\x08\x0b\x0c\x1b\x1f\x7f"
_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),  # no surrogates: no file holds them
        st.sampled_from(_CONTROL),
    ),
    max_size=40,
)
_PLAUSIBLE = st.sampled_from(
    [
        "1.1",
        "1.10",
        "2.5",
        "P0-01",
        "Priority 1",
        "PRIORITY ACTION AREA I",
        "3. To identify need early",
        "Area three",
        "Head of SEND (AP)",
        "DCS PCC (DH) with Head of Service (CDT)\nand Head of SEND (AP),",
        "Virtual School lead",
        "March 2024",
        "Feb-23",
        "24-Apr",
        "1/5/2026",
        "TBC",
        "Completed",
        "1) April 2024\n2) December 2023",
        "Q5 2024",
        "31/02/2024",
        "10:30",
        "Blue",
        "Green",
        "Amber",
        "Red",
        "Purple",
        "<p>Work is <br>under way</p>&amp;",
        "   ",
        "",
        "-",
    ]
)
_LONG = st.sampled_from([40, 200, 33_000]).map(lambda n: "x" * n) | st.integers(33, 64).map(
    lambda n: "1." + "7" * n
)
_FORMULAS = st.sampled_from(["=1/0", "=SUM(A1:A3)", '=EDATE("2024-01-31",2)', "=", '="x"'])
_ERRORS = st.sampled_from(sorted(EXCEL_ERRORS))
_CELLS = st.one_of(
    st.none(),
    st.none(),
    _PLAUSIBLE,
    _PLAUSIBLE,
    _ANY_TEXT,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, 2024, 45382, 1.1, 1.10, 45382.5, 1e300, -1e-300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(min_value=datetime(1900, 3, 1)),
    st.times(),
    st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=40_000)),
    _FORMULAS,
    _ERRORS,
    _LONG,
)


@dataclass(frozen=True)
class Sample:
    """One generated input: a file name (its suffix picks the reader) and its bytes."""

    name: str
    data: bytes
    summary: str

    def __repr__(self) -> str:  # hypothesis prints failing examples this way
        return f"Sample({self.name!r}, {len(self.data):,} bytes: {self.summary})"


def _xlsx_value(value: object) -> object:
    """``value`` as openpyxl can write it: the control characters it refuses become the OOXML
    escapes (``_x0000_``) that calamine turns back into them."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub(lambda m: f"_x{ord(m.group(0)):04X}_", value)
    if isinstance(value, float) and value != value:
        return None
    return value


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


_HEADERS = st.one_of(
    st.permutations(HEADER).map(list),
    st.lists(st.one_of(st.sampled_from(HEADER), _ANY_TEXT, st.none()), max_size=9),
    st.permutations(HEADER).flatmap(
        lambda h: st.lists(_CELLS, max_size=3).map(lambda extra: [*h, *extra])
    ),
)
_ROWS = st.lists(st.lists(_CELLS, max_size=9), max_size=12)
_FAR = st.one_of(
    st.none(),
    st.none(),
    st.tuples(
        st.one_of(st.just(1_048_576), st.integers(1, 60_000), st.just(50_001)),
        st.one_of(st.just(16_384), st.integers(1, 300), st.just(201)),
        st.sampled_from([" ", "", "stray", 1, "#N/A", "=1+1", None]),
    ),
)
_MERGES = st.lists(
    st.tuples(st.integers(1, 15), st.integers(1, 9), st.integers(0, 3), st.integers(0, 4)),
    max_size=3,
)


@st.composite
def workbooks(draw: st.DrawFn) -> Sample:
    """An .xlsx written by openpyxl: title rows, a header row, actions, merges, a far cell."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = draw(st.sampled_from(["Plan", "Plan", "Plan", "Sheet1"]))
    titles = draw(st.lists(_CELLS, max_size=3))
    for title in titles:
        ws.append([_xlsx_value(title)])
    header = draw(_HEADERS)
    ws.append([_xlsx_value(h) for h in header])
    rows = draw(_ROWS)
    for row in rows:
        ws.append([_xlsx_value(v) for v in row])
    merges = draw(_MERGES)
    for r, c, h, w in merges:
        ws.merge_cells(start_row=r, start_column=c, end_row=r + h, end_column=c + w)
    far = draw(_FAR)
    if far is not None:
        r, c, value = far
        if value is None:
            ws.cell(row=r, column=c).number_format = "0.00"
        else:
            ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    summary = (
        f"xlsx, sheet {ws.title!r}, {len(titles)} title rows, header {header!r:.80}, "
        f"{len(rows)} rows, merges {merges}, far cell {far}"
    )
    return Sample("plan.xlsx", out.getvalue(), summary)


@st.composite
def csv_files(draw: st.DrawFn) -> Sample:
    """A CSV as Excel and other programs export them, and as they arrive damaged."""
    header = [_csv_value(h) for h in draw(_HEADERS)]
    rows = [[_csv_value(v) for v in row] for row in draw(_ROWS)]
    text = io.StringIO()
    writer = csv.writer(
        text,
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        lineterminator=draw(st.sampled_from(["\r\n", "\n", "\r"])),
    )
    writer.writerow(header)
    writer.writerows(rows)
    body = text.getvalue()
    damage = draw(
        st.sampled_from(
            ["none", "none", "none", "open quote", "huge field", "blank rows", "wide", "nul"]
        )
    )
    if damage == "open quote":
        body += 'Priority 1,1.9,"never closed\n' + body
    elif damage == "huge field":
        body += f"Priority 1,1.9,{'y' * 140_000},AP,March 2024,Amber,\n"
    elif damage == "blank rows":
        body += ",,,,,,\n" * draw(st.integers(1, 3000)) + "Priority 1,1.9,Late,AP,TBC,Red,\n"
    elif damage == "wide":
        body += ",".join(["z"] * draw(st.integers(150, 260))) + "\n"
    elif damage == "nul":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + "\x00" * draw(st.integers(1, 3)) + body[at:]
    encoding = draw(
        st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"])
    )
    data = body.encode(encoding, errors="replace")
    summary = f"csv, {encoding}, damage {damage}, header {header!r:.80}, {len(rows)} rows"
    return Sample("plan.csv", data, summary)


def _base_workbook() -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Plan"
    ws.append(HEADER)
    ws.append(
        ["Priority 1", "1.1", "Write the strategy", "Head of SEND (AP)", "March 2024", "Amber"]
    )
    ws.append(["Priority 1", "1.2", "Publish it", "Head of SEND (AP)", date(2024, 3, 31), "Red"])
    ws["E3"].number_format = "mmm-yy"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


_BASE = _base_workbook()
_SHEET = "xl/worksheets/sheet1.xml"

#: Cells as other programs write them: no `r`, `r` not first, single quotes, prefixes, odd refs.
_ODD_CELLS = st.lists(
    st.sampled_from(
        [
            '<c t="inlineStr"><is><t>no ref</t></is></c>',
            "<c t='inlineStr' r='C3'><is><t>quoted</t></is></c>",
            '<x:c r="D3" t="inlineStr"><x:is><x:t>prefixed</x:t></x:is></x:c>',
            '<c r="A0"><v>1</v></c>',
            '<c r="a5"><v>2</v></c>',
            '<c r="XFD1048576" t="inlineStr"><is><t> </t></is></c>',
            '<c r="XFD1048576"><v>3</v></c>',
            '<c r="ZZZZ9"><v>4</v></c>',
            '<c r="B99999999"><v>5</v></c>',
            '<c r="E3" t="e"><v>#REF!</v></c>',
            '<c r="E3" t="s"><v>999</v></c>',
            '<c r="E3" t="b"><v>2</v></c>',
            '<c r="E3" t="d"><v>not a date</v></c>',
            '<c r="E3"><f>SUM(A1:A2)</f></c>',
            '<c r="E3" t="str"><f>"x"</f><v></v></c>',
            '<c r="F3"><v>NaN</v></c>',
            '<c r="F3"><v>inf</v></c>',
            '<c r="F3"><v>1e999</v></c>',
            '<c r="F3" s="999"><v>45382</v></c>',
            '<c r="F3" t="inlineStr"><is><t>a_x0000_b</t></is></c>',
            "<c>",
            "</row><row>",
            '<row r="0">',
            '<row r="99999999">',
        ]
    ),
    max_size=6,
)


@st.composite
def damaged_files(draw: st.DrawFn) -> Sample:
    """Random bytes under a spreadsheet's name, and a sound workbook damaged in small ways."""
    how = draw(
        st.sampled_from(
            ["random", "cfb", "truncated", "bytes flipped", "odd sheet xml", "part replaced"]
        )
    )
    name = "plan.xlsx"
    if how == "random":
        name = "plan" + draw(st.sampled_from([".xlsx", ".xlsm", ".xls", ".csv"]))
        data = draw(st.binary(max_size=3000))
    elif how == "cfb":
        name = "plan.xls"
        data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + draw(st.binary(min_size=0, max_size=3000))
    elif how == "truncated":
        data = _BASE[: draw(st.integers(0, len(_BASE)))]
    elif how == "bytes flipped":
        raw = bytearray(_BASE)
        for at, byte in draw(
            st.lists(
                st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1, max_size=8
            )
        ):
            raw[at] = byte
        data = bytes(raw)
    else:
        with zipfile.ZipFile(io.BytesIO(_BASE)) as zin:
            parts = {i.filename: zin.read(i) for i in zin.infolist()}
        if how == "odd sheet xml":
            xml = parts[_SHEET].decode()
            cells = "".join(draw(_ODD_CELLS))
            xml = xml.replace("</row></sheetData>", f"{cells}</row></sheetData>")
            xml = xml.replace(
                "<worksheet ",
                '<worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ',
                1,
            )
            parts[_SHEET] = xml.encode()
        else:
            part = draw(st.sampled_from(sorted(parts)))
            parts[part] = draw(
                st.one_of(
                    st.binary(max_size=200),
                    st.sampled_from([b"", b"<x>", b"<?xml version='1.0'?><worksheet/>"]),
                )
            )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zout:
            for part, data in parts.items():
                zout.writestr(part, data)
        data = out.getvalue()
    return Sample(name, data, f"damaged: {how}")


def samples() -> st.SearchStrategy[Sample]:
    """Every kind of input, as the long run (bench/fuzz_workbooks.py) mixes them."""
    return st.one_of(workbooks(), workbooks(), csv_files(), damaged_files())


# -- the property -----------------------------------------------------------------------------


@dataclass
class Store:
    engine: Engine
    folder: Path
    mapping: Mapping
    count: int = 0


def make_store(folder: Path) -> Store:
    """A migrated SQLite store with the Plymouth people in it, and the small plan mapping."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{folder / 'fuzz.db'}")
    upgrade(engine)
    import_people(engine, PEOPLE_CSV, now=NOW)
    mapping_file = folder / "small.yaml"
    mapping_file.write_text(SMALL_MAPPING, encoding="utf-8")
    return Store(engine, folder, load_mapping(mapping_file))


def import_sample(store: Store, sample: Sample) -> ImportOutcome:
    """Import ``sample`` into a plan of its own and check what the import says and stores; any
    exception is the fault the fuzzing looks for. Every third sample is imported twice, the
    second time as a re-import of the same file (the merge's path); every fifth is a dry run."""
    store.count += 1
    path = store.folder / f"input-{store.count % 4}-{sample.name}"
    path.write_bytes(sample.data)
    for _ in range(2 if store.count % 3 == 0 else 1):
        outcome = _import_once(store, path)
    return outcome


def _import_once(store: Store, path: Path) -> ImportOutcome:
    outcome = import_plan(
        store.engine,
        path,
        mapping=store.mapping,
        now=NOW,
        plan_code=f"fuzz-{store.count}",
        dry_run=store.count % 5 == 0,
    )
    assert isinstance(outcome, ImportOutcome)
    assert outcome.errors or outcome.merge is not None
    for error in outcome.errors:
        assert "\n" not in error.message, error.message
        assert str(path) in error.message, error.message
    json.dumps(outcome.as_json(), ensure_ascii=False)  # what --json prints
    if outcome.ok and not outcome.dry_run:
        _check_stored(store.engine, outcome.plan_code)
    return outcome


def _check_stored(engine: Engine, plan_code: str) -> None:
    """What PostgreSQL would refuse: NUL (and other control characters) in text, a ref longer
    than its column."""
    texts: list[str] = []
    with Session(engine) as s:
        for action in s.exec(select(Action)):
            assert len(action.ref) <= 32, action.ref
            texts += [action.ref, action.title, action.lead_raw, action.outcomes, action.evidence]
            texts += [action.progress, action.reporting_group, action.due_note, action.status_label]
        for row in s.exec(select(ImportedRow)):
            json.dumps(row.cells)
        for area in s.exec(select(Area)):
            texts += [area.kind, area.label, area.title, area.sro_raw]
        for milestone in s.exec(select(Milestone)):
            texts += [milestone.label, milestone.raw]
    bad = [t for t in texts if has_control_characters(t)]
    assert not bad, bad[:3]


# -- the tests --------------------------------------------------------------------------------

_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    made = make_store(tmp_path_factory.mktemp("fuzz"))
    yield made
    made.engine.dispose()


@settings(_SETTINGS, max_examples=150)
@given(sample=workbooks())
def test_it_never_crashes_on_a_generated_workbook(store: Store, sample: Sample) -> None:
    import_sample(store, sample)


@settings(_SETTINGS, max_examples=100)
@given(sample=csv_files())
def test_it_never_crashes_on_a_generated_csv(store: Store, sample: Sample) -> None:
    import_sample(store, sample)


@settings(_SETTINGS, max_examples=100)
@given(sample=damaged_files())
def test_it_never_crashes_on_random_or_damaged_bytes(store: Store, sample: Sample) -> None:
    import_sample(store, sample)
