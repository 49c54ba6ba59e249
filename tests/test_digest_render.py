"""Rendering the secretary's digest: the email, the XLSX log, the DOCX board paper, the chart."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import docx
import openpyxl
import pytest
from docx.oxml.ns import qn
from docx.shared import Cm

from notifications.channel import Address
from notifications.digest_render import (
    EXCEPTIONS_SHEET,
    LOG_COLUMNS,
    LOG_SHEET,
    digest_chart_png,
    digest_docx,
    digest_xlsx,
    ink,
    render_digest_email,
)
from notifications.render import Templates, load_templates
from tests.digest_samples import SCRIPT, big_digest, digest
from workflows.digest.config import BoardPaper
from workflows.digest.contents import Digest

SECRETARY = (Address("Board Secretary", "board.secretary@council.example"),)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def templates() -> Templates:
    return load_templates(None)


@pytest.fixture(scope="module")
def sample() -> Digest:
    return digest()


def email(templates: Templates, d: Digest) -> tuple[str, str, str]:
    m = render_digest_email(
        d, templates=templates, sender="chaser@council.example", to=SECRETARY, key="digest:SIB"
    )
    assert m.channel == "email"
    assert m.to == SECRETARY
    assert m.headers["X-Chaser-Key"] == "digest:SIB"
    return m.subject, m.text, m.html


# -- email -------------------------------------------------------------------------------------


def test_the_subject_names_the_board_the_meeting_and_the_count(
    templates: Templates, sample: Digest
) -> None:
    subject, _, _ = email(templates, sample)
    assert subject == (
        "Digest for the Local Area SEND Improvement Board, Tue 30 Sep 2025: 6 actions flagged"
    )
    subject, _, _ = email(templates, replace(sample, exceptions=()))
    assert subject.endswith(": no actions flagged")


def test_it_puts_what_needs_the_boards_attention_before_the_counts(
    templates: Templates, sample: Digest
) -> None:
    _, _, html = email(templates, sample)
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert headings == [
        "Not replied and escalated",
        "Slipped since the last meeting",
        "Exception report",
        "Action and impact log",
        "Status by area",
        "Changes to the risk register",
        "Messages not delivered",
        "Mandatory invitees",
    ]


def _section(html: str, heading: str) -> str:
    start = html.index(f">{heading}</h2>")
    end = html.find("<h2", start)
    return html[start : end if end > 0 else None]


def test_the_exception_report_is_only_what_is_flagged_worst_first(
    templates: Templates, sample: Digest
) -> None:
    _, _, html = email(templates, sample)
    report = _section(html, "Exception report")
    refs = re.findall(r'<td class="head"[^>]*>(\d+\.\d+) ', report)
    assert refs == ["1.3", "3.1", "1.2", "2.1", "2.2", "3.3"]
    assert "Overdue by 3 months" in report
    assert "Timeliness fell to 38% in August" in report  # the lead's own words
    assert "No update given." in report


def test_it_shows_the_worst_exceptions_in_full_and_names_the_rest(
    templates: Templates, sample: Digest
) -> None:
    many = tuple(replace(sample.exceptions[0], ref=f"9.{i}") for i in range(1, 11))
    _, _, html = email(templates, replace(sample, exceptions=many))
    report = _section(html, "Exception report")
    assert re.findall(r'<td class="head"[^>]*>(\d+\.\d+) ', report) == [
        f"9.{i}" for i in range(1, 7)
    ]
    assert "the worst 6 of 10" in report
    assert "Also flagged: <strong>9.7</strong> (high)" in report
    assert "section 4 of the attached board paper" in report


def test_it_summarises_the_log_and_leaves_the_rows_to_the_spreadsheet(
    templates: Templates, sample: Digest
) -> None:
    _, text, html = email(templates, sample)
    log = _section(html, "Action and impact log")
    assert "12 actions in scope" in log
    assert "1 better, 1 worse" in log or "better" in log
    assert "The full log is in the spreadsheet" in log
    assert "QA audit tool v2" not in html  # an evidence cell: no row of the log is inline
    assert "1.10  Publish the graduated approach toolkit" not in text.split("EXCEPTION")[0]


def test_it_lists_what_slipped_since_the_last_meeting(templates: Templates, sample: Digest) -> None:
    _, text, html = email(templates, sample)
    slipped = _section(html, "Slipped since the last meeting")
    refs = re.findall(r"<strong>(\d+\.\d+)</strong>", slipped)
    worse = [r.ref for r in sample.log if r.change == "worse"]
    assert worse and set(worse) <= set(refs)
    assert "182 days later" in slipped  # the forecast moved past its baseline
    assert "SLIPPED SINCE THE LAST MEETING" in text


def test_status_is_its_colour_and_its_label(templates: Templates, sample: Digest) -> None:
    _, _, html = email(templates, sample)
    amber = re.search(r'<td[^>]*bgcolor="#FFC000"[^>]*>([^<]*)</td>', html)
    assert amber is not None and amber.group(1) == "Amber"
    assert "background-color: #FFC000" in amber.group(0)
    blue = re.search(r'<span class="chip" style="[^"]*#0070C0[^"]*">Blue \d+</span>', html)
    assert blue is not None and "color: #FFFFFF" in blue.group(0)  # readable on blue
    assert ">Not reported</td>" in html


def test_the_html_is_self_contained_and_inlined(templates: Templates, sample: Digest) -> None:
    _, _, html = email(templates, sample)
    assert 'src="http' not in html
    assert "<link" not in html
    assert "<style" not in html  # inlined, then removed
    assert "<img" not in html
    assert html.count('style="') > 100
    assert re.search(r'<td class="head" style="[^"]*font-weight: ?bold', html)
    assert html.isascii()


def test_user_text_is_escaped(templates: Templates, sample: Digest) -> None:
    _, text, html = email(templates, sample)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "quality assurance &amp; moderation" in html
    assert SCRIPT in text  # plain text is plain


def test_the_html_shows_counts_replies_risks_dead_letters_and_invitees(
    templates: Templates, sample: Digest
) -> None:
    _, _, html = email(templates, sample)
    areas = _section(html, "Status by area")
    assert "All areas" in areas and "(+1)" in areas and "(&#8722;1)" in areas  # 7-bit safe
    replies = _section(html, "Not replied and escalated")
    assert "Morwenna Rowe" in replies and "Kit Trelawny" in replies
    risks = _section(html, "Changes to the risk register")
    assert "Loss of case officers delays EHCPs" in risks and "Agency cover &amp;" in risks
    dead = _section(html, "Messages not delivered")
    assert "550 mailbox unavailable" in dead and " to JB<" in dead
    invitees = _section(html, "Mandatory invitees")
    assert "Parent Carer Forum representative" in invitees and "No: not invited" in invitees


def test_the_text_version_has_the_same_content(templates: Templates, sample: Digest) -> None:
    subject, text, _ = email(templates, sample)
    assert text.startswith(subject + "\n")
    order = [
        "NOT REPLIED AND ESCALATED",
        "SLIPPED SINCE THE LAST MEETING",
        "EXCEPTION REPORT",
        "ACTION AND IMPACT LOG",
        "STATUS BY AREA",
        "CHANGES TO THE RISK REGISTER",
        "MESSAGES NOT DELIVERED",
        "MANDATORY INVITEES",
    ]
    positions = [text.index(f"\n{h}\n=") for h in order]
    assert positions == sorted(positions)
    report = text[positions[2] : positions[3]]
    assert report.index("1.3  Issue 60%") < report.index("3.3  Transition health")
    assert "Status: Amber (Worse (was Green))" in text
    assert "Parent Carer Forum representative (Parent carers): NOT INVITED" in text
    assert "<" not in text.replace(SCRIPT, "")  # no HTML leaks into the text body


def test_an_empty_digest_still_renders(templates: Templates, sample: Digest) -> None:
    empty = replace(
        sample,
        exceptions=(),
        log=(),
        areas=(),
        not_replied=(),
        escalated=(),
        risks=(),
        dead_letters=(),
        invitees=(),
        trend=(),
        previous_meeting=None,
    )
    _, text, html = email(templates, empty)
    assert "No actions are flagged." in html and "Every lead has replied." in text
    assert digest_chart_png(empty).startswith(PNG)
    assert digest_docx(empty)
    assert digest_xlsx(empty)


def test_an_override_template_wins(tmp_path: Path, sample: Digest) -> None:
    (tmp_path / "digest.txt").write_text("Our own digest for {{ group }}: {{ summary.flagged }}\n")
    _, text, html = email(load_templates(tmp_path), sample)
    assert text == "Our own digest for Local Area SEND Improvement Board: 6\n"
    assert "Exception report" in html  # the shipped HTML still used


# -- XLSX --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workbook(sample: Digest) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(digest_xlsx(sample)))


def test_the_workbook_has_the_log_exceptions_and_counts(workbook: openpyxl.Workbook) -> None:
    assert workbook.sheetnames == [LOG_SHEET, EXCEPTIONS_SHEET, "Status by area"]


def test_the_log_sheet_is_laid_out_as_a_council_would(
    workbook: openpyxl.Workbook, sample: Digest
) -> None:
    ws = workbook[LOG_SHEET]
    assert "Local Area SEND Improvement Board" in str(ws["A1"].value)
    header = [c.value for c in ws[2]]
    assert header == [name for name, _ in LOG_COLUMNS]
    assert header[:5] == ["Ref", "Action", "Area", "Lead", "Status"]
    assert all(c.font.b for c in ws[2])
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref == f"A2:L{2 + len(sample.log)}"
    assert ws.max_row == 2 + len(sample.log)
    assert ws["B3"].alignment.wrap_text
    assert ws.column_dimensions["J"].width > ws.column_dimensions["A"].width


def test_one_row_per_action_with_its_values(workbook: openpyxl.Workbook, sample: Digest) -> None:
    ws = workbook[LOG_SHEET]
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert [r[0] for r in rows] == [r.ref for r in sample.log]
    by_ref = {r[0]: r for r in rows}
    assert by_ref["1.2"][1:9] == (
        "Review EHCP quality assurance & moderation",
        "Identification and assessment of need",
        "Hester Pengelly",
        "Amber",
        "No change",
        "Dec 2024",
        "Jun 2025",
        182,
    )
    assert (
        by_ref["1.2"][9] == f"16 Sep 2025: Moderation panel met twice. {SCRIPT} Audit tool agreed."
    )
    assert by_ref["1.2"][10] == "QA audit tool v2"
    assert by_ref["1.2"][11] == (
        "Forecast moved from Dec 2024 to Jun 2025; Amber for 4 meetings with no change"
    )
    assert by_ref["2.2"][4] == "Not reported"


def test_refs_are_text_and_status_cells_are_coloured(workbook: openpyxl.Workbook) -> None:
    ws = workbook[LOG_SHEET]
    ref = next(c for c in ws["A"] if c.value == "1.10")
    assert ref.data_type == "s" and ref.number_format == "@"
    amber = ws["E4"]
    assert amber.value == "Amber"
    assert amber.fill.fgColor.rgb == "00FFC000"
    blue = ws["E6"]
    assert blue.value == "Blue" and blue.font.color.rgb == "00FFFFFF"  # readable on blue


def test_the_exceptions_sheet_is_worst_first_with_reasons(workbook: openpyxl.Workbook) -> None:
    ws = workbook[EXCEPTIONS_SHEET]
    assert ws.freeze_panes == "A3" and ws.auto_filter.ref
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert [r[0] for r in rows] == ["1.3", "3.1", "1.2", "2.1", "2.2", "3.3"]
    assert rows[0][5] == "High"
    assert "Overdue by 3 months" in rows[0][6]
    assert rows[2][7] == f"Moderation panel met twice. {SCRIPT} Audit tool agreed."


def test_the_status_by_area_sheet_counts(workbook: openpyxl.Workbook) -> None:
    ws = workbook["Status by area"]
    header = [c.value for c in ws[2]]
    assert header[:3] == ["Area", "Blue", "Blue: change"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=3, values_only=True)}
    assert rows["All areas"][-1] == 12
    green = header.index("Green")
    assert rows["Preparing for adulthood"][green : green + 2] == (2, 1)


def test_text_that_looks_like_a_formula_stays_text(sample: Digest) -> None:
    row = replace(sample.log[0], evidence='=HYPERLINK("http://x.example","x")', title="\x07Bell")
    wb = openpyxl.load_workbook(io.BytesIO(digest_xlsx(replace(sample, log=(row,)))))
    ws = wb[LOG_SHEET]
    assert ws["K3"].data_type == "s"
    assert ws["K3"].value == '=HYPERLINK("http://x.example","x")'
    assert ws["B3"].value == "Bell"  # a control character XML cannot hold is dropped


# -- DOCX and the chart ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper(sample: Digest) -> docx.document.Document:
    return docx.Document(io.BytesIO(digest_docx(sample)))


def test_the_board_paper_has_its_sections(paper: docx.document.Document) -> None:
    headings = [
        p.text
        for p in paper.paragraphs
        if p.style is not None and str(p.style.name).startswith(("Heading 1", "Title"))
    ]
    assert headings == [
        "Local Area SEND Improvement Board",
        "Plymouth Local Area SEND Written Statement of Action: progress report",
        "1. Purpose of the report",
        "2. Recommendations",
        "3. Summary of progress",
        "4. Exceptions needing a decision",
        "5. Sign-off",
        "6. Highlight report by area",
        "Changes to the risk register",
        "Non-responders and escalations",
        "Decisions tracker",
        "Messages not delivered",
        "Mandatory invitees",
        "Appendix: action and impact log",
    ]
    text = "\n".join(p.text for p in paper.paragraphs)
    assert "6 actions flagged for the board, 2 of them high." in text
    assert "The board is asked to note" in text and "The board is asked to agree" in text
    front = _table(paper, "Report details", "")
    assert ["Date of meeting", "Tuesday 30 September 2025"] in front
    assert ["Classification", "OFFICIAL"] in front


def test_it_fills_the_front_sheet_from_the_plans_configuration(sample: Digest) -> None:
    cover = BoardPaper(
        meeting="Plymouth SEND Improvement Board",
        title="SEND improvement: progress to September",
        lead_member="Cllr A Member",
        director="Director of Children's Services",
        author="M Tregear",
        contact="send@plymouth.example",
        classification="OFFICIAL-SENSITIVE",
        purpose="To tell the board where the plan stands.",
        recommendations=("The board is asked to note X.", "The board is asked to agree Y."),
    )
    paper = docx.Document(io.BytesIO(digest_docx(sample, cover)))
    front = _table(paper, "Report details", "")
    for row in (
        ["Meeting", "Plymouth SEND Improvement Board"],
        ["Title of report", "SEND improvement: progress to September"],
        ["Lead member", "Cllr A Member"],
        ["Author", "M Tregear"],
        ["Contact", "send@plymouth.example"],
        ["Classification", "OFFICIAL-SENSITIVE"],
    ):
        assert row in front
    text = [p.text for p in paper.paragraphs]
    assert "To tell the board where the plan stands." in text
    assert "The board is asked to agree Y." in text
    for section in paper.sections:  # the classification heads and foots every page
        assert section.header.paragraphs[0].text == "OFFICIAL-SENSITIVE"
        assert section.footer.paragraphs[0].text.startswith("OFFICIAL-SENSITIVE")


def test_it_is_portrait_with_the_log_in_a_landscape_appendix(
    paper: docx.document.Document, sample: Digest
) -> None:
    cover, appendix = paper.sections
    assert cover.page_width is not None and cover.page_height is not None
    assert cover.page_width < cover.page_height  # portrait A4
    assert appendix.page_width is not None and appendix.page_height is not None
    assert appendix.page_width > appendix.page_height
    log = _table(paper, "Ref", "Action", third="Lead", fourth="Status", fifth="Change")
    assert [r[0] for r in log[1:] if r[0] == r[1] == r[-1]] == [
        "Identification and assessment of need",
        "Joint commissioning",
        "Preparing for adulthood",
    ]  # each area as a band across the table, above its actions
    assert [r[0] for r in log[1:] if r[0] != r[1]] == [r.ref for r in sample.log]


def test_its_tables_fit_the_page_with_columns_fitted_to_content(
    paper: docx.document.Document,
) -> None:
    for table in paper.tables:
        widths = [int(c.get(qn("w:w"))) for c in table._tbl.tblGrid.findall(qn("w:gridCol"))]
        assert sum(widths) <= Cm(26.7).twips + 10  # never wider than the page between margins
    counts = _table(paper, "Area", "Blue")
    grid = paper.tables[[t.rows[0].cells[0].text for t in paper.tables].index("Area")]._tbl
    widths = [int(c.get(qn("w:w"))) for c in grid.tblGrid.findall(qn("w:gridCol"))]
    assert widths[0] > 2 * max(widths[1:])  # the area's name gets the room, not the counts
    assert counts[-1][0] == "All areas"


def test_the_highlight_report_gives_each_area_its_travel_and_milestones(
    paper: docx.document.Document,
) -> None:
    text = "\n".join(p.text for p in paper.paragraphs)
    start = text.index("6. Highlight report by area")
    highlight = text[start : text.index("Changes to the risk register", start)]
    for area in ("Identification and assessment of need", "Preparing for adulthood"):
        assert area in highlight
    assert "Direction of travel: " in highlight
    assert "Milestones missed or moved: " in highlight
    assert "1.3 (Overdue by 3 months)" in highlight
    rows = _table(paper, "Ref", "Action", third="Previous → current")
    assert rows[0][3:] == ["Progress this period", "Next: due"]


def _table(
    paper: docx.document.Document, first_header: str, second: str, **more: str
) -> list[list[str]]:
    """The first table headed so (``third=``, ``fourth=``… name further headers)."""
    wanted = [first_header, second, *more.values()]
    for t in paper.tables:
        rows = [[c.text for c in r.cells] for r in t.rows]
        if rows[0][: len(wanted)] == wanted:
            return rows
    raise AssertionError(f"no table headed {', '.join(wanted)}")


def test_the_exception_table_is_worst_first_with_the_leads_words(
    paper: docx.document.Document,
) -> None:
    rows = _table(paper, "Ref", "Action", third="Lead", fourth="Status", fifth="Why flagged")
    assert rows[0] == ["Ref", "Action", "Lead", "Status", "Why flagged", "Lead's own words"]
    assert [r[0] for r in rows[1:]] == ["1.3", "3.1", "1.2", "2.1", "2.2", "3.3"]
    assert rows[1][3] == "Red"
    assert rows[1][4].startswith("High: Overdue by 3 months")
    assert rows[3][1] == "Review EHCP quality assurance & moderation"
    assert rows[3][5] == f"16 Sep 2025: Moderation panel met twice. {SCRIPT} Audit tool agreed."
    assert rows[5][5] == "No update given."


def test_the_board_paper_lists_replies_risks_dead_letters_and_invitees(
    paper: docx.document.Document,
) -> None:
    assert _table(paper, "Lead", "Actions")[1] == ["Morwenna Rowe", "3", "Yes"]
    assert _table(paper, "Ref", "Risk")[1][4] == "New"
    assert _table(paper, "When", "Message")[1][3] == "550 mailbox unavailable"
    invitees = _table(paper, "Invitee", "Role")
    assert invitees[3] == ["Parent Carer Forum representative", "Parent carers", "No - not invited"]
    counts = _table(paper, "Area", "Blue")
    assert counts[-1][0] == "All areas" and counts[-1][-1] == "12 (+1)"


def test_the_board_paper_embeds_the_chart(paper: docx.document.Document) -> None:
    assert len(paper.inline_shapes) == 1
    image_parts = [p for p in paper.part.package.parts if p.content_type == "image/png"]
    assert len(image_parts) == 1 and image_parts[0].blob.startswith(PNG)


def test_the_chart_is_a_png(sample: Digest) -> None:
    png = digest_chart_png(sample)
    assert png.startswith(PNG)
    assert digest_chart_png(sample) == png  # the same digest, the same bytes


def test_the_chart_shows_dollar_signs_as_written(sample: Digest) -> None:
    areas = tuple(replace(a, title="Costs $5 and $6") for a in sample.areas[:1])
    assert digest_chart_png(replace(sample, areas=areas, trend=())).startswith(PNG)


def test_text_ink_is_readable_on_the_scale_colours() -> None:
    assert ink("FFC000") == "0B0C0C"  # amber: dark text
    assert ink("0070C0") == "FFFFFF"  # blue: white text
    assert ink("not a colour") == "0B0C0C"


def test_a_5000_action_plan_fills_the_log() -> None:
    big = big_digest(5000)
    ws = openpyxl.load_workbook(io.BytesIO(digest_xlsx(big)), read_only=True)[LOG_SHEET]
    assert ws.max_row == 5002
    assert next(ws.iter_rows(min_row=5002, values_only=True))[0] == "50.100"


def test_a_plan_with_many_areas_charts_them_together(sample: Digest) -> None:
    many = tuple(replace(sample.areas[0], area=i, title=f"Area {i}") for i in range(1, 41))
    trend = (replace(sample.trend[-1], counts={a.title: {"Amber": 2} for a in many}),)
    assert digest_chart_png(replace(sample, areas=many, trend=trend)).startswith(PNG)
