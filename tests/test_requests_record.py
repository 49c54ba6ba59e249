"""``chaser requests record``: update requests another system sent, so replies are linked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.importing import import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.test_replies import TRUSTED, gateway_stamp
from workflows.calendar.cycles import load_cycles
from workflows.plan.mapping import load_mapping
from workflows.replies.external import RecordResult, read_csv, read_eml, record_requests
from workflows.replies.intake import ingest_email
from workflows.store.models import Delivery, Reply
from workflows.views.action_history import action_history

PLAN = "plymouth-send-2023"
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
RECORDED = datetime(2025, 9, 16, 9, 0, tzinfo=UTC)
SENT_ID = "<CAF0001.request@mail.plymouth.example.org>"
HEADER = "message_id,recipient,meeting,actions,sent_at,subject\n"


def _store(engine: Engine) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)


def _record(engine: Engine, path: Path, *, dry_run: bool = False) -> RecordResult:
    requests, problems = read_csv(path)
    assert problems == []
    with Session(engine) as session:
        return record_requests(
            session,
            requests,
            default_plan=PLAN,
            cycles_for=lambda code: CYCLES if code == PLAN else None,
            now=RECORDED,
            by="Morwenna Tregear",
            dry_run=dry_run,
        )


def _reply_to(message_id: str, *, sender: str, body: str) -> bytes:
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = "send.improvement@example.org"
    reply["Subject"] = "RE: SEND plan: your update for the Improvement Board"
    reply["Date"] = format_datetime(datetime(2025, 9, 17, 10, 0, tzinfo=UTC))
    reply["Message-ID"] = "<reply.0001@example.nhs.uk>"
    reply["In-Reply-To"] = message_id
    reply["References"] = message_id
    reply["Authentication-Results"] = gateway_stamp(sender)
    reply.set_content(body)
    return reply.as_bytes()


def test_it_links_a_reply_to_a_request_another_system_sent(engine: Engine, tmp_path: Path) -> None:
    _store(engine)
    csv = tmp_path / "sent.csv"
    csv.write_text(
        HEADER + f"{SENT_ID},tobias.carnsew@example.nhs.uk,SIB:2025-09-30,6.1 6.2;6.3,"
        "2025-09-16T08:15,SEND plan: your update\n"
    )
    result = _record(engine, csv)
    assert [c["actions"] for c in result.created] == [["6.1", "6.2", "6.3"]]
    with Session(engine) as s:
        (row,) = s.exec(select(Delivery)).all()
        assert (row.kind, row.channel, row.state) == ("request", "external", "sent")
        assert (row.person_code, row.recipient_code, row.meeting_key) == (
            "TC",
            "TC",
            "SIB:2025-09-30",
        )
        assert row.provider_id == SENT_ID
        assert row.payload["recorded_by"] == "Morwenna Tregear"
        assert row.payload["source"] == "sent.csv row 2"
        # the papers deadline of the SIB meeting of 30 September: Tue 23 Sep, end of day
        assert row.due_by is not None
        assert row.due_by.astimezone(UTC) == datetime(2025, 9, 23, 22, 59, 59, tzinfo=UTC)
        request_id = row.id
        # each action's page lists it among the messages that asked about the action
        page = action_history(s, PLAN, "6.2")
        assert page is not None
        assert [(d.kind, d.channel, d.lead) for d in page.deliveries] == [
            ("request", "external", "Tobias Carnsew")
        ]

    outcome = ingest_email(
        engine,
        _reply_to(SENT_ID, sender="tobias.carnsew@example.nhs.uk", body="6.1: green - done\n"),
        now=datetime(2025, 9, 17, 10, 5, tzinfo=UTC),
        receiver=TRUSTED,
    )
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
        assert reply is not None and reply.delivery_id == request_id
    # nothing is ever sent for it, and recording the same file again records nothing twice
    again = _record(engine, csv)
    assert again.created == [] and len(again.unchanged) == 1
    with Session(engine) as s:
        assert len(s.exec(select(Delivery)).all()) == 1


def test_it_reads_a_request_from_sent_items_and_finds_the_refs_it_names(
    engine: Engine, tmp_path: Path
) -> None:
    _store(engine)
    sent = EmailMessage()
    sent["From"] = "SEND Programme <send.improvement@example.org>"
    sent["To"] = "Freya Odgers <freya.odgers@example.nhs.uk>"
    sent["Subject"] = "Update please: SEND Improvement Board"
    sent["Date"] = "Tue, 16 Sep 2025 09:05:00 +0100"
    sent["Message-ID"] = "<sent.items.42@plymouth.example.org>"
    sent.set_content(
        "Dear Freya,\n\nPlease update 7.9 and 7.11 by 23/09/2025.\n"
        "Action 7.13: where has it got to? Call Hester on 01752 668000 ext. 7.2\n"
    )
    eml = tmp_path / "Update please.eml"
    eml.write_bytes(sent.as_bytes())
    requests, problems = read_eml(eml, meeting="SIB:2025-09-30")
    assert problems == []
    with Session(engine) as session:
        result = record_requests(
            session,
            requests,
            default_plan=PLAN,
            cycles_for=lambda code: CYCLES,
            now=RECORDED,
            by="Morwenna Tregear",
        )
    assert result.problems == []
    (created,) = result.created
    assert created["recipient"] == "FO" and created["actions"] == ["7.9", "7.11", "7.13"]
    with Session(engine) as s:
        row = s.exec(select(Delivery)).one()
        assert row.sent_at is not None
        assert row.sent_at.astimezone(UTC) == datetime(2025, 9, 16, 8, 5, tzinfo=UTC)


def test_it_names_the_row_column_value_and_fix_of_each_problem_and_records_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    _store(engine)
    csv = tmp_path / "sent.csv"
    csv.write_text(
        HEADER
        + f"{SENT_ID},tobias.carnsew@example.nhs.uk,SIB:2025-09-30,6.1,,\n"
        + "<two@x>,nobody@example.org,SIB:2025-09-30,6.1,,\n"
        + "<three@x>,TC,SIB:2025-09-31,6.1,,\n"
        + "<four@x>,TC,SIB:2025-10-01,6.1,,\n"
        + "<five@x>,TC,SIB:2025-09-30,6.1 99.9,,\n"
        + f"{SENT_ID},TC,SIB:2025-09-30,6.2,,\n"
    )
    result = _record(engine, csv)
    messages = [str(p) for p in result.problems]
    assert messages == [
        "sent.csv row 3, recipient: 'nobody@example.org': expected the email address or code of "
        "someone in plymouth-send-2023's people directory; correct it, or add them with "
        "`chaser people import`",
        "sent.csv row 4, meeting: 'SIB:2025-09-31': expected a meeting as GROUP:YYYY-MM-DD, "
        "e.g. SIB:2025-09-30 (the group's code in cycles.yaml and the date in its cycle); "
        "correct it (`chaser cycles preview` lists the meetings)",
        "sent.csv row 5, meeting: 'SIB:2025-10-01': expected a date in SIB's cycle; correct the "
        "date (`chaser cycles preview` lists the meetings)",
        "sent.csv row 6, actions: '99.9': expected refs of actions in plymouth-send-2023; "
        "correct them (`chaser plan list` shows the refs)",
        f"sent.csv row 7, message_id: '{SENT_ID}': expected each request once; remove it: "
        "sent.csv row 2 has the same Message-ID",
    ]
    with Session(engine) as s:
        assert s.exec(select(Delivery)).all() == []  # all or nothing


def test_it_says_which_columns_a_csv_lacks(tmp_path: Path) -> None:
    csv = tmp_path / "sent.csv"
    csv.write_text("id,to,meeting\n<a@b>,TC,SIB:2025-09-30\n")
    requests, problems = read_csv(csv)
    assert requests == []
    assert [str(p) for p in problems] == [
        "sent.csv row 1, header: 'id,to,meeting': expected the columns message_id, recipient, "
        "meeting, actions (and optionally plan, lead, sent_at, subject); add the columns "
        "message_id, recipient, actions to the first row"
    ]


def test_it_records_by_the_command_line_and_reports_problems_there(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    runner = CliRunner()

    def chaser(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, ["--db", db, "--config", str(ROOT / "config"), *args])
        return result.exit_code, result.stdout, result.stderr

    assert chaser("db", "upgrade")[0] == 0
    assert chaser("people", "import", str(PEOPLE_CSV))[0] == 0
    assert chaser("plan", "import", str(PLAN_XLSX))[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "<x@y>,TC,SIB:2025-09-30,,,\n")
    code, _, err = chaser("requests", "record", str(bad), "--by", "Morwenna Tregear")
    assert code == 1
    assert "bad.csv row 2, actions: (empty): expected the refs of the actions" in err
    assert "1 problem; nothing was recorded" in err
    good = tmp_path / "good.csv"
    good.write_text(HEADER + f"{SENT_ID},TC,SIB:2025-09-30,6.1 6.2,,\n")
    code, out, _ = chaser("requests", "record", str(good), "--by", "M T", "--dry-run")
    assert code == 0 and "would record" in out and "dry run: nothing saved" in out
    code, out, _ = chaser("requests", "record", str(good), "--by", "M T", "--json")
    assert code == 0
    data = json.loads(out)
    assert [r["actions"] for r in data["recorded"]] == [["6.1", "6.2"]]
    code, out, _ = chaser("requests", "record", str(good), "--by", "M T")
    assert code == 0 and "0 recorded, 1 already recorded" in out
