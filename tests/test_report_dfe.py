"""`chaser report dfe`: the council's self-assessment for the Department, from the store."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import docx
import docx.document
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.commands.report import write_dfe
from chaser.service import tick
from notifications.dfe_report import UNKNOWN_ORGANISATION, organisation
from tests.conftest import PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink
from tests.test_digest_service import _runtime
from tests.test_replies import AISHA, TRUSTED, reply_to
from workflows.replies.intake import ingest_email
from workflows.store.board_models import MeetingRecord
from workflows.store.models import Plan

SECTIONS = [
    "1. Progress against each area",
    "2. Dashboard of impact measures",
    "3. Milestones met and missed",
    "4. Slippage, with reasons",
    "5. Partners' part",
    "6. Governance",
    "7. Evidence log",
]


def _headings(paper: docx.document.Document) -> list[str]:
    return [
        p.text for p in paper.paragraphs if p.style is not None and str(p.style.name) == "Heading 1"
    ]


def _table(paper: docx.document.Document, first: str) -> list[list[str]]:
    for t in paper.tables:
        rows = [[c.text for c in r.cells] for r in t.rows]
        if rows[0][0] == first:
            return rows
    raise AssertionError(f"no table headed {first}")


def test_it_writes_the_stocktake_from_the_store(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    runtime = _runtime(engine, tmp_path, sink)
    tick(runtime, datetime(2025, 9, 16, 8, 30, tzinfo=UTC))  # the SIB update requests
    request = next(m.message for m in sink.messages if "aisha.pendleford@example.org" in m.rcpt_tos)
    when = datetime(2025, 9, 17, 10, 0, tzinfo=UTC)
    body = "2.5: Red - recruitment stalled, now expected end of March 2026"
    ingest_email(
        engine, reply_to(request, sender=AISHA, body=body, when=when), now=when, receiver=TRUSTED
    )
    tick(runtime, datetime(2025, 9, 26, 8, 30, tzinfo=UTC))  # the board's digest goes

    with Session(engine) as s:  # the secretary recorded who came to the August board
        plan_id = s.exec(select(Plan).where(Plan.code == "plymouth-send-2023")).one().id
        assert plan_id is not None
        s.add(
            MeetingRecord(
                plan_id=plan_id,
                meeting_key="SIB:2025-08-19",
                present=["Morwenna Tregear", "Imogen Castellane"],
                apologies=["Rhodri Penhallow"],
                recorded_by="Morwenna Tregear",
                recorded_at=datetime(2025, 8, 20, 9, tzinfo=UTC),
            )
        )
        s.commit()
    paper_path, workbook_path, summary = write_dfe(runtime, runtime.plan, date(2025, 9, 26))
    assert paper_path == tmp_path / "reports" / "dfe-plymouth-send-2023-2025-09-26.docx"
    assert workbook_path == paper_path.with_suffix(".xlsx")
    assert summary.startswith("Self-assessment for the Department as at 26 Sep 2025: 76 actions")

    paper = docx.Document(str(paper_path))
    assert _headings(paper) == [
        "Self-assessment for the Department for Education, as at 26 September 2025",
        *SECTIONS,
    ]
    for section in paper.sections:
        assert section.header.paragraphs[0].text == "OFFICIAL"
    text = "\n".join(p.text for p in paper.paragraphs)
    # progress against each area: the counts by area, then each area's highlight
    areas = _table(paper, "Area")
    assert areas[-1][0] == "All areas" and areas[-1][-1].split()[0] == "76"
    assert text.count("Direction of travel: ") == len(areas) - 2
    # slippage with the lead's reason: Aisha's 2.5 moved to March 2026
    slips = [
        [c.text for c in r.cells]
        for t in paper.tables
        if [c.text for c in t.rows[0].cells][:2] == ["Ref", "Action"]
        and "Reason given" in [c.text for c in t.rows[0].cells]
        for r in t.rows[1:]
    ]
    assert any(r[0] == "2.5" and "recruitment stalled" in r[5] for r in slips), slips
    assert "Missed: " in text and "Met: " in text
    # partners: the organisations in the directory's roles
    partners = _table(paper, "Organisation")
    orgs = {r[0]: r for r in partners[1:]}
    assert {"PCC", "Devon ICB"} <= set(orgs)
    assert sum(int(r[2]) for r in partners[1:]) == 76  # every action counted once
    # governance: the board's meetings over the year, the digest that went on the 26th
    governance = _table(paper, "Meeting")
    assert governance[-1][:2] == ["30 Sep 2025", "Not yet"]
    assert governance[-1][5] == "Yes"  # its digest was sent
    august = next(r for r in governance if r[0] == "19 Aug 2025")
    assert august[2] == "Morwenna Tregear, Imogen Castellane (apologies: Rhodri Penhallow)"
    assert "held in the period; attendance recorded for 1 of them" in text
    evidence = next(
        t for t in paper.tables if [c.text for c in t.rows[0].cells][2:3] == ["Evidence"]
    )
    assert len(evidence.rows) > 10  # the plan's evidence, an action a row

    book = load_workbook(workbook_path)
    assert "Partners" in book.sheetnames
    assert book["Partners"]["A1"].value == "Organisation"
    assert book.worksheets[0].max_row >= 77  # the log, a row an action


def test_it_is_a_verb_that_says_where_it_wrote(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    runner = CliRunner()
    env = {"CHASER_SECRET_KEY": "d" * 40, "CHASER_DATA_DIR": str(tmp_path / "data")}

    def chaser(*args: str) -> str:
        result = runner.invoke(cli, ["--db", db, "--config", str(config), *args], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    chaser("people", "import", str(PEOPLE_CSV))
    chaser("plan", "import", str(PLAN_XLSX))
    to = tmp_path / "out" / "stocktake.docx"
    out = chaser("report", "dfe", "--as-of", "2025-09-26", "--to", str(to))
    assert out.splitlines()[1:] == [f"  {to}", f"  {to.with_suffix('.xlsx')}"]
    assert to.is_file() and to.with_suffix(".xlsx").is_file()
    wrong = runner.invoke(
        cli, ["--db", db, "--config", str(config), "report", "dfe", "--to", "x.pdf"], env=env
    )
    assert wrong.exit_code != 0
    assert "--to x.pdf: expected a .docx file name" in wrong.output


def test_it_reads_the_organisation_from_the_role() -> None:
    assert organisation("Head of Women and Children's Commissioning – Devon ICB") == "Devon ICB"
    assert organisation("Director of Children's Services (DCS PCC)") == "PCC"
    assert organisation("LSW Assistant Director CYPFS") == "LSW"
    assert organisation("CMO NHS Devon") == "NHS Devon"
    assert organisation("Head of SEND") == ""
    assert UNKNOWN_ORGANISATION.startswith("The council")
