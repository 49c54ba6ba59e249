"""The scorecard and risk sections of the digest: in the email (HTML and text), the board paper
(DOCX, with a chart per measure) and the log (XLSX), built from figures and reviews the leads
gave through the apply path."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import docx
import openpyxl
from sqlalchemy import Engine
from sqlmodel import Session

from notifications.channel import Address
from notifications.digest_render import digest_docx, digest_xlsx, render_digest_email
from notifications.digest_scorecard import measure_chart_png
from notifications.render import load_templates
from tests.measures_helpers import at, register, reply_from, scorecard, with_plan
from tests.test_digest import build
from workflows.digest.contents import Digest
from workflows.measures.email import apply_emailed_figures
from workflows.measures.scoring import Point
from workflows.risks.email import apply_emailed_reviews


def _digest(engine: Engine) -> Digest:
    with_plan(engine)
    scorecard(engine, now=at(2025, 6, 2))
    register(engine, now=at(2025, 6, 2))
    ap, fo = (
        reply_from(engine, "AP", at=at(2025, 9, 16)),
        reply_from(engine, "FO", at=at(2025, 9, 17)),
    )
    with Session(engine) as s:
        s.add(ap)
        s.add(fo)
        apply_emailed_figures(s, ap, "EHCP 20-week timeliness: 46%", now=at(2025, 9, 16))
        apply_emailed_reviews(
            s, fo, "Risk R3: likelihood now 4, mitigation: extra clinics", now=at(2025, 9, 17)
        )
        s.commit()
    return build(engine)


def test_it_puts_the_scorecard_and_the_escalated_risk_in_the_digest(engine: Engine) -> None:
    d = _digest(engine)
    assert d.scorecard is not None
    m1 = next(m for m in d.scorecard.measures if m.code == "M1")
    assert (m1.latest, m1.period, m1.rag, m1.arrow, m1.direction) == (
        "46%",
        "Aug 2025",
        "red",
        "↓",
        "worsening",
    )
    assert m1.target == "75% by Mar 2026" and len(m1.sparkline) == 5
    assert [m.code for m in d.scorecard.off_trajectory] == ["M1"]
    assert [r.code for r in d.scorecard.escalated] == ["R3"]
    assert [r.code for r in d.scorecard.top_risks][:2] == ["R1", "R3"]
    (change,) = d.scorecard.changes
    assert (change.code, change.who) == ("R3", "Freya Odgers")
    assert change.what.startswith("likelihood 3 → 4; mitigation: extra clinics")

    templates = load_templates(None)
    m = render_digest_email(
        d,
        templates=templates,
        sender="chaser@council.example",
        to=(Address("Sec", "sec@council.example"),),
        key="digest:SIB",
    )
    assert "Scorecard: impact measures" in m.html and "Risk register" in m.html
    assert "Off trajectory:</strong> EHCP 20-week timeliness" in m.html
    assert "R3 (12 &#8594; 16)" in m.html
    assert "SCORECARD: IMPACT MEASURES" in m.text
    assert "Latest: 46% (Aug 2025) ↓ worsening" in m.text
    assert "R3  16 Very high (was 12): Waiting lists for community paediatric assessment" in m.text
    assert "Escalated: R3 (12 -> 16)" in m.text


def test_the_board_paper_and_the_log_carry_the_scorecard_and_the_risks(engine: Engine) -> None:
    d = _digest(engine)
    paper = docx.Document(io.BytesIO(digest_docx(d)))
    headings = [
        p.text
        for p in paper.paragraphs
        if p.style is not None and p.style.name.startswith("Heading")
    ]
    assert "Scorecard: impact measures" in headings and "Risk register" in headings
    texts = [c.text for t in paper.tables for row in t.rows for c in row.cells]
    assert "46% (Aug 2025)" in texts and "16 Very high" in texts
    with zipfile.ZipFile(io.BytesIO(digest_docx(d))) as z:
        pictures = [n for n in z.namelist() if n.startswith("word/media/")]
    assert len(pictures) == 1 + len(d.scorecard.measures)  # type: ignore[union-attr]
    wb = openpyxl.load_workbook(io.BytesIO(digest_xlsx(d)))
    assert {"Scorecard", "Risks"} <= set(wb.sheetnames)
    sc = wb["Scorecard"]
    row = next(r for r in sc.iter_rows(min_row=3, values_only=True) if r[0] == "M1")
    assert row[3] == 46 and row[7] == "Red"
    rk = wb["Risks"]
    r3 = next(r for r in rk.iter_rows(min_row=3, values_only=True) if r[0] == "R3")
    assert (r3[3], r3[4], r3[5], r3[7]) == (4, 4, 16, 12) and "Escalated" in r3[11]


def test_the_measure_chart_is_a_png_against_the_trajectory() -> None:
    png = measure_chart_png(
        "EHCP 20-week timeliness",
        [Point(date(2025, 4, 30), 49), Point(date(2025, 5, 31), 53)],
        [Point(date(2025, 3, 31), 40), Point(date(2025, 9, 30), 60)],
        unit="%",
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
