"""Rendering the board secretary's :class:`~workflows.digest.contents.Digest`: pure functions.

Four outputs, all from the same plain data:

* :func:`render_digest_email`: the email (``digest_subject.txt``, ``digest.txt`` and
  ``digest.html``, found through :func:`notifications.render.load_templates`, so an admin can
  override them in ``<config_dir>/templates/`` like the chase templates). The HTML's ``<style>``
  block is inlined (Outlook ignores most ``<style>`` rules) and the layout is tables, with no
  external resources. Its cost follows what it shows, not the plan's size: a row's words are
  worked out when a template first shows it (:class:`RowViews`), and long lists give their
  first :data:`EMAIL_IN_FULL` rows in words and the rest by ref (``bench/digest.py``);
* :func:`digest_xlsx` (bytes) and :func:`write_digest_xlsx` (a file): the action and impact log
  as a council keeps it (title row, bold frozen header, filters, status colours), with the
  exceptions and the status counts on their own sheets, streamed row by row (openpyxl's
  write-only mode) so that its memory does not grow with the plan;
* :func:`digest_docx`: the board paper, with :func:`digest_chart_png` (status by area over the
  recent cycles) embedded.

Every piece of text in a digest came from a lead, a plan spreadsheet or a config file, so none of
it is trusted: the HTML environment autoescapes, spreadsheet cells that start with ``=`` are
stored as text rather than formulas, characters XML cannot hold are dropped, colours are used only
when they are six hex digits, and ``$`` cannot switch matplotlib into maths mode. Status is always
shown as its label as well as its colour, so nothing depends on colour alone.

Nothing here logs: the digest is full of people's names and words.
"""

from __future__ import annotations

import functools
import io
import math
import re
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, overload
from xml.sax.saxutils import escape as xml_escape

import docx
import docx.document
import docx.table
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Emu, Pt
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet  # its only home, in 3.1

from notifications.channel import KEY_HEADER, Address, Attachment, OutgoingMessage
from notifications.digest_scorecard import add_scorecard_docx, add_scorecard_sheets
from notifications.render import Templates, long_date, short_date
from workflows.digest.config import BoardPaper
from workflows.digest.contents import AreaCount, Digest, Flag, LogRow, Severity, Trend

NOT_REPORTED = "Not reported"
#: Fill for statuses the plan's scale gives no colour (and "Not reported"), in the chart only.
GREY = "BFBFBF"
_GREYS = ("BFBFBF", "8C8C8C", "D9D9D9", "A6A6A6", "737373")
_INK_DARK = "0B0C0C"
_INK_LIGHT = "FFFFFF"
_HEX = re.compile(r"#?([0-9A-Fa-f]{6})")
#: What XML 1.0 (and so XLSX and DOCX) cannot hold; lxml and openpyxl raise on them.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

CHANGE_WORDS = {
    "better": "Better",
    "worse": "Worse",
    "same": "No change",
    "new": "First report",
    "none": "Never reported",
}
SEVERITY_WORDS = {Severity.HIGH: "High", Severity.MEDIUM: "Medium", Severity.LOW: "Low"}
RISK_WORDS = {"new": "New", "updated": "Updated", "closed": "Closed"}

LOG_SHEET = "Action and impact log"
EXCEPTIONS_SHEET = "Exceptions"
AREAS_SHEET = "Status by area"

#: The log's columns and their widths (characters), as the issue lists them.
LOG_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Ref", 8),
    ("Action", 45),
    ("Area", 24),
    ("Lead", 18),
    ("Status", 13),
    ("Change since last meeting", 20),
    ("Due", 11),
    ("Forecast", 11),
    ("Slip (days)", 9),
    ("Latest update", 60),
    ("Evidence", 32),
    ("Flags", 40),
)
EXCEPTION_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Ref", 8),
    ("Action", 45),
    ("Area", 24),
    ("Lead", 18),
    ("Status", 13),
    ("Severity", 10),
    ("Why flagged", 45),
    ("Lead's own words", 60),
    ("Update dated", 12),
)


# -- shared helpers ----------------------------------------------------------------------------


def clean(value: str) -> str:
    """``value`` without the characters XML cannot hold (a stray control code from a pasted
    spreadsheet cell would otherwise make openpyxl or python-docx refuse the whole file)."""
    return _NOT_XML.sub("", value) if value else ""


@functools.lru_cache(maxsize=512)
def hex_colour(value: str) -> str:
    """``value`` as six upper-case hex digits, or "" if it is not a colour. A digest's colours
    come from the plan's mapping file; nothing else reaches a ``style`` attribute or a fill."""
    m = _HEX.fullmatch(value.strip()) if value else None
    return m.group(1).upper() if m else ""


@functools.lru_cache(maxsize=512)
def ink(colour: str) -> str:
    """The text colour (near-black or white) with the better contrast on ``colour`` (WCAG).

    Cached, like :func:`hex_colour`: a plan has a handful of colours and a digest asks about
    each once per row."""
    c = hex_colour(colour)
    if not c:
        return _INK_DARK

    def channel(i: int) -> float:
        v = int(c[i : i + 2], 16) / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    dark = 0.0114  # the luminance of 0B0C0C, near enough
    return _INK_DARK if (lum + 0.05) / (dark + 0.05) >= 1.05 / (lum + 0.05) else _INK_LIGHT


def status_labels(digest: Digest) -> list[str]:
    """Every status label to count, in order: the plan's scale, then anything else the counts
    hold (a value retired from the scale), then "Not reported"."""
    labels = [value or label for value, label, _ in digest.scale]  # counts are by value
    seen = set(labels)
    extra: list[str] = []
    counts: list[dict[str, int]] = []
    for a in digest.areas:
        counts += [a.counts, a.previous]
    for t in digest.trend:
        counts += list(t.counts.values())
    for c in counts:
        for label in c:
            if label not in seen:
                seen.add(label)
                extra.append(label)
    tail = [NOT_REPORTED] if NOT_REPORTED in extra else []
    return labels + [x for x in extra if x != NOT_REPORTED] + tail


def scale_colours(digest: Digest) -> dict[str, str]:
    """Label (and value) -> colour, for counts that carry only the label."""
    out: dict[str, str] = {}
    for value, label, colour in digest.scale:
        c = hex_colour(colour)
        if c:
            out.setdefault(value, c)
            out[label or value] = c
    return out


def change_words(row: LogRow) -> str:
    """The change since the last meeting in words: "Better (was Amber)", "No change"…"""
    words = CHANGE_WORDS.get(row.change, row.change.replace("_", " ").capitalize())
    if row.change in ("better", "worse") and row.previous_status_label:
        return f"{words} (was {row.previous_status_label})"
    return words


def slip_words(days: int | None) -> str:
    if not days:
        return ""
    return f"{abs(days)} days {'later' if days > 0 else 'earlier'}"


def exceptions_worst_first(digest: Digest) -> list[LogRow]:
    """The exception report's rows, worst first. The digest already promises this order; the
    stable sort only makes sure, keeping its order among equals."""
    return sorted(digest.exceptions, key=lambda r: -(r.worst or 0))


def group_name(digest: Digest) -> str:
    return digest.group_name or digest.plan_title


@dataclass(frozen=True, slots=True)
class RowView:
    """One log row as the email shows it: the words worked out once, here, not in Jinja."""

    ref: str
    title: str
    area: str
    lead: str
    status: str
    bg: str  # hex colour, "" for none
    fg: str
    change: str
    due: str
    forecast: str
    slip: str
    narrative: str
    narrative_on: date | None
    evidence: str
    flags: tuple[str, ...]
    severity: str
    late: bool
    updated: bool


def _by_severity(flag: Flag) -> int:
    return -flag.severity


def row_view(row: LogRow) -> RowView:
    flags = row.flags
    worst = max(f.severity for f in flags) if flags else None
    if len(flags) > 1:  # worst first; the stable sort keeps the order among equals
        flags = tuple(sorted(flags, key=_by_severity))
    bg = hex_colour(row.status_colour)
    return RowView(
        ref=row.ref,
        title=row.title,
        area=row.area_title,
        lead=row.lead_name or row.lead_code,
        status=row.status_label or NOT_REPORTED,
        bg=bg,
        fg=ink(bg),
        change=change_words(row),
        due=row.due,
        forecast=row.forecast,
        slip=slip_words(row.slip_days),
        narrative=row.narrative,
        narrative_on=row.narrative_on,
        evidence=row.evidence,
        flags=tuple(f.reason for f in flags),
        severity=SEVERITY_WORDS.get(worst, "") if worst is not None else "",
        late=row.late,
        updated=row.updated_this_cycle,
    )


class RowViews(Sequence[RowView]):
    """Log rows as :class:`RowView`, each worked out when a template first asks for it.

    The shipped templates never list the whole log (it is in the spreadsheet), but an
    override may: so ``log`` is still every row, without paying for 5,000 views that nobody
    reads. ``view`` is shared, so a row that is both an exception and slipped is viewed once.
    """

    def __init__(self, rows: Sequence[LogRow], view: Callable[[LogRow], RowView]) -> None:
        self._rows = rows
        self._view = view

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> RowView: ...
    @overload
    def __getitem__(self, index: slice) -> list[RowView]: ...
    def __getitem__(self, index: int | slice) -> RowView | list[RowView]:
        if isinstance(index, slice):
            return [self._view(r) for r in self._rows[index]]
        return self._view(self._rows[index])

    def __iter__(self) -> Iterator[RowView]:
        return map(self._view, self._rows)

    def __bool__(self) -> bool:
        return bool(self._rows)


def _viewer() -> Callable[[LogRow], RowView]:
    """:func:`row_view`, remembered per row for one render."""
    seen: dict[int, RowView] = {}

    def view(row: LogRow) -> RowView:
        v = seen.get(id(row))
        if v is None:
            v = seen[id(row)] = row_view(row)
        return v

    return view


@dataclass(frozen=True, slots=True)
class CountCell:
    now: int
    change: int

    @property
    def change_text(self) -> str:
        """The change since the previous meeting: "+2", "−1" or "" (none)."""
        if self.change > 0:
            return f"+{self.change}"
        if self.change < 0:
            return f"\u2212{-self.change}"
        return ""


@dataclass(frozen=True, slots=True)
class AreaLine:
    title: str
    cells: tuple[CountCell, ...]
    total: CountCell


@dataclass(frozen=True, slots=True)
class LabelView:
    label: str
    bg: str
    fg: str


@dataclass(frozen=True)
class AreaTable:
    """Status counts by area, one column per status label, with the change since last time."""

    labels: tuple[LabelView, ...]
    lines: tuple[AreaLine, ...]
    total: AreaLine

    @property
    def rows(self) -> tuple[AreaLine, ...]:
        """Each area, then all areas."""
        return (*self.lines, self.total)


def area_table(digest: Digest) -> AreaTable:
    labels = status_labels(digest)
    colours = scale_colours(digest)

    def line(title: str, areas: Iterable[AreaCount]) -> AreaLine:
        areas = list(areas)
        cells = []
        for label in labels:
            now = sum(a.counts.get(label, 0) for a in areas)
            before = sum(a.previous.get(label, 0) for a in areas)
            cells.append(CountCell(now, now - before if digest.previous_meeting else 0))
        total_now = sum(sum(a.counts.values()) for a in areas)
        total_before = sum(sum(a.previous.values()) for a in areas)
        change = total_now - total_before if digest.previous_meeting else 0
        return AreaLine(title, tuple(cells), CountCell(total_now, change))

    return AreaTable(
        labels=tuple(
            LabelView(label, colours.get(label, ""), ink(colours.get(label, "")))
            for label in labels
        ),
        lines=tuple(line(a.title or NOT_REPORTED, [a]) for a in digest.areas),
        total=line("All areas", digest.areas),
    )


#: The email shows this many exceptions in full (the worst); the rest by ref, with the paper
#: and the spreadsheet holding them all. Keeps the email to a few phone screens.
EMAIL_EXCEPTIONS = 6
#: The text version writes this many exceptions out in full (the worst), and both versions
#: list this many slipped actions with their words; the rest are named by ref, so every
#: flagged and slipped action is still in the email. Without a cap a 5,000-action plan's
#: email was 2.3 MB (0.9 MB of HTML, far past the 102 kB at which Gmail clips a message, and
#: 1.4 MB of text); the log, the paper and the spreadsheet hold every row in full.
EMAIL_IN_FULL = 30
SLIP_RULES = ("forecast_slipped", "milestone_missed", "status_worse")


def slipped(digest: Digest) -> list[LogRow]:
    """What slipped since the last meeting: worse than then, a forecast moved past its
    baseline, or a milestone missed; in plan order."""
    return [
        r for r in digest.log if r.change == "worse" or any(f.rule in SLIP_RULES for f in r.flags)
    ]


CHANGES = ("better", "worse", "same", "new", "none")


def _tally(log: Sequence[LogRow]) -> dict[str, int]:
    """How many rows were updated this cycle, came late, and of each change: one pass, not
    seven, over a log that may be thousands long."""
    counts = dict.fromkeys(("updated", "late", *CHANGES), 0)
    for r in log:
        counts["updated"] += r.updated_this_cycle
        counts["late"] += r.late
        counts[r.change] = counts.get(r.change, 0) + 1
    return counts


def summary(digest: Digest, tally: dict[str, int] | None = None) -> dict[str, int]:
    """The headline numbers, for the email's opening and the board paper's summary
    (``tally``: :func:`_tally` of the log, when the caller has it already)."""
    tally = tally if tally is not None else _tally(digest.log)
    return {
        "actions": len(digest.log),
        "flagged": len(digest.exceptions),
        "high": sum(1 for r in digest.exceptions if r.worst == Severity.HIGH),
        "updated": tally["updated"],
        "late": tally["late"],
        "not_replied": len(digest.not_replied),
        "escalated": len(digest.escalated),  # leads named by an escalation
        "escalations": digest.escalations,  # messages, one per officer (the meeting page's)
        "dead_letters": len(digest.dead_letters),
        "not_invited": sum(1 for i in digest.invitees if not i.invited),
    }


# -- email -------------------------------------------------------------------------------------


def digest_context(digest: Digest) -> dict[str, Any]:
    """The names the digest templates can use.

    ``digest`` (the Digest itself), ``group`` (the group's name, else the plan's title),
    ``plan_title``, ``meeting_date``, ``papers_deadline``, ``previous_meeting``,
    ``generated_at``, ``summary`` (dict: ``actions``, ``flagged``, ``high``, ``updated``,
    ``late``, ``not_replied``, ``escalated`` (leads), ``escalations`` (messages, one per
    officer), ``dead_letters``, ``not_invited``), ``exceptions``, ``slipped`` and ``log`` (lists
    of :class:`RowView`, exceptions worst first, the others in plan order),
    ``email_exceptions`` (how many exceptions the HTML shows in full) and ``email_in_full``
    (how many the text writes out, and how many slipped actions both list in words; the rest
    by ref), ``log_changes``
    (``better``, ``worse``, ``same``, ``new``, ``none``: how many actions), ``areas``
    (:class:`AreaTable`), ``not_replied`` and ``escalated``
    (``PersonLine``: ``.name``, ``.actions``, ``.escalated``), ``risks`` (``RiskLine``),
    ``risk_words``, ``dead_letters`` (``DeadLetter``: ``.kind``, ``.recipient`` (a person code),
    ``.reason``, ``.at``) and ``invitees`` (``Invitee``: ``.name``, ``.role``, ``.invited``);
    and, in ``digest.txt`` and ``digest.html``, ``subject``.

    The row lists are :class:`RowViews`: each row's words are worked out once, when a template
    first shows it, so the cost follows what the email shows, not the size of the plan.
    """
    view = _viewer()
    tally = _tally(digest.log)
    return {
        "digest": digest,
        "group": group_name(digest),
        "plan_title": digest.plan_title,
        "meeting_date": digest.meeting_date,
        "papers_deadline": digest.papers_deadline,
        "previous_meeting": digest.previous_meeting,
        "generated_at": digest.generated_at,
        "summary": summary(digest, tally),
        "exceptions": RowViews(exceptions_worst_first(digest), view),
        "log": RowViews(digest.log, view),
        "slipped": RowViews(slipped(digest), view),
        "email_exceptions": EMAIL_EXCEPTIONS,
        "email_in_full": EMAIL_IN_FULL,
        "log_changes": {change: tally[change] for change in CHANGES},
        "areas": area_table(digest),
        "not_replied": list(digest.not_replied),
        "escalated": list(digest.escalated),
        "risks": list(digest.risks),
        "scorecard": digest.scorecard,  # impact measures and the risk register
        "risk_words": RISK_WORDS,
        "dead_letters": list(digest.dead_letters),
        "invitees": list(digest.invitees),
    }


def render_digest_email(
    digest: Digest,
    *,
    templates: Templates,
    sender: str,
    to: tuple[Address, ...],
    key: str,
    attachments: tuple[Attachment, ...] = (),
    sender_name: str = "",
) -> OutgoingMessage:
    """The digest email to the secretary: a one-line subject, a text body and inlined HTML,
    with ``attachments`` (the XLSX log and the DOCX paper) named in the text and attached."""
    context = digest_context(digest)
    context["attachments"] = [a.filename for a in attachments]
    raw = templates.text.get_template("digest_subject.txt").render(context)
    subject = " ".join(raw.split())
    context["subject"] = subject
    text = templates.text.get_template("digest.txt").render(context).strip() + "\n"
    html = templates.inliner.inline(templates.html.get_template("digest.html").render(context))
    html = html.encode("ascii", "xmlcharrefreplace").decode("ascii")  # 7-bit safe, same page
    return OutgoingMessage(
        key=key,
        channel="email",
        sender=sender,
        sender_name=sender_name,
        to=to,
        subject=subject,
        text=text,
        html=html,
        headers={KEY_HEADER: key},
        attachments=attachments,
    )


# -- XLSX --------------------------------------------------------------------------------------

_THIN = Side(style="thin", color="B1B4B6")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_TOP_WRAP = Alignment(wrap_text=True, vertical="top")
#: How dates show in the log's cells (they are real dates, so they sort and filter).
DATE_FORMAT = "d mmm yyyy"


def _named_styles(wb: Workbook, colours: Iterable[str]) -> dict[str, str]:
    """Register the few styles every cell uses, once per workbook; returns colour -> style name.

    Assigning a registered style by name is what keeps 5,000 rows quick: no Font, Fill or
    Alignment objects are made per cell. The styles: "Log text", "Log ref" (bold, kept as
    text), "Log number", "Log date", "Log header", "Log title", "Log total" and "Log total
    number" (a table's last, summing row, in bold), and "Status <colour>" for each colour.
    """
    text = NamedStyle(name="Log text", alignment=_TOP_WRAP, border=_BORDER)
    text.font = Font(name="Arial", size=10)
    ref = NamedStyle(name="Log ref", alignment=_TOP_WRAP, border=_BORDER, number_format="@")
    ref.font = Font(name="Arial", size=10, bold=True)
    number = NamedStyle(name="Log number", border=_BORDER, number_format="0")
    number.font = Font(name="Arial", size=10)
    number.alignment = Alignment(vertical="top", horizontal="right")
    when = NamedStyle(name="Log date", alignment=_TOP_WRAP, border=_BORDER)
    when.font = Font(name="Arial", size=10)
    when.number_format = DATE_FORMAT
    header = NamedStyle(name="Log header", border=_BORDER)
    header.font = Font(name="Arial", size=10, bold=True)
    header.fill = PatternFill("solid", fgColor="D9D9D9")
    header.alignment = Alignment(wrap_text=True, vertical="bottom")
    title = NamedStyle(name="Log title")
    title.font = Font(name="Arial", size=14, bold=True)
    total = NamedStyle(name="Log total", alignment=_TOP_WRAP, border=_BORDER)
    total.font = Font(name="Arial", size=10, bold=True)
    total_number = NamedStyle(name="Log total number", border=_BORDER, number_format="0")
    total_number.font = Font(name="Arial", size=10, bold=True)
    total_number.alignment = Alignment(vertical="top", horizontal="right")
    for style in (text, ref, number, when, header, title, total, total_number):
        wb.add_named_style(style)
    names: dict[str, str] = {}
    for colour in sorted(set(colours)):
        name = f"Status {colour}"
        status = NamedStyle(name=name, alignment=_TOP_WRAP, border=_BORDER)
        status.font = Font(name="Arial", size=10, bold=True, color=ink(colour))
        status.fill = PatternFill("solid", fgColor=colour)
        wb.add_named_style(status)
        names[colour] = name
    return names


def _cell(ws: WriteOnlyWorksheet, value: object, style: str) -> Cell:
    """One styled cell for a streamed row. Text is stored as text: a narrative starting ``=``
    is not a formula; what XML cannot hold is dropped."""
    if isinstance(value, str):
        value = clean(value)
    cell = WriteOnlyCell(ws, value)
    if cell.data_type == "f":
        cell.data_type = "s"
    cell.style = style
    return cell


def _sheet_table(
    ws: WriteOnlyWorksheet,
    title: str,
    columns: Sequence[tuple[str, float]],
    rows: Iterable[Sequence[tuple[object, str]]],
    count: int | None = None,
) -> int:
    """A title in row 1, a bold header in row 2 frozen above the rows, filters over it all;
    returns the last row's number.

    The sheet is streamed (openpyxl's write-only mode): each row goes to disk as it is made,
    so memory stays flat however long the log. So everything about the sheet but its filter
    range is set before the first row, and ``rows`` is read once, as it comes: give ``rows``
    as a generator, with ``count`` (how many it yields), and no row is held longer than it
    takes to write it."""
    if count is None:
        rows = rows if isinstance(rows, Sequence) else list(rows)
        count = len(rows)
    last = 2 + count
    if isinstance(ws, WriteOnlyWorksheet):
        # state the sheet's size (<dimension>) above its rows, as a normal sheet does: the
        # streaming writer leaves it out (it cannot know it yet), and readers in read-only
        # mode then find no rows; openpyxl's writer asks the sheet for it if it can
        dimension = f"A1:{get_column_letter(len(columns))}{last}"
        ws.calculate_dimension = lambda: dimension
    for i, (_, width) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.append([_cell(ws, title, "Log title")])
    ws.append([_cell(ws, name, "Log header") for name, _ in columns])
    written = 0
    for values in rows:
        ws.append([_cell(ws, value, style) for value, style in values])
        written += 1
    if written != count:  # the dimension written at the top would be wrong
        raise ValueError(f"{ws.title}: {written} rows written, {count} announced; pass the count")
    ws.auto_filter.ref = f"A2:{get_column_letter(len(columns))}{max(last, 3)}"
    return last


def _flags_text(row: LogRow) -> str:
    flags = row.flags
    if len(flags) == 1:
        return flags[0].reason
    return "; ".join(f.reason for f in sorted(flags, key=_by_severity))


def digest_xlsx(digest: Digest) -> bytes:
    """The action and impact log workbook: the log, the exceptions and the status counts,
    as bytes (an email attachment). :func:`write_digest_xlsx` writes it to a file instead."""
    out = io.BytesIO()
    write_digest_xlsx(digest, out)
    return out.getvalue()


def write_digest_xlsx(digest: Digest, target: str | Path | IO[bytes]) -> None:
    """The action and impact log workbook, written to ``target`` (a path or a binary file).

    Streamed: openpyxl's write-only workbook writes each row as it is made (to a temporary
    file, zipped at the end), so its memory does not grow with the plan as a normal workbook's
    does (each of a normal workbook's cells is an object held until it is saved). The price:
    a sheet's rows are written in order, once; styles are registered names, set on each cell
    as it is made.
    """
    wb = Workbook(write_only=True)
    rows = digest.log
    colours = {hex_colour(r.status_colour) for r in rows} | set(scale_colours(digest).values())
    styles = _named_styles(wb, colours - {""})

    def status_style(colour: str) -> str:
        return styles.get(hex_colour(colour), "Log text")

    heading = f"{group_name(digest)}: action and impact log for the meeting on " + long_date(
        digest.meeting_date
    )
    _sheet_table(
        wb.create_sheet(LOG_SHEET),
        heading,
        LOG_COLUMNS,
        (
            (
                (r.ref, "Log ref"),
                (r.title, "Log text"),
                (r.area_title, "Log text"),
                (r.lead_name or r.lead_code, "Log text"),
                (r.status_label or NOT_REPORTED, status_style(r.status_colour)),
                (change_words(r), "Log text"),
                (r.due, "Log text"),
                (r.forecast, "Log text"),
                (r.slip_days, "Log number"),
                (_dated(r.narrative, r.narrative_on), "Log text"),
                (r.evidence, "Log text"),
                (_flags_text(r), "Log text"),
            )
            for r in rows
        ),
        len(rows),
    )

    _sheet_table(
        wb.create_sheet(EXCEPTIONS_SHEET),
        f"Exception report: {len(digest.exceptions)} actions flagged, worst first",
        EXCEPTION_COLUMNS,
        (
            (
                (r.ref, "Log ref"),
                (r.title, "Log text"),
                (r.area_title, "Log text"),
                (r.lead_name or r.lead_code, "Log text"),
                (r.status_label or NOT_REPORTED, status_style(r.status_colour)),
                (SEVERITY_WORDS.get(r.worst, "") if r.worst is not None else "", "Log text"),
                (_flags_text(r), "Log text"),
                (r.narrative, "Log text"),
                (r.narrative_on, "Log date"),  # a real date, so it sorts and filters
            )
            for r in exceptions_worst_first(digest)
        ),
        len(digest.exceptions),
    )

    table = area_table(digest)
    columns: list[tuple[str, float]] = [("Area", 40)]
    for lv in table.labels:
        columns += [(lv.label, 10), (f"{lv.label}: change", 10)]
    columns += [("Total", 10)]
    since = (
        f" (change since {long_date(digest.previous_meeting)})" if digest.previous_meeting else ""
    )

    def area_row(line: AreaLine, total: bool) -> list[tuple[object, str]]:
        """One area's counts; the last line (all areas) in bold, its coloured cells too."""
        number = "Log total number" if total else "Log number"
        values: list[tuple[object, str]] = [(line.title, "Log total" if total else "Log text")]
        for lv, cell in zip(table.labels, line.cells, strict=True):
            values += [
                (cell.now, status_style(lv.bg) if lv.bg else number),
                (cell.change, number),
            ]
        return [*values, (line.total.now, number)]

    lines = table.rows
    _sheet_table(
        wb.create_sheet(AREAS_SHEET),
        f"Status by area{since}",
        columns,
        [area_row(line, i == len(lines) - 1) for i, line in enumerate(lines)],
    )

    add_scorecard_sheets(wb, digest, sheet_table=_sheet_table)  # measures and risks
    wb.save(target)


def _dated(text: str, on: date | None) -> str:
    """The narrative with its date in front, as a council log writes it."""
    if not text or on is None:
        return text
    return f"{on.day} {on:%b %Y}: {text}"


# -- chart -------------------------------------------------------------------------------------

#: How many meetings the chart shows, most recent last.
CHART_CYCLES = 6
#: Beyond this many areas the chart shows all areas together, one bar per meeting.
CHART_MAX_AREAS = 9


def _mpl_text(value: str, width: int = 30) -> str:
    """Text matplotlib shows as written: a ``$`` would otherwise start maths mode."""
    return textwrap.fill(clean(value), width=width).replace("$", r"\$")


def _chart_title(title: str, number: int | None) -> str:
    """A small chart's title: the area's number and the start of its name (a plan's areas are
    often whole sentences, which would leave no room for the bars)."""
    short = textwrap.shorten(title, width=70, placeholder="…")
    return f"{number}. {short}" if number is not None else short


def digest_chart_png(digest: Digest) -> bytes:
    """Status by area over the recent cycles: one small chart per area, a stacked bar per
    meeting, in the plan's own colours with a legend and the counts written on the bars.

    Drawn on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas, not pyplot: no
    global state, no display needed, safe in a scheduler thread.
    """
    trend: Sequence[Trend] = digest.trend[-CHART_CYCLES:] or (
        Trend(digest.meeting_date, {a.title: dict(a.counts) for a in digest.areas}),
    )
    areas = [a.title for a in digest.areas]
    for t in trend:
        areas += [title for title in t.counts if title not in areas]
    areas = areas or [NOT_REPORTED]
    if len(areas) > CHART_MAX_AREAS:  # small multiples stop being readable (and get slow)
        total: dict[str, dict[str, int]] = {}
        for t in trend:
            summed: dict[str, int] = {}
            for counts in t.counts.values():
                for label, n in counts.items():
                    summed[label] = summed.get(label, 0) + n
            total[str(t.meeting)] = summed
        everything = f"All {len(areas)} areas"
        trend = [Trend(t.meeting, {everything: total[str(t.meeting)]}) for t in trend]
        areas = [everything]
    labels = status_labels(digest)
    colours = scale_colours(digest)
    spare = iter(_GREYS * (1 + len(labels) // len(_GREYS)))
    fills = {label: colours.get(label) or next(spare) for label in labels}

    numbers = {a.title: a.area for a in digest.areas}
    ncols = min(len(areas), 3)
    nrows = math.ceil(len(areas) / ncols)
    # matplotlib (and numpy) only when a chart is drawn: 60 MB the service need not hold
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.4 * ncols, 2.9 * nrows + 0.9), dpi=150)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    xs = list(range(len(trend)))
    ticks = [f"{t.meeting.day} {t.meeting:%b}\n{t.meeting.year}" for t in trend]
    handles: dict[str, Any] = {}
    for i, area in enumerate(areas):
        ax = axes[i // ncols][i % ncols]
        bottom = [0] * len(trend)
        for label in labels:
            heights = [t.counts.get(area, {}).get(label, 0) for t in trend]
            if not any(heights):
                continue
            bars = ax.bar(
                xs,
                heights,
                bottom=bottom,
                color=f"#{fills[label]}",
                edgecolor="white",
                linewidth=0.6,
                width=0.7,
            )
            handles.setdefault(label, bars)
            ax.bar_label(
                bars,
                labels=[str(h) if h else "" for h in heights],
                label_type="center",
                fontsize=7,
                color=f"#{ink(fills[label])}",
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_title(_mpl_text(_chart_title(area, numbers.get(area))), fontsize=8)
        ax.set_xticks(xs, ticks, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        ax.yaxis.get_major_locator().set_params(integer=True)
    for j in range(len(areas), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    for row_axes in axes:
        row_axes[0].set_ylabel("Actions", fontsize=8)
    ordered = [label for label in labels if label in handles]
    fig.legend(
        [handles[label] for label in ordered],
        [_mpl_text(label, 20) for label in ordered],
        loc="lower center",
        ncols=min(len(ordered), 6) or 1,
        frameon=False,
        fontsize=8,
    )
    fig.suptitle("Actions by status and area at recent meetings", fontsize=10)
    fig.tight_layout(rect=(0, 0.45 / (2.9 * nrows + 0.9), 1, 0.97))
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})  # no version: same bytes
    return out.getvalue()


# -- DOCX --------------------------------------------------------------------------------------

#: A4, in centimetres, and the margins of the portrait cover report and the landscape appendix.
A4 = (21.0, 29.7)
PORTRAIT_MARGIN = 2.0
LANDSCAPE_MARGIN = 1.5
#: Tables of at most this many rows are kept on one page.
KEEP_TOGETHER_ROWS = 10
#: The chart takes at most this share of the page's usable height.
CHART_MAX_HEIGHT = 0.55


def _shade(cell: docx.table._Cell, colour: str) -> None:
    """Fill a table cell (python-docx has no API for it)."""
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), colour)
    cell._tc.get_or_add_tcPr().append(shd)


def usable_width(doc: docx.document.Document) -> float:
    """The current (last) section's width between its margins, in centimetres."""
    s = doc.sections[-1]
    width = (s.page_width or 0) - (s.left_margin or 0) - (s.right_margin or 0)
    return float(Emu(width).cm)


def usable_height(doc: docx.document.Document) -> float:
    s = doc.sections[-1]
    height = (s.page_height or 0) - (s.top_margin or 0) - (s.bottom_margin or 0)
    return float(Emu(height).cm)


def fitted_widths(
    headers: Sequence[str],
    rows: Sequence[Sequence[str | tuple[str, str]]],
    total: float,
    *,
    cm_per_char: float = 0.2,
) -> list[float]:
    """Column widths (cm) summing to ``total``, fitted to the content: a column whose longest
    entry is short (a ref, a count, a status) gets what that entry takes on one line; when not
    everything fits, each column gets at least its longest word and the rest goes to the
    columns that lack most. So an area's name does not wrap to a word a line and "Green" does
    not break."""

    def text(v: str | tuple[str, str]) -> str:
        return v[0] if isinstance(v, tuple) else v

    pad = 0.55  # the cell's left and right margins, and a little slack
    natural: list[float] = []
    floor: list[float] = []
    for i, header in enumerate(headers):
        cells = [text(r[i]) for r in rows if i < len(r)]
        word = max((len(w) for c in [header, *cells] for w in c.split()), default=1)
        # a header may wrap ("Not / reported") where its column's entries are short
        longest = max([word, *(len(c) for c in cells)])
        natural.append(longest * cm_per_char + pad)
        floor.append(min(word, 14) * cm_per_char + pad)
    if sum(natural) <= total:
        return [round(w * total / sum(natural), 2) for w in natural]
    floor = [min(f, n) for f, n in zip(floor, natural, strict=True)]
    spare = total - sum(floor)
    if spare <= 0:  # not even every longest word fits: shrink the floors alike
        return [round(f * total / sum(floor), 2) for f in floor]
    # each column starts at its longest word; what is left goes where text is missing most
    # (a long narrative counts as at most 80 characters, so it cannot starve the rest)
    deficit = [min(n, 80 * cm_per_char + pad) - f for n, f in zip(natural, floor, strict=True)]
    widths = [f + spare * d / (sum(deficit) or 1) for f, d in zip(floor, deficit, strict=True)]
    return [round(w, 2) for w in widths]


def _docx_table(
    doc: docx.document.Document,
    headers: Sequence[str],
    rows: Iterable[Sequence[str | tuple[str, str]]],
    widths: Sequence[float] | None = None,
    *,
    size: float = 9,
) -> docx.table.Table:
    """A table in ``size`` pt type with a bold header row that repeats on every page (and tells
    screen readers it is a header). A cell given as ``(text, colour)`` is filled with the colour,
    text kept. Without ``widths`` the columns are fitted to their content across the page's
    usable width; the layout is fixed, so Word and LibreOffice keep the widths given.

    The body rows are written as WordprocessingML and parsed in one go: python-docx's per-cell
    API costs about a millisecond a cell, too slow for an exception report thousands long.
    """
    rows = list(rows)
    if widths is None:
        widths = fitted_widths(headers, rows, usable_width(doc))
    if doc.paragraphs:  # the heading or words that introduce a table stay with its first rows
        doc.paragraphs[-1].paragraph_format.keep_with_next = True
    table: docx.table.Table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    tbl_pr.append(layout)
    grid = table._tbl.tblGrid
    for col, width in zip(grid.findall(qn("w:gridCol")), widths, strict=True):
        col.set(qn("w:w"), str(int(Cm(width).twips)))
    head = table.rows[0]
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    head._tr.get_or_add_trPr().append(repeat)
    for cell, text, width in zip(head.cells, headers, widths, strict=True):
        run = cell.paragraphs[0].add_run(text)
        run.bold = True
        run.font.size = Pt(size)
        _shade(cell, "D9D9D9")
        cell.width = Cm(width)
    twips = [int(Cm(w).twips) for w in widths]
    # a short table is kept on one page (each row's paragraphs kept with the next), so its last
    # rows do not run over alone onto a page of their own
    together = len(rows) <= KEEP_TOGETHER_ROWS
    for cell in head.cells:  # the header row stays with the first row under it
        cell.paragraphs[0].paragraph_format.keep_with_next = True
    body = "".join(
        _row_xml(values, twips, size, keep_next=together and i < len(rows) - 1)
        for i, values in enumerate(rows)
    )
    if body:
        for tr in parse_xml(f"<w:tbl {nsdecls('w')}>{body}</w:tbl>"):
            table._tbl.append(tr)
    return table


def _row_xml(
    values: Sequence[str | tuple[str, str]],
    twips: Sequence[int] | None,
    size: float = 9,
    *,
    keep_next: bool = False,
) -> str:
    """One ``<w:tr>``, every text escaped (it is user text) and XML-clean; a row is kept on one
    page (``cantSplit``) unless it is long. A row of one value in a table of several columns is
    a band across the table (an area's name above its actions)."""
    sz = f'<w:sz w:val="{round(size * 2)}"/>'
    if twips and len(values) == 1 and len(twips) > 1:
        text = values[0][0] if isinstance(values[0], tuple) else values[0]
        return (
            f'<w:tr><w:trPr><w:cantSplit/></w:trPr><w:tc><w:tcPr><w:tcW w:w="{sum(twips)}" '
            f'w:type="dxa"/><w:gridSpan w:val="{len(twips)}"/>'
            '<w:shd w:val="clear" w:color="auto" w:fill="DEE0E2"/></w:tcPr>'
            f"<w:p><w:pPr><w:keepNext/></w:pPr><w:r><w:rPr><w:b/>{sz}</w:rPr>"
            f'<w:t xml:space="preserve">{xml_escape(clean(text))}</w:t></w:r></w:p></w:tc></w:tr>'
        )
    cells = []
    long = sum(len(v[0] if isinstance(v, tuple) else v) for v in values) > 900
    for i, value in enumerate(values):
        text, colour = value if isinstance(value, tuple) else (value, "")
        colour = hex_colour(colour)
        props = f'<w:tcW w:w="{twips[i]}" w:type="dxa"/>' if twips else ""
        run_props = f"<w:rPr>{sz}</w:rPr>"
        if colour:
            props += f'<w:shd w:val="clear" w:color="auto" w:fill="{colour}"/>'
            run_props = f'<w:rPr><w:b/><w:color w:val="{ink(colour)}"/>{sz}</w:rPr>'
        para_props = "<w:pPr><w:keepNext/></w:pPr>" if keep_next else ""
        cells.append(
            f"<w:tc><w:tcPr>{props}</w:tcPr><w:p>{para_props}<w:r>{run_props}"
            f'<w:t xml:space="preserve">{xml_escape(clean(text))}</w:t></w:r></w:p></w:tc>'
        )
    keep = "" if long else "<w:trPr><w:cantSplit/></w:trPr>"
    return f"<w:tr>{keep}{''.join(cells)}</w:tr>"


def _para(doc: docx.document.Document, text: str, style: str | None = None) -> None:
    doc.add_paragraph(clean(text), style=style)


def _field(paragraph: Any, instruction: str, placeholder: str) -> None:
    """A Word field (PAGE, NUMPAGES) that Word and LibreOffice work out when they lay out."""
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = placeholder
    run.append(t)
    fld.append(run)
    paragraph._p.append(fld)


def _header_footer(section: Any, classification: str, title: str) -> None:
    """The classification at the top and foot of every page, with the title and page numbers."""
    head = section.header.paragraphs[0]
    head.text = clean(classification)
    head.alignment = WD_ALIGN_PARAGRAPH.CENTER
    head.runs[0].bold = True
    foot = section.footer.paragraphs[0]
    foot.alignment = WD_ALIGN_PARAGRAPH.CENTER
    foot.add_run(clean(f"{classification}  ·  {title}  ·  Page "))
    _field(foot, "PAGE", "1")
    foot.add_run(" of ")
    _field(foot, "NUMPAGES", "1")


def _page(section: Any, landscape: bool) -> None:
    short, long = Cm(A4[0]), Cm(A4[1])
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = long, short
        margin = LANDSCAPE_MARGIN
    else:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = short, long
        margin = PORTRAIT_MARGIN
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(margin))
    section.header_distance = section.footer_distance = Cm(0.8)


def png_size(png: bytes) -> tuple[int, int]:
    """A PNG's width and height in pixels, from its IHDR chunk."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def add_chart(doc: docx.document.Document, png: bytes, alt: str) -> tuple[float, float]:
    """``png`` as large as fits: the page's usable width, or less so that its height stays
    within :data:`CHART_MAX_HEIGHT` of the usable height. Returns its size in cm."""
    w_px, h_px = png_size(png)
    width = usable_width(doc)
    height = width * h_px / w_px
    limit = usable_height(doc) * CHART_MAX_HEIGHT
    if height > limit:
        width, height = limit * w_px / h_px, limit
    doc.add_picture(io.BytesIO(png), width=Cm(width))
    pic = doc.inline_shapes[len(doc.inline_shapes) - 1]
    pic._inline.docPr.set("descr", alt)  # alt text, for screen readers
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    return width, height


def _count(cell: CountCell) -> str:
    return f"{cell.now} ({cell.change_text})" if cell.change_text else str(cell.now)


def _counts_words(counts: dict[str, int], labels: Sequence[str]) -> str:
    parts = [f"{label} {counts[label]}" for label in labels if counts.get(label)]
    return ", ".join(parts) or "none"


def _shorten(text: str, width: int = 400) -> str:
    return textwrap.shorten(text, width=width, placeholder="…") if text else ""


def direction_of_travel(rows: Sequence[LogRow]) -> str:
    """ "Improving: 2 better, 1 worse, 5 no change" from the rows' change since last time."""
    better = sum(1 for r in rows if r.change == "better")
    worse = sum(1 for r in rows if r.change == "worse")
    same = sum(1 for r in rows if r.change == "same")
    trend = "Improving" if better > worse else "Worsening" if worse > better else "Steady"
    return f"{trend}: {better} better, {worse} worse, {same} no change"


def recommendations(cover: BoardPaper, digest: Digest) -> list[str]:
    if cover.recommendations:
        return list(cover.recommendations)
    n = len(digest.exceptions)
    return [
        "The board is asked to note the progress made against each area of the plan, and the "
        "impact measures and risks reported.",
        f"The board is asked to agree the action to be taken on the {_n(n, 'exception')} "
        "in section 4, and who will take it.",
    ]


def start_board_paper(
    digest: Digest, cover: BoardPaper, *, title: str, template: bytes | None = None
) -> docx.document.Document:
    """A portrait A4 document with the classification in its header and footer, page numbers,
    Arial 10 pt; over the council's own ``template`` (a .docx: its styles, header and footer
    kept, its body emptied) when it is given."""
    if template is not None:
        doc = docx.Document(io.BytesIO(template))
        body = doc.element.body
        for child in list(body):
            if child.tag != qn("w:sectPr"):
                body.remove(child)
    else:
        doc = docx.Document()
        normal = doc.styles["Normal"]
        normal.font.name = "Arial"
        normal.font.size = Pt(10)
        _page(doc.sections[0], landscape=False)
        _header_footer(doc.sections[0], cover.classification, title)
    doc.core_properties.title = clean(title)
    doc.core_properties.author = "Chaser"
    return doc


def front_sheet(
    doc: docx.document.Document, digest: Digest, cover: BoardPaper, *, title: str
) -> None:
    """The front sheet: meeting, date, title, lead member and director, author, contact and the
    classification, as a two-column table."""
    meeting = cover.meeting or group_name(digest)
    doc.add_heading(clean(meeting), level=0)
    doc.add_heading(clean(title), level=1)
    lines = [
        ("Meeting", meeting),
        ("Date of meeting", long_date(digest.meeting_date)),
        ("Title of report", title),
        ("Lead member", cover.lead_member),
        ("Director", cover.director),
        ("Author", cover.author),
        ("Contact", cover.contact),
        ("Classification", cover.classification),
        ("Plan", digest.plan_title),
        ("Compiled", f"{_when(digest.generated_at)}, by Chaser"),
    ]
    _docx_table(doc, ("Report details", ""), [(k, v) for k, v in lines if v], widths=(4.5, 12.5))


def digest_docx(
    digest: Digest, cover: BoardPaper | None = None, *, template: bytes | None = None
) -> bytes:
    """The board paper: a portrait cover report in a council's style (front sheet, purpose,
    recommendations, summary of progress, exceptions needing a decision, sign-off), then the
    highlight report by area, the scorecard, the risks, non-responders and escalations, and the
    action and impact log as a landscape appendix."""
    cover = cover or BoardPaper()
    group = group_name(digest)
    title = cover.title or f"{digest.plan_title}: progress report"
    doc = start_board_paper(digest, cover, title=title, template=template)
    front_sheet(doc, digest, cover, title=title)

    doc.add_heading("1. Purpose of the report", level=1)
    _para(
        doc,
        cover.purpose
        or f"To update the {group} on progress against the {digest.plan_title} since its "
        "previous meeting, and to bring to its attention the actions that need a decision.",
    )
    doc.add_heading("2. Recommendations", level=1)
    for line in recommendations(cover, digest):
        _para(doc, line, style="List Number")

    doc.add_heading("3. Summary of progress", level=1)
    s = summary(digest)
    since = (
        f" since the previous meeting on {long_date(digest.previous_meeting)}"
        if digest.previous_meeting
        else ""
    )
    for line in (
        f"{_n(s['actions'], 'action')} in scope; {_n(s['updated'], 'action')} updated{since}"
        f" ({s['late']} after the papers deadline of {long_date(digest.papers_deadline)}).",
        f"{_n(s['flagged'], 'action')} flagged for the board, {s['high']} of them high.",
        f"{_n(s['not_replied'], 'lead')} not replied; {_n(s['escalations'], 'escalation')} sent"
        f" (one per officer), naming {_n(s['escalated'], 'lead')}.",
        f"{_n(s['dead_letters'], 'message')} could not be delivered.",
        (
            f"{_n(s['not_invited'], 'mandatory invitee')} not on the invitation."
            if s["not_invited"]
            else "Every mandatory invitee is on the invitation."
        ),
    ):
        _para(doc, line, style="List Bullet")
    table = area_table(digest)
    _para(doc, "Status by area" + (" (in brackets: the change since then)" if since else "") + ":")
    _docx_table(
        doc,
        ["Area", *(lv.label for lv in table.labels), "Total"],
        [[line.title, *(_count(c) for c in line.cells), _count(line.total)] for line in table.rows],
    )
    _para(doc, "")
    add_chart(
        doc,
        digest_chart_png(digest),
        "Stacked bar charts: actions by status in each area at recent meetings.",
    )

    doc.add_heading("4. Exceptions needing a decision", level=1)
    exceptions = exceptions_worst_first(digest)
    if exceptions:
        _para(doc, "Only the actions flagged, worst first, with the lead's own words.")
        _docx_table(
            doc,
            ("Ref", "Action", "Lead", "Status", "Why flagged", "Lead's own words"),
            [
                (
                    r.ref,
                    r.title,
                    r.lead_name or r.lead_code,
                    (r.status_label or NOT_REPORTED, r.status_colour),
                    f"{SEVERITY_WORDS.get(r.worst, '') if r.worst else ''}: {_flags_text(r)}",
                    _dated(r.narrative, r.narrative_on) or "No update given.",
                )
                for r in exceptions
            ],
            widths=(1.0, 4.6, 2.2, 1.8, 3.4, 4.0),
            size=8,
        )
    else:
        _para(doc, "No actions are flagged.")

    doc.add_heading("5. Sign-off", level=1)
    _docx_table(
        doc,
        ("Signed off by", "Date"),
        [(cover.sign_off or cover.director or "", "")],
        widths=(12.0, 5.0),
    )

    # a new page by the heading's own property, not a page break: a break that falls at the
    # foot of a full page would leave a blank one
    doc.add_heading(
        "6. Highlight report by area", level=1
    ).paragraph_format.page_break_before = True
    highlight_report(doc, digest)

    add_scorecard_docx(doc, digest, table=_docx_table, para=_para)  # measures and risks
    doc.add_heading("Changes to the risk register", level=1)
    if digest.risks:
        _docx_table(
            doc,
            ("Ref", "Risk", "Mitigation", "Owner", "Change"),
            [
                (r.ref, r.description, r.mitigation, r.owner, RISK_WORDS.get(r.change, r.change))
                for r in digest.risks
            ],
        )
    else:
        _para(doc, "No changes since the previous meeting.")

    non_responders(doc, digest)

    doc.add_heading("Decisions tracker", level=1)
    if digest.decisions:
        for meeting in digest.decisions:
            _para(doc, f"{meeting.meeting}:")
            for line in meeting.lines:
                _para(doc, line, style="List Bullet")
    else:
        _para(doc, "No decisions are recorded since the previous meeting.")

    doc.add_heading("Messages not delivered", level=1)
    if digest.dead_letters:
        _docx_table(
            doc,
            ("When", "Message", "To (person)", "Reason"),
            [(_when(d.at), d.kind, d.recipient, d.reason) for d in digest.dead_letters],
        )
    else:
        _para(doc, "Every message was delivered.")

    doc.add_heading("Mandatory invitees", level=1)
    if digest.invitees:
        _docx_table(
            doc,
            ("Invitee", "Role", "Invited"),
            [
                (i.name, i.role, "Yes" if i.invited else ("No - not invited", "FF0000"))
                for i in digest.invitees
            ],
        )
    else:
        _para(doc, "No mandatory invitees are configured.")

    log_appendix(doc, digest)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def highlight_report(doc: docx.document.Document, digest: Digest) -> None:
    """Per area: status now against the previous meeting, direction of travel, milestones
    missed or moved; then the actions that moved, are flagged or are new this period, with
    progress this period and what is due next; the rest named in one line."""
    labels = status_labels(digest)
    for area in digest.areas:
        title = area.title or NOT_REPORTED
        rows = [r for r in digest.log if (r.area_title or NOT_REPORTED) == title]
        doc.add_heading(clean(_shorten(title, 160)), level=2)
        previous = (
            f" (previous meeting: {_counts_words(area.previous, labels)})"
            if digest.previous_meeting
            else ""
        )
        _para(doc, f"Status now: {_counts_words(area.counts, labels)}{previous}.")
        _para(doc, f"Direction of travel: {direction_of_travel(rows)}.")
        missed = [
            f"{r.ref} ({f.reason})"
            for r in rows
            for f in r.flags
            if f.rule in ("milestone_missed", "overdue", "forecast_slipped")
        ]
        _para(doc, "Milestones missed or moved: " + ("; ".join(missed) or "none") + ".")
        notable = [r for r in rows if r.flags or r.change in ("better", "worse", "new")]
        steady = [r for r in rows if r not in notable]
        if notable:
            _docx_table(
                doc,
                ("Ref", "Action", "Previous → current", "Progress this period", "Next: due"),
                [
                    (
                        r.ref,
                        _shorten(r.title, 160),
                        (
                            f"{r.previous_status_label or '–'} → {r.status_label or NOT_REPORTED}",
                            r.status_colour,
                        ),
                        _shorten(_dated(r.narrative, r.narrative_on), 300)
                        if r.updated_this_cycle
                        else "No update this period.",
                        r.due + (f", forecast {r.forecast}" if r.forecast else ""),
                    )
                    for r in notable
                ],
                widths=(1.1, 4.6, 2.6, 6.4, 2.3),
                size=8,
            )
        if steady:
            _para(
                doc,
                "No change and nothing flagged: "
                + ", ".join(f"{r.ref} ({r.status_label or NOT_REPORTED})" for r in steady)
                + ".",
            )


def non_responders(doc: docx.document.Document, digest: Digest) -> None:
    doc.add_heading("Non-responders and escalations", level=1)
    _para(
        doc,
        f"{_n(digest.escalations, 'escalation')} sent for this meeting (one per officer, as "
        f"the meeting page counts them), naming {_n(len(digest.escalated), 'lead')}.",
    )
    if digest.not_replied:
        _docx_table(
            doc,
            ("Lead", "Actions", "Escalated"),
            [
                (
                    (p.name or p.code)
                    + (", replied, awaiting review" if p.awaiting_review else ""),
                    str(p.actions),
                    "Yes" if p.escalated else "No",
                )
                for p in digest.not_replied
            ],
        )
    else:
        _para(doc, "Every lead has replied.")
    escalated = [p for p in digest.escalated if p not in digest.not_replied]
    if escalated:
        _para(doc, "Also escalated: " + ", ".join(p.name or p.code for p in escalated) + ".")


def log_appendix(doc: docx.document.Document, digest: Digest) -> None:
    """The action and impact log, in a landscape section of its own, under each area's name."""
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    _page(section, landscape=True)
    doc.add_heading("Appendix: action and impact log", level=1)
    _para(doc, f"Every action in scope, in plan order ({_n(len(digest.log), 'action')}).")
    rows: list[Sequence[str | tuple[str, str]]] = []
    area = None
    for r in digest.log:
        if r.area_title != area or not rows:
            area = r.area_title
            rows.append((r.area_title or NOT_REPORTED,))
        rows.append(
            (
                r.ref,
                r.title,
                r.lead_name or r.lead_code,
                (r.status_label or NOT_REPORTED, r.status_colour),
                change_words(r),
                r.due + (f" (forecast {r.forecast})" if r.forecast else ""),
                _dated(r.narrative, r.narrative_on),
                r.evidence,
            )
        )
    _docx_table(
        doc,
        ("Ref", "Action", "Lead", "Status", "Change", "Due", "Latest update", "Evidence"),
        rows,
        widths=(1.1, 8.2, 2.4, 2.0, 2.1, 2.1, 4.8, 4.0),
        size=8,
    )


def _n(count: int, word: str) -> str:
    return f"{count} {word if count == 1 else word + 's'}"


def _when(at: datetime) -> str:
    return f"{short_date(at.date())} {at.year} {at:%H:%M}"
