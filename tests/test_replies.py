"""Emailed replies from request to plan: read, judged, applied or queued, never lost."""

from __future__ import annotations

import email.policy
import json
import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.cli import cli
from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.fake_graph import FakeGraph, exchange_stamp, fake_graph_fixture  # noqa: F401
from tests.mail_servers import SmtpSink
from workflows.plan.mapping import load_mapping
from workflows.replies import intake
from workflows.replies.apply import Answer, apply_reply
from workflows.replies.authentication import Receiver
from workflows.replies.form import read_action_form
from workflows.replies.intake import ingest_email, take_in_form_post
from workflows.replies.links import verify_link
from workflows.replies.requests import load_request
from workflows.replies.review import ReviewError, decide, pending_reviews
from workflows.store.models import Action, Person, Reply, StatusChange

#: The demo plan's code, which begins every outbox key.
PLAN = "plymouth-send-2023"

REQUEST_DAY = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)  # 09:30 in London


@pytest.fixture
def sent(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Runtime:
    """The Plymouth plan, with the SIB update requests of 16 Sep 2025 sent."""
    return send_requests(engine, tmp_path, sink)


def send_requests(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Runtime:
    """The Plymouth plan imported, and the SIB update requests of 16 Sep 2025 sent to ``sink``
    (what the ``sent`` fixture gives)."""
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    clock = Clock(REQUEST_DAY)
    runtime = build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "r" * 40, "CHASER_DATA_DIR": str(tmp_path)},
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
    tick(runtime, REQUEST_DAY)
    return runtime


def _request_to(sink: SmtpSink, address: str) -> EmailMessage:
    return next(m.message for m in sink.messages if address in m.rcpt_tos)


#: The council's inbound mail gateway, whose Authentication-Results Chaser is told to believe.
GATEWAY = "mx.council.example"
#: How a reply is received when it came through that gateway (the SMTP listener, saved files).
TRUSTED = Receiver.smtp([GATEWAY])


def gateway_stamp(sender: str, results: str = "pass") -> str:
    """The gateway's Authentication-Results for a message from ``sender``: ``results`` after its
    authserv-id, or (``"pass"``) SPF, DKIM and DMARC passing for the sender's own domain."""
    if results == "pass":
        domain = sender.rsplit("@", 1)[-1].strip(">").lower()
        results = (
            f"spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; "
            f"dmarc=pass header.from={domain}"
        )
    return f"{GATEWAY}; {results}"


def reply_to(
    request: EmailMessage,
    *,
    sender: str,
    body: str,
    when: datetime,
    message_id: str = "<reply-1@mail.example.org>",
    extra: dict[str, str] | None = None,
    auth: str | None = "pass",
) -> bytes:
    """A reply the way a mail client writes one (Re: subject, threading headers, quote), as the
    council's gateway hands it on: its Authentication-Results on top, saying ``auth`` (see
    :func:`gateway_stamp`; None: no stamp)."""
    reply = EmailMessage()
    if auth is not None:
        reply["Authentication-Results"] = gateway_stamp(sender, auth)
    reply["From"] = sender
    reply["To"] = "Plymouth SEND Improvement Programme <send.improvement@example.org>"
    reply["Subject"] = f"Re: {request['Subject']}"
    reply["Date"] = format_datetime(when)
    reply["Message-ID"] = message_id
    reply["In-Reply-To"] = request["Message-ID"]
    reply["References"] = request["Message-ID"]
    for name, value in (extra or {}).items():
        reply[name] = value
    original = request.get_body(preferencelist=("plain",))
    assert original is not None
    quoted = "\n".join(f"> {line}" for line in str(original.get_content()).splitlines())
    reply.set_content(
        f"{body}\n\nOn Tue, 16 Sep 2025 at 09:30, Plymouth SEND Improvement Programme "
        f"<send.improvement@example.org> wrote:\n{quoted}\n"
    )
    return reply.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as on the wire


def _action(engine: Engine, ref: str) -> Action:
    with Session(engine) as s:
        return s.exec(select(Action).where(Action.ref == ref)).one()


def _history(engine: Engine, ref: str) -> list[StatusChange]:
    with Session(engine) as s:
        action = s.exec(select(Action).where(Action.ref == ref)).one()
        return list(
            s.exec(
                select(StatusChange)
                .where(StatusChange.action_id == action.id)
                .order_by(col(StatusChange.id))
            )
        )


AISHA = "Aisha Pendleford <aisha.pendleford@example.org>"


def test_a_leads_reply_updates_each_action_it_names_with_the_history(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 14, 5, tzinfo=UTC)
    raw = reply_to(
        request,
        sender=AISHA,
        body="2.5: Amber - recruitment under way, now expected end of next month\n"
        "6.6: complete, the Local Offer pages are live",
        when=when,
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "applied", outcome.reason
    assert outcome.request == f"{PLAN}/request:AP:SIB:2025-09-30" and outcome.person == "AP"
    a25, a66 = _action(engine, "2.5"), _action(engine, "6.6")
    assert (a25.status, a25.status_label) == ("on_track", "Amber")  # Plymouth: amber = on track
    assert (a25.forecast_due, a25.forecast_due_precision) == (date(2025, 10, 31), "month")
    assert a25.baseline_due == date(2024, 4, 30)
    assert (a66.status, a66.status_label) == ("complete", "Green")
    change = _history(engine, "2.5")[-1]
    assert (change.channel, change.kind, change.recorded_at) == ("email", "update", when)
    assert change.status_after == "on_track" and "recruitment under way" in change.narrative
    assert change.due_after == date(2025, 10, 31) and not change.late
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
        ap = s.exec(select(Person).where(Person.code == "AP")).one()
    assert reply is not None and reply.verdict == "applied" and change.reply_id == reply.id
    assert change.person_id == ap.id
    assert "recruitment under way" in reply.raw and reply.parsed["reference"] == outcome.reference


def test_a_reply_naming_no_action_answers_every_action_of_the_request(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "freya.odgers@example.nhs.uk")
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    raw = reply_to(
        request,
        sender="Freya Odgers <freya.odgers@example.nhs.uk>",
        body="All on track.",
        when=when,
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "applied"
    assert sorted(u["ref"] for u in outcome.updates) == ["7.11", "7.12", "7.13", "7.9"]
    # ...so FO is not reminded on the 19th, while the silent leads are
    clock_day = datetime(2025, 9, 19, 8, 30, tzinfo=UTC)
    report = tick(sent, clock_day)
    reminded = {p.chase.lead.code for p in report.planned if p.chase.step == "reminder"}
    assert "FO" not in reminded and "AP" in reminded


def test_a_spoofed_reply_goes_to_review_and_changes_nothing_until_applied(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    raw = reply_to(
        request,
        sender=AISHA,
        body="2.5: complete",
        when=when,
        auth="spf=fail smtp.mailfrom=attacker.example; dkim=none; "
        "dmarc=fail header.from=example.org",
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "review" and "failing authentication (dmarc=fail)" in outcome.reason
    assert _action(engine, "2.5").status is None
    decided = decide(engine, outcome.reply_id, apply=True, by="Board secretary", now=when)
    assert decided.verdict == "applied" and decided.decided_by == "Board secretary"
    assert _action(engine, "2.5").status == "complete"


def test_a_stranger_is_never_trusted_and_can_be_rejected(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    raw = reply_to(
        request, sender="Someone <someone@elsewhere.example>", body="2.5: red", when=when
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "review"
    assert "someone@elsewhere.example is not in the people directory" in outcome.reason
    rejected = decide(engine, outcome.reply_id, apply=False, by="Board secretary", now=when)
    assert rejected.verdict == "rejected"
    assert _action(engine, "2.5").status is None
    with pytest.raises(ReviewError, match="not waiting for review"):
        decide(engine, outcome.reply_id, apply=True, by="Board secretary", now=when)


def test_a_contributor_may_answer_but_not_for_someone_elses_action(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    # MM contributes to 2.5; FO has nothing to do with it
    mm = reply_to(
        request,
        sender="Morwenna Maddock <morwenna.maddock@example.sch.uk>",
        body="2.5: Red - schools cannot release staff",
        when=when,
    )
    assert ingest_email(engine, mm, now=when, receiver=TRUSTED).verdict == "applied"
    fo = reply_to(
        request,
        sender="Freya Odgers <freya.odgers@example.nhs.uk>",
        body="2.5: complete",
        when=when,
        message_id="<reply-2@mail.example.org>",
    )
    outcome = ingest_email(engine, fo, now=when, receiver=TRUSTED)
    assert outcome.verdict == "review"
    assert "FO is not the lead, a contributor or a delegate for 2.5" in outcome.reason


def test_an_out_of_office_marks_the_lead_away_and_reminders_go_to_the_delegate(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "hester.pengelly@example.nhs.uk")
    when = datetime(2025, 9, 16, 8, 31, tzinfo=UTC)
    raw = reply_to(
        request,
        sender="Hester Pengelly <hester.pengelly@example.nhs.uk>",
        body="Thank you for your email. I am out of the office, returning on Monday 29 "
        "September 2025. For anything urgent please contact Kit Rundle.",
        when=when,
        extra={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "auto_reply" and outcome.away_until == date(2025, 9, 29)
    assert _history(engine, "4.1")[-1].kind == "created"  # no update taken from it
    report = tick(sent, datetime(2025, 9, 19, 8, 30, tzinfo=UTC))
    hp = next(p.chase for p in report.planned if p.chase.lead.code == "HP")
    assert (hp.to.code, hp.delegated) == ("KR", True)


def test_the_same_reply_twice_is_applied_once(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    raw = reply_to(request, sender=AISHA, body="2.5: Amber", when=when)
    first = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    again = ingest_email(engine, raw, now=when + timedelta(minutes=5), receiver=TRUSTED)
    assert (first.verdict, again.verdict) == ("applied", "duplicate")
    assert again.reply_id == first.reply_id
    assert [c.kind for c in _history(engine, "2.5")] == ["created", "update"]


def test_a_reply_after_the_papers_deadline_is_applied_and_marked_late(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 24, 10, 0, tzinfo=UTC)  # the deadline was Tue 23 Sep
    outcome = ingest_email(
        engine,
        reply_to(request, sender=AISHA, body="2.5: Amber", when=when),
        now=when,
        receiver=TRUSTED,
    )
    assert outcome.verdict == "applied" and outcome.late
    assert _history(engine, "2.5")[-1].late


def test_replies_ingest_prints_what_it_did(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    runner = CliRunner()
    for args in (["people", "import", str(PEOPLE_CSV)], ["plan", "import", str(PLAN_XLSX)]):
        assert runner.invoke(cli, ["--db", db, *args]).exit_code == 0
    reply = EmailMessage()
    reply["Authentication-Results"] = gateway_stamp(AISHA)
    reply["From"] = AISHA
    reply["To"] = "send.improvement@example.org"
    reply["Subject"] = "Update on my actions"
    reply["Date"] = format_datetime(REQUEST_DAY)
    reply["Message-ID"] = "<fresh-1@mail.example.org>"
    reply.set_content("2.5: Amber - on course\n6.6: complete")
    path = tmp_path / "reply.eml"
    path.write_bytes(bytes(reply))
    result = runner.invoke(
        cli,
        ["--db", db, "replies", "ingest", str(path), "--json"],
        env={"CHASER_INBOUND_AUTHSERV_IDS": GATEWAY},  # the gateway that stamped it
    )
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)
    assert item["file"] == str(path) and item["verdict"] == "applied"
    assert item["request"] is None and item["person"] == "AP"
    assert [(u["ref"], u["status_label"]) for u in item["updates"]] == [
        ("2.5", "Amber"),
        ("6.6", "Green"),
    ]
    listing = runner.invoke(cli, ["--db", db, "replies", "review", "--json"])
    assert json.loads(listing.stdout) == []


def test_replies_sent_to_the_inbound_smtp_listener_are_taken_in(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    import smtplib

    from chaser.wiring import inbound_listener
    from tests.mail_servers import free_port

    request = _request_to(sink, "aisha.pendleford@example.org")
    port = free_port()
    settings = Settings.from_env(
        {"CHASER_INBOUND_SMTP": f"127.0.0.1:{port}", "CHASER_INBOUND_AUTHSERV_IDS": GATEWAY}
    )
    listener = inbound_listener(settings, sent)
    assert listener is not None
    sent.clock = lambda: datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    with listener, smtplib.SMTP("127.0.0.1", port) as smtp:
        raw = reply_to(request, sender=AISHA, body="2.5: Red - no staff", when=sent.clock())
        smtp.sendmail("aisha.pendleford@example.org", ["send.improvement@example.org"], raw)
    assert (_action(engine, "2.5").status, _action(engine, "2.5").status_label) == (
        "off_track",
        "Red",
    )


def test_a_delegate_may_answer_for_the_lead(engine: Engine, sent: Runtime, sink: SmtpSink) -> None:
    request = _request_to(sink, "hester.pengelly@example.nhs.uk")
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    raw = reply_to(
        request,
        sender="Kit Rundle <kit.rundle@example.nhs.uk>",  # HP's delegate
        body="Replying for Hester while she is away.\n\n4.1: Red - the panel has not met",
        when=when,
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "applied" and outcome.person == "KR"
    assert _action(engine, "4.1").status_label == "Red"


def test_two_statuses_for_one_action_go_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    raw = reply_to(request, sender=AISHA, body="2.5: Amber\n2.5: Red", when=when)
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "review" and "2.5" in outcome.reason
    assert _action(engine, "2.5").status is None


def test_each_tick_reads_new_replies_from_the_graph_mailbox_once(
    engine: Engine, sent: Runtime, sink: SmtpSink, fake_graph: FakeGraph
) -> None:
    from tests.test_graph_inbox import inbox

    sent.inbox = inbox(fake_graph)
    request = _request_to(sink, "aisha.pendleford@example.org")
    day = datetime(2025, 9, 17, 8, 0, tzinfo=UTC)
    assert tick(sent, day).ingested == 0  # starts now: nothing old is re-read
    stamp = exchange_stamp("example.org")  # Exchange Online vouches for Aisha's domain
    fake_graph.deliver(
        reply_to(request, sender=AISHA, body="2.5: Red - no staff", when=day, auth=None),
        stamp=stamp,
    )
    assert tick(sent, day + timedelta(minutes=1)).ingested == 1
    assert _action(engine, "2.5").status_label == "Red"
    assert tick(sent, day + timedelta(minutes=2)).ingested == 0
    (message,) = fake_graph.in_folder("inbox")
    assert message["isRead"] is True
    fake_graph.delta_tokens.clear()  # Graph forgets the cursor: read again, nothing applied twice
    fake_graph.deliver(
        reply_to(
            request,
            sender=AISHA,
            body="6.6: complete",
            when=day,
            message_id="<r2@m.org>",
            auth=None,
        ),
        stamp=stamp,
    )
    tick(sent, day + timedelta(minutes=3))
    assert [c.kind for c in _history(engine, "2.5")] == ["created", "update"]
    assert _action(engine, "6.6").status == "complete"


@pytest.mark.parametrize("way", ["form", "email"])
def test_it_applies_a_form_post_and_an_emailed_reply_through_the_one_apply_path(
    engine: Engine, sent: Runtime, sink: SmtpSink, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same answer, given on the form or by email, changes the plan the same way, through
    the same function, and the history says which way it came."""
    through: list[str] = []
    real = apply_reply

    def spy(session: Session, reply: Reply, answer: Answer, *, now: datetime) -> Any:
        through.append(reply.channel)
        return real(session, reply, answer, now=now)

    monkeypatch.setattr(intake, "apply_reply", spy)
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 14, 5, tzinfo=UTC)
    if way == "email":
        body = "2.5: Amber - Recruitment under way, now expected by October 2025"
        outcome = ingest_email(
            engine,
            reply_to(request, sender=AISHA, body=body, when=when),
            now=when,
            receiver=TRUSTED,
        )
        assert outcome.verdict == "applied", outcome.reason
        reply_id = outcome.reply_id
    else:
        text = str(request.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        token = re.search(r"/r/([A-Za-z0-9_.~-]+)", text).group(1)  # type: ignore[union-attr]
        found = load_request(engine, verify_link(sent.secret, token, now=when))
        assert found is not None
        fields = {
            "status": "Amber",
            "narrative": "Recruitment under way",
            "forecast-month": "10",
            "forecast-year": "2025",
        }
        reading = read_action_form("2.5", fields, scale=found.scale)
        reply_id = take_in_form_post(engine, found, [reading], raw=fields, now=when)
    assert through == [way]
    a25 = _action(engine, "2.5")
    assert (a25.status, a25.status_label) == ("on_track", "Amber")
    assert (a25.forecast_due, a25.forecast_due_precision) == (date(2025, 10, 31), "month")
    assert "Recruitment under way" in a25.progress
    change = _history(engine, "2.5")[-1]
    with Session(engine) as s:
        ap = s.exec(select(Person).where(Person.code == "AP")).one()
    assert (change.channel, change.reply_id, change.person_id) == (way, reply_id, ap.id)
    assert (change.kind, change.recorded_at, change.late) == ("update", when, False)
    assert change.due_after == date(2025, 10, 31) and change.due_after_precision == "month"


# -- each answer on its own (issue 14) -------------------------------------------------------------


def _asked(engine: Engine, person: str) -> list[str]:
    """The actions the SIB request to ``person`` asked about, in its order."""
    from workflows.store.models import Delivery

    with Session(engine) as s:
        request = s.exec(
            select(Delivery).where(Delivery.key == f"{PLAN}/request:{person}:SIB:2025-09-30")
        ).one()
        return list(request.action_refs or ())


def test_it_applies_the_clear_answer_and_queues_the_doubtful_one(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 14, 5, tzinfo=UTC)
    raw = reply_to(
        request,
        sender=AISHA,
        body="6.6: complete - Delivered; the Local Offer pages are live\n"
        "2.5: amber or possibly red, it depends on the census extract",
        when=when,
    )
    before = _action(engine, "2.5")
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    # The clear answer is in the plan at once, in the lead's own words without the status word...
    assert outcome.verdict == "review"
    a66 = _action(engine, "6.6")
    assert (a66.status, a66.status_label) == ("complete", "Green")
    assert _history(engine, "6.6")[-1].narrative == "Delivered; the Local Offer pages are live"
    # ...the doubtful one waits, with its reason and what was read.
    a25 = _action(engine, "2.5")
    assert (a25.status, a25.progress) == (before.status, before.progress)
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
        assert reply is not None and reply.verdict == "review"
        answers = {a["ref"]: a for a in reply.parsed["answers"]}
    assert answers["6.6"]["verdict"] == "applied" and answers["6.6"]["match"] == "ref"
    assert answers["2.5"]["verdict"] == "review"
    assert "two different statuses for action 2.5" in answers["2.5"]["reason"]
    assert answers["2.5"]["read"]["narrative"].startswith("amber or possibly red")
    # The secretary applies what waits; the clear answer is not applied twice.
    decide(engine, outcome.reply_id, apply=True, by="Morwenna Tregear", now=when)
    assert [c.kind for c in _history(engine, "6.6")].count("update") == 1
    assert "census extract" in _history(engine, "2.5")[-1].narrative
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
        assert reply is not None and reply.verdict == "applied"
        assert {a["ref"]: a["verdict"] for a in reply.parsed["answers"]}["2.5"] == "applied"


def test_it_keeps_thanks_will_reply_next_week_as_an_acknowledgement(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 14, 5, tzinfo=UTC)
    raw = reply_to(
        request, sender=AISHA, body="Thanks, will reply next week with the detail.", when=when
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "applied" and "acknowledged" in outcome.reason
    assert outcome.updates == []
    assert [c.kind for c in _history(engine, "2.5")] == ["created"]
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
        assert reply is not None
        assert [a["verdict"] for a in reply.parsed["answers"]] == ["acknowledged"]
        assert list(pending_reviews(s)) == []  # nothing waits for the secretary


def test_it_marks_the_others_unchanged_and_changes_nothing_else(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    asked = _asked(engine, "AP")
    assert "2.5" in asked and len(asked) > 2
    before = {ref: _action(engine, ref) for ref in asked}
    when = datetime(2025, 9, 17, 14, 5, tzinfo=UTC)
    raw = reply_to(
        request,
        sender=AISHA,
        body="2.5: Amber - sessions booked in all four localities\n\nThe others are unchanged.",
        when=when,
    )
    outcome = ingest_email(engine, raw, now=when, receiver=TRUSTED)
    assert outcome.verdict == "applied", outcome.reason
    for ref in asked:
        if ref == "2.5":
            continue
        after = _action(engine, ref)
        assert (after.status, after.status_label, after.forecast_due, after.progress) == (
            before[ref].status,
            before[ref].status_label,
            before[ref].forecast_due,
            before[ref].progress,
        ), ref
        change = _history(engine, ref)[-1]
        assert change.narrative == "No change since the last update."
        assert change.status_after == before[ref].status
    assert _action(engine, "2.5").progress == "sessions booked in all four localities"


def test_it_keeps_evidence_links_out_of_the_narrative(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    when = datetime(2025, 9, 17, 14, 5, tzinfo=UTC)
    link = "https://plymouthcc.sharepoint.com/sites/SEND/QA/Audit%20report.pdf"
    raw = reply_to(
        request, sender=AISHA, body=f"6.6: Green - audit complete. Evidence: {link}", when=when
    )
    assert ingest_email(engine, raw, now=when, receiver=TRUSTED).verdict == "applied"
    change = _history(engine, "6.6")[-1]
    assert change.evidence == link
    assert change.narrative == "audit complete."
    assert "http" not in (_action(engine, "6.6").progress or "")


def test_it_judges_lateness_by_when_the_reply_arrived_not_when_it_was_taken_in(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    request = _request_to(sink, "aisha.pendleford@example.org")
    arrived = datetime(2025, 9, 23, 15, 30, tzinfo=UTC)  # 16:30 in London, before the deadline
    taken_in = datetime(2025, 9, 24, 9, 0, tzinfo=UTC)  # the mailbox was read the next day
    raw = reply_to(
        request,
        sender=AISHA,
        body="2.5: Amber",
        when=arrived,
        extra={"Received": f"from mail.example.org by {GATEWAY}; {format_datetime(arrived)}"},
    )
    outcome = ingest_email(engine, raw, now=taken_in, receiver=TRUSTED)
    assert outcome.verdict == "applied" and not outcome.late
    assert not _history(engine, "2.5")[-1].late
    # Graph's receivedDateTime, when the transport gives it, comes first.
    raw = reply_to(
        _request_to(sink, "freya.odgers@example.nhs.uk"),
        sender="Freya Odgers <freya.odgers@example.nhs.uk>",
        body="7.9: Amber",
        when=arrived,
        message_id="<reply-2@mail.example.org>",
    )
    late = ingest_email(
        engine,
        raw,
        now=taken_in,
        receiver=TRUSTED,
        received_at=datetime(2025, 9, 24, 8, 0, tzinfo=UTC),
    )
    assert late.verdict == "applied" and late.late
