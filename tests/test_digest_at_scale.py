"""The digest of a 5,000-action plan: an email that stays readable (and sendable), every flagged
and slipped action still named in it, and the streamed XLSX log as a council keeps it.

Speed and memory are measured in ``bench/digest.py``, not here."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest

from notifications.channel import Address
from notifications.digest_render import (
    AREAS_SHEET,
    EMAIL_IN_FULL,
    LOG_SHEET,
    digest_xlsx,
    render_digest_email,
    slipped,
    write_digest_xlsx,
)
from notifications.render import Templates, load_templates
from tests.digest_samples import big_digest, digest
from workflows.digest.contents import Digest

SECRETARY = (Address("Board Secretary", "board.secretary@council.example"),)


@pytest.fixture(scope="module")
def templates() -> Templates:
    return load_templates(None)


@pytest.fixture(scope="module")
def big() -> Digest:
    return big_digest(5000)


def render(templates: Templates, d: Digest) -> tuple[str, str]:
    m = render_digest_email(
        d, templates=templates, sender="chaser@council.example", to=SECRETARY, key="digest:SIB"
    )
    return m.text, m.html


def _section(html: str, heading: str) -> str:
    start = html.index(f">{heading}</h2>")
    end = html.find("<h2", start)
    return html[start : end if end > 0 else None]


def test_it_keeps_a_5000_action_email_to_a_few_hundred_kilobytes(
    templates: Templates, big: Digest
) -> None:
    text, html = render(templates, big)
    assert len(big.exceptions) > EMAIL_IN_FULL and len(slipped(big)) > EMAIL_IN_FULL
    assert len(html) < 400_000, f"{len(html)} bytes of HTML"
    assert len(text) < 200_000, f"{len(text)} bytes of text"


def test_it_still_names_every_flagged_and_slipped_action(templates: Templates, big: Digest) -> None:
    text, html = render(templates, big)
    report = _section(html, "Exception report")
    named = re.findall(r"<strong>(\d+\.\d+)</strong>", report)
    shown = re.findall(r'<td class="head"[^>]*>(\d+\.\d+) ', report)
    assert sorted([*shown, *named]) == sorted(r.ref for r in big.exceptions)
    moved = _section(html, "Slipped since the last meeting")
    assert sorted(re.findall(r"<strong>(\d+\.\d+)</strong>", moved)) == sorted(
        r.ref for r in slipped(big)
    )
    assert "Each is in full on the attached spreadsheet" in moved
    flagged = " ".join(text.split("EXCEPTION REPORT")[1].split("ACTION AND IMPACT LOG")[0].split())
    for r in big.exceptions:
        assert f" {r.ref} " in f" {flagged.replace(',', ' ')} "
    assert "section 4 of the attached board paper" in flagged


def test_the_text_writes_out_the_worst_exceptions_and_names_the_rest(
    templates: Templates, big: Digest
) -> None:
    text, _ = render(templates, big)
    report = text.split("EXCEPTION REPORT")[1].split("ACTION AND IMPACT LOG")[0]
    assert f"The worst {EMAIL_IN_FULL} of {len(big.exceptions)}, in full" in report
    assert report.count("Lead's own words:") == EMAIL_IN_FULL
    worst = big.exceptions[0]
    assert report.index(f"{worst.ref}  {worst.title}") < report.index("Also flagged: ")
    also = report[report.index("Also flagged: ") :]
    assert f"{big.exceptions[EMAIL_IN_FULL].ref} (" in also
    assert max(len(line) for line in also.splitlines()) <= 78  # wrapped for a text reader


def test_a_small_plan_still_shows_everything_in_full(templates: Templates) -> None:
    small = digest()
    text, html = render(templates, small)
    assert "Also slipped" not in html and "Also slipped" not in text
    assert "Also flagged" not in text
    assert text.count("Lead's own words:") == len(small.exceptions)


def test_an_override_can_still_list_the_whole_log(tmp_path: Path, big: Digest) -> None:
    (tmp_path / "digest.txt").write_text(
        "{{ log|length }} rows, first {{ log[0].ref }}, last {{ log[-1].ref }}; "
        "{{ log[:2]|map(attribute='status')|join('/') }}\n"
        "{% for r in log %}{{ r.ref }} {% endfor %}\n"
    )
    text, _ = render(load_templates(tmp_path), big)
    head, refs = text.splitlines()[:2]
    first, second = big.log[0], big.log[1]
    assert head == (
        f"5000 rows, first {first.ref}, last {big.log[-1].ref}; "
        f"{first.status_label or 'Not reported'}/{second.status_label or 'Not reported'}"
    )
    assert refs.split() == [r.ref for r in big.log]


def test_the_big_email_fits_a_phone_screen(
    templates: Templates, big: Digest, tmp_path: Path
) -> None:
    from tests.browser import chromium_page

    _, html = render(templates, big)
    page_file = tmp_path / "digest.html"
    page_file.write_text(html)
    with chromium_page() as page:
        for width in (320, 390, 1024):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(page_file.as_uri())
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{scroll} px wide at a {width} px viewport"
        assert page.errors == []


# -- the streamed XLSX log ---------------------------------------------------------------------


def test_the_log_written_to_a_file_is_the_log_attached(big: Digest, tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    write_digest_xlsx(big, path)
    on_disk = openpyxl.load_workbook(path, read_only=True)[LOG_SHEET]
    attached = openpyxl.load_workbook(io.BytesIO(digest_xlsx(big)), read_only=True)[LOG_SHEET]
    assert on_disk.max_row == attached.max_row == 5002  # its size is stated, as Excel's is
    assert [r[0] for r in on_disk.iter_rows(min_row=3, values_only=True)] == [
        r.ref for r in big.log
    ]
    assert list(on_disk.iter_rows(min_row=5002, values_only=True)) == list(
        attached.iter_rows(min_row=5002, values_only=True)
    )


def test_the_all_areas_line_is_bold_and_readable_on_its_colours() -> None:
    wb = openpyxl.load_workbook(io.BytesIO(digest_xlsx(digest())))
    ws = wb[AREAS_SHEET]
    last = ws.max_row
    assert ws.cell(row=last, column=1).value == "All areas"
    assert all(c.font.b for c in ws[last])
    blue = ws.cell(row=last, column=2)  # "Blue", the scale's first colour
    assert blue.fill.fgColor.rgb == "000070C0"
    assert blue.font.color is not None and blue.font.color.rgb == "00FFFFFF"  # not black on blue
