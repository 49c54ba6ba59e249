"""The digest goes to the board secretary before the meeting, once, with its files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session

from chaser.cli import cli
from chaser.digests import build, find_meeting
from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink
from tests.test_replies import AISHA, TRUSTED, reply_to
from workflows.plan.mapping import load_mapping
from workflows.replies.intake import ingest_email
from workflows.views.meeting_status import meeting_chases

#: The demo plan's code, which begins every outbox key.
PLAN = "plymouth-send-2023"

SECRETARY = "morwenna.tregear@example.org"


def _runtime(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Runtime:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    return build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "d" * 40, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        engine,
        channels={
            "email": SmtpChannel(
                sink.host, sink.port, sender_address="send.improvement@example.org", starttls=False
            )
        },
        clock=clock,
        sleep=clock.advance,
    )


def test_the_secretary_gets_the_digest_two_working_days_before_the_meeting(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    runtime = _runtime(engine, tmp_path, sink)
    tick(runtime, datetime(2025, 9, 16, 8, 30, tzinfo=UTC))  # the SIB update requests
    request = next(m.message for m in sink.messages if "aisha.pendleford@example.org" in m.rcpt_tos)
    when = datetime(2025, 9, 17, 10, 0, tzinfo=UTC)
    body = "2.5: Red - recruitment stalled <script>alert(1)</script>, now expected end of March"
    ingest_email(
        engine, reply_to(request, sender=AISHA, body=body, when=when), now=when, receiver=TRUSTED
    )
    for day in (25, 26, 29):  # Thu: nothing yet; Fri 26th: the digest; Mon: not again
        tick(runtime, datetime(2025, 9, day, 8, 30, tzinfo=UTC))
    digests = [m for m in sink.messages if m.message["X-Chaser-Key"].startswith(f"{PLAN}/digest:")]
    assert len(digests) == 1 and digests[0].rcpt_tos == [SECRETARY]
    mail = digests[0].message
    assert mail["X-Chaser-Key"] == f"{PLAN}/digest:SIB:2025-09-30"
    assert "Local Area SEND Improvement Board" in mail["Subject"]
    attached = {p.get_filename(): p.get_content() for p in mail.iter_attachments()}
    assert sorted(str(name) for name in attached) == [
        "SIB-2025-09-30-action-and-impact-log.xlsx",
        "SIB-2025-09-30-board-paper.docx",
    ]
    assert "Attached: SIB-2025-09-30-action-and-impact-log.xlsx" in digests[0].body("plain")
    html = digests[0].body("html")
    assert "<strong>2.5</strong>" in html  # flagged, named in the exception report
    assert "<script>" not in html  # the lead's words are escaped wherever they show
    text = digests[0].body("plain")
    assert "recruitment stalled" in text.split("EXCEPTION REPORT")[1]  # 2.5 is flagged
    folder = tmp_path / "digests" / "SIB" / "2025-09-30"
    xlsx = next(folder.glob("*.xlsx"))
    assert xlsx.read_bytes() == attached[xlsx.name]
    sheet = load_workbook(xlsx).worksheets[0]
    refs = [str(c.value) for c in sheet["A"] if c.value]
    assert "2.5" in refs and "P7-01" in refs
    paper = Document(str(next(folder.glob("*.docx"))))
    assert any("Local Area SEND Improvement Board" in p.text for p in paper.paragraphs)


def test_its_escalation_count_is_the_meeting_pages(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    runtime = _runtime(engine, tmp_path, sink)
    for day in (16, 26):  # the requests, then (silence) the escalations and the digest
        tick(runtime, datetime(2025, 9, day, 8, 30, tzinfo=UTC))
    with Session(engine) as session:
        chases = meeting_chases(session, PLAN)
    assert chases is not None
    on_the_page = next(c for c in chases if c.key == "SIB:2025-09-30").sent("escalation")
    assert on_the_page > 1
    now = datetime(2025, 9, 26, 9, 0, tzinfo=UTC)
    meeting = find_meeting(runtime.plan, "SIB", date(2025, 9, 30), now)
    digest = build(runtime, runtime.plan, "SIB", meeting, now)
    assert digest.escalations == on_the_page
    assert len(digest.escalated) >= on_the_page  # an escalation may name several leads
    mail = next(
        m for m in sink.messages if m.message["X-Chaser-Key"].endswith("digest:SIB:2025-09-30")
    )
    assert f"{on_the_page} escalations sent for this meeting (one per officer)" in mail.body(
        "plain"
    )


def test_digest_by_hand_writes_the_files_and_prints_what_was_flagged(tmp_path: Path) -> None:
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
    out = tmp_path / "out"
    summary = json.loads(
        chaser(
            "digest",
            "--group",
            "SIB",
            "--meeting",
            "2025-09-30",
            "--out",
            str(out),
            "--now",
            "2025-09-26T09:30",
            "--json",
        )
    )
    assert summary["group"] == "SIB" and summary["meeting"] == "2025-09-30"
    assert summary["actions"] == 76 and not summary["sent"]
    flagged = {e["ref"]: e for e in summary["exceptions"]}
    assert "overdue" in {f["rule"] for f in flagged["1.1"]["flags"]}
    assert sorted(summary["not_replied"])[:3] == ["AG", "AP", "DH"]
    assert {Path(f).suffix for f in summary["files"]} == {".xlsx", ".docx", ".html", ".txt"}
    assert all(Path(f).exists() for f in summary["files"])
