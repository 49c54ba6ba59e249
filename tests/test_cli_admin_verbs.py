"""The verbs a new admin reaches for first (issue 19): `chaser status`, `chase` saying when the
next chase goes, `digest` choosing the board's next meeting, `replies review` showing the
message and how to decide it, `outbox list --state` and `outbox show`, and `people
add|edit|retire|show`. Each runs on a real store, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.importing import import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PG_URL, PLAN_XLSX, unpaced_config
from workflows.plan.mapping import load_mapping
from workflows.store.models import AuditEvent, Person

PLAN = "plymouth-send-2023"


def _url(engine: Engine) -> str:
    """The URL the CLI is given for the test's store (on PostgreSQL, its own schema)."""
    if engine.dialect.name == "sqlite":
        return str(engine.url)
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"


class Chaser:
    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        self.db = _url(engine)
        # without the pace, each `chaser chase` here would wait 2 s between its 14 messages
        self.config = unpaced_config(tmp_path)
        self.env = {"CHASER_SECRET_KEY": "s" * 40, "CHASER_DATA_DIR": str(tmp_path / "data")}

    def __call__(self, *args: str, code: int = 0) -> tuple[str, str]:
        result = CliRunner().invoke(
            cli, ["--db", self.db, "--config", str(self.config), *args], env=self.env
        )
        assert result.exit_code == code, result.output
        return result.stdout, result.stderr


@pytest.fixture
def chaser(engine: Engine, tmp_path: Path) -> Chaser:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    return Chaser(engine, tmp_path)


def test_it_shows_where_the_plan_stands_before_and_during_a_chase(chaser: Chaser) -> None:
    before, _ = chaser("status", "--now", "2025-09-12T10:00")
    assert "Plan plymouth-send-2023, Fri 12 Sep 2025 10:00 (London)" in before
    assert (
        "  SIB   Local Area SEND Improvement Board: Tue 30 Sep 2025 10:00, "
        "papers due Tue 23 Sep 2025"
    ) in before
    assert "Next chase: Update request for SIB 30 Sep 2025, Tue 16 Sep 2025 at 09:00" in before
    assert "Chase under way: none" in before
    assert "Waiting for review: 0" in before and "Not delivered: 0" in before
    assert "Next digest: SIB 30 Sep 2025, goes out Fri 26 Sep 2025" in before

    chaser("chase", "--now", "2025-09-16T09:30")  # the requests go (HP's Teams copy dies)
    during, _ = chaser("status", "--now", "2025-09-18T10:00")
    assert "Next chase: Reminder for SIB 30 Sep 2025, Fri 19 Sep 2025 at 09:00" in during
    assert "Chase under way: SIB 30 Sep 2025: 13 leads asked, 13 not replied" in during
    assert "  AP    Aisha Pendleford (0 of 11 updated)" in during
    assert f"Not delivered: 1 (`chaser outbox list --plan {PLAN}` says why" in during
    data = json.loads(chaser("status", "--now", "2025-09-18T10:00", "--json")[0])
    (plan,) = data
    assert plan["current_meeting"] == "SIB:2025-09-30" and plan["requests_sent"] == 13
    assert plan["next_chase"] == {
        "step": "reminder",
        "meeting": "SIB:2025-09-30",
        "at": "2025-09-19T09:00:00+01:00",
        "now": False,
    }
    assert plan["dead"] == 1 and plan["pending"] == 0


def test_it_says_when_the_next_chase_goes_when_nothing_is_due(chaser: Chaser) -> None:
    first, _ = chaser("chase", "--now", "2025-09-16T09:30")
    assert "14 enqueued" in first and "nothing due" not in first
    assert "`chaser outbox list` says why a message was not delivered." in first
    again, _ = chaser("chase", "--now", "2025-09-16T11:00")
    assert "0 enqueued, 14 already in the outbox" in again
    assert (
        "nothing due; the next chase is the reminder for SIB 30 Sep 2025, Fri 19 Sep 2025 at 09:00"
    ) in again
    evening, _ = chaser("chase", "--now", "2025-09-19T18:00")  # after the send window
    assert "the next chase is the final reminder for SIB 30 Sep 2025, Tue 23 Sep 2025" in evening


def test_it_builds_the_digest_for_the_boards_next_meeting_and_says_which(
    chaser: Chaser, tmp_path: Path
) -> None:
    out, _ = chaser("digest", "--now", "2025-09-18T10:00", "--out", str(tmp_path / "d"))
    assert out.startswith(
        "no --group: the board, SIB (Local Area SEND Improvement Board), its next meeting: "
        "Tue 30 Sep 2025 (in 12 days)"
    )
    assert "Local Area SEND Improvement Board, Tue 30 Sep 2025: 76 actions" in out
    summary, said = chaser(
        "digest",
        "--group",
        "SSDG",
        "--now",
        "2025-09-18T10:00",
        "--out",
        str(tmp_path / "e"),
        "--json",
    )
    assert json.loads(summary)["meeting"] == "2025-10-21"  # the JSON stays JSON
    assert "SSDG (SEND Strategic Delivery Group), its next meeting: Tue 21 Oct 2025" in said


def _html_reply_with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Aisha Pendleford <aisha.pendleford@example.org>"
    msg["To"] = "send.improvement@example.org"
    msg["Subject"] = "Re: Update needed"
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = "<html-reply@mail.example.org>"
    msg.set_content(
        "<html><body><p>2.5: <b>Amber</b> &ndash; staff recruited</p>"
        "<script>alert('x')</script></body></html>",
        subtype="html",
    )
    msg.add_attachment(
        b"%PDF-1.4 evidence", maintype="application", subtype="pdf", filename="evidence.pdf"
    )
    return msg.as_bytes()


def test_it_shows_the_message_waiting_for_review_and_how_to_decide_it(
    chaser: Chaser, tmp_path: Path
) -> None:
    eml = tmp_path / "reply.eml"
    eml.write_bytes(_html_reply_with_attachment())
    ingested, _ = chaser("replies", "ingest", str(eml), "--json")
    (item,) = json.loads(ingested)
    assert item["verdict"] == "review"  # no trusted server vouched for it
    reply = item["reply_id"]
    out, _ = chaser("replies", "review")
    assert f"reply {reply} from Aisha Pendleford <aisha.pendleford@example.org>:" in out
    assert "  the message (its HTML shown as text):" in out
    assert "  | 2.5: Amber – staff recruited" in out
    assert "alert" not in out and "<b>" not in out  # rendered as text, scripts dropped
    assert "  attachment: evidence.pdf (application/pdf, 17 bytes; not opened)" in out
    assert "    2.5: Amber" in out  # what applying it records
    assert f'  to apply it:  chaser replies apply {reply} --by "YOUR NAME"' in out
    assert f'  to reject it: chaser replies reject {reply} --by "YOUR NAME" --reason "WHY"' in out
    status, _ = chaser("status", "--now", "2025-09-18T10:00")
    assert "Waiting for review: 1 (`chaser replies review` shows them" in status
    (listed,) = json.loads(chaser("replies", "review", "--json")[0])
    assert listed["attachments"] == [
        {"name": "evidence.pdf", "content_type": "application/pdf", "size": 17}
    ]
    if listed["answers"] is not None:  # the reader's answers per action, where it gives them
        assert [a["ref"] for a in listed["answers"]] == ["2.5"]
        assert '    2.5: review (matched by ref): Amber, "staff recruited"' in out


def test_it_lists_the_outbox_by_state_and_shows_one_message(chaser: Chaser) -> None:
    chaser("chase", "--now", "2025-09-16T09:30")
    sent, _ = chaser("outbox", "list", "--state", "sent")
    assert sent.rstrip().endswith("16 messages sent.")  # 13 requests, the board's 3 invitations
    assert f"sent     email  {PLAN}/request:AP:SIB:2025-09-30\n    1 attempt\n" in sent
    dead = json.loads(chaser("outbox", "list", "--json")[0])
    assert [d["key"] for d in dead] == [f"{PLAN}/request:HP:SIB:2025-09-30:teams"]
    shown, _ = chaser("outbox", "show", dead[0]["key"])
    assert "state:        dead" in shown
    assert "reason:       no 'teams' channel is configured; see docs/chasing.md" in shown
    assert "to:           hester.pengelly@example.nhs.uk" in shown
    assert "subject:      Update needed by Tue 23 Sep for the Local Area SEND" in shown
    assert (
        f'once the cause is fixed: chaser outbox retry --key {dead[0]["key"]} --by "YOUR NAME"'
    ) in shown
    ap = next(
        m
        for m in json.loads(chaser("outbox", "list", "--state", "all", "--json")[0])
        if m["key"] == f"{PLAN}/request:AP:SIB:2025-09-30"
    )
    by_id = json.loads(chaser("outbox", "show", str(ap["id"]), "--json")[0])
    assert by_id["key"] == ap["key"] and by_id["state"] == "sent" and by_id["attempts"] == 1
    assert by_id["to_addresses"] == ["aisha.pendleford@example.org"]
    _, err = chaser("outbox", "show", "no-such-key", code=1)
    assert "error: no message with key or id 'no-such-key' in the outbox" in err


def test_it_adds_edits_and_retires_a_person_and_says_who_did_it(
    chaser: Chaser, engine: Engine
) -> None:
    _, err = chaser(
        "people",
        "add",
        "zz",
        "--email",
        "not-an-address",
        "--delegate",
        "QQ",
        "--by",
        "Ann",
        code=1,
    )
    assert "error: ZZ: --name '' is required: the person's full name" in err
    assert "error: ZZ: --email 'not-an-address' is not an email address" in err
    assert "error: ZZ: --delegate 'QQ' is nobody in this directory" in err
    assert "nothing was changed." in err
    out, _ = chaser(
        "people",
        "add",
        "zz",
        "--name",
        "Zia Zennor",
        "--email",
        "zia.zennor@example.org",
        "--delegate",
        "AP",
        "--sro",
        "--by",
        "Ann Admin",
    )
    assert out.strip() == "added ZZ Zia Zennor"
    out, _ = chaser(
        "people",
        "edit",
        "ZZ",
        "--away-until",
        "2025-10-31",
        "--teams-id",
        "zia.zennor@example.org",
        "--by",
        "Ann Admin",
    )
    assert out.strip() == "changed ZZ Zia Zennor: teams id, away until"
    _, err = chaser("people", "edit", "ZZ", "--away-until", "next week", "--by", "A", code=1)
    assert "--away-until 'next week' is not a date; write it as YYYY-MM-DD" in err
    listed, _ = chaser("people", "list")
    line = next(row for row in listed.splitlines() if row.startswith("ZZ "))
    assert "zia.zennor@example.org" in line and "delegate AP, away until 31 Oct 2025, SRO" in line

    shown, _ = chaser("people", "show", "TC")
    assert "leads 10 actions:" in shown
    with Session(engine) as s:
        s.exec(select(Person).where(Person.code == "TC")).one().delegate_code = ""
        s.commit()
    _, err = chaser("people", "retire", "TC", "--by", "Ann Admin", code=1)
    assert "--delegate '' is needed: TC leads 10 actions" in err
    out, _ = chaser("people", "retire", "TC", "--delegate", "ZZ", "--by", "Ann Admin")
    assert out.strip() == "retired TC Tobias Carnsew; ZZ answers for them"
    tc = json.loads(chaser("people", "show", "TC", "--json")[0])
    assert tc["retired"] is True and tc["delegate"] == "ZZ" and len(tc["leads"]) == 10
    _, err = chaser("people", "edit", "AP", "--delegate", "TC", "--by", "A", code=1)
    assert "--delegate 'TC' is Tobias Carnsew, who has retired" in err

    with Session(engine) as s:
        events = [(e.kind, e.by, e.reason) for e in s.exec(select(AuditEvent))]
    assert events == [
        ("person_added", "Ann Admin", "ZZ"),
        ("person_changed", "Ann Admin", "ZZ: teams_id, away_until"),
        ("person_retired", "Ann Admin", "TC: delegate_code, away_until"),
    ]
