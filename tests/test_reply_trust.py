"""Trust that does not rest on From: an emailed update is applied only when the receiving mail
server authenticated the sender, aligned with a From address in the people directory.

Each spoof a probe tried goes to the review queue with its reason and changes nothing; the
reference still finds the request (it identifies, it does not vouch). Replies go through the
real paths: ``ingest_email`` as the SMTP listener and saved files use it, the real aiosmtpd
listener, the CLI, and the Graph inbox against the fake Graph driven by the real O365/msal code.
"""

from __future__ import annotations

import json
import smtplib
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.runtime import Runtime
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import inbound_listener
from tests.conftest import PEOPLE_CSV, PLAN_XLSX
from tests.fake_graph import FakeGraph, exchange_stamp, fake_graph_fixture  # noqa: F401
from tests.mail_servers import SmtpSink, free_port
from tests.test_replies import (
    AISHA,
    GATEWAY,
    PLAN,
    TRUSTED,
    _action,
    _request_to,
    gateway_stamp,
    reply_to,
    send_requests,
)
from workflows.replies.authentication import Receiver, parse_authentication_results
from workflows.replies.intake import ingest_email
from workflows.store.models import Person, Reply

WHEN = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
REQUEST_KEY = f"{PLAN}/request:AP:SIB:2025-09-30"


@pytest.fixture
def sent(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Runtime:
    """The Plymouth plan, with the SIB update requests of 16 Sep 2025 sent."""
    return send_requests(engine, tmp_path, sink)


def _aisha_request(sink: SmtpSink) -> EmailMessage:
    return _request_to(sink, "aisha.pendleford@example.org")


def _reviewed(engine: Engine, raw: bytes, receiver: Receiver = TRUSTED) -> tuple[str, str]:
    """Take ``raw`` in; it must wait for review and change nothing: its reason and request."""
    outcome = ingest_email(engine, raw, now=WHEN, receiver=receiver)
    assert outcome.verdict == "review", outcome.reason
    assert _action(engine, "2.5").status is None  # nothing applied
    return outcome.reason, outcome.request or ""


# -- the positive case ------------------------------------------------------------------------


def test_it_applies_a_reply_its_trusted_gateway_authenticated_for_a_directory_person(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(_aisha_request(sink), sender=AISHA, body="2.5: Red - no staff", when=WHEN)
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "applied", outcome.reason
    assert (outcome.person, outcome.request) == ("AP", REQUEST_KEY)
    assert _action(engine, "2.5").status_label == "Red"
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
    assert reply is not None
    assert reply.parsed["authentication"] == {
        "authenticated": True,
        "by": GATEWAY,
        "domain": "example.org",
        "reason": f"the receiving server ({GATEWAY}) authenticated example.org (spf=pass)",
    }


def test_it_applies_on_spf_alone_when_the_mailfrom_is_a_subdomain_of_the_from_domain(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(
        _aisha_request(sink),
        sender=AISHA,
        body="2.5: Red",
        when=WHEN,
        auth="spf=pass smtp.mailfrom=bounces.example.org; dkim=none; dmarc=none",
    )
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "applied", outcome.reason


# -- forged senders ---------------------------------------------------------------------------


def test_it_sends_a_forged_from_with_a_valid_reference_and_spf_softfail_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(
        _aisha_request(sink),
        sender=AISHA,
        body="2.5: complete",
        when=WHEN,
        auth="spf=softfail smtp.mailfrom=example.org",
    )
    reason, request = _reviewed(engine, raw)
    assert reason == "the sender's domain was not authenticated by the receiving server " + (
        "(spf=softfail)"
    )
    assert request == REQUEST_KEY  # the reference still found the request


def test_it_sends_a_self_written_pass_from_an_untrusted_server_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(
        _aisha_request(sink),
        sender=AISHA,
        body="2.5: complete",
        when=WHEN,
        auth=None,
        extra={
            "Authentication-Results": "untrusted.example; spf=pass smtp.mailfrom=example.org; "
            "dkim=pass header.d=example.org; dmarc=pass header.from=example.org"
        },
    )
    reason, _ = _reviewed(engine, raw)
    assert reason == "Authentication-Results from untrusted.example, not a trusted server"


def test_it_sends_a_self_written_pass_in_the_gateways_name_below_its_stamp_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    """The sender wrote the gateway's own authserv-id, but the gateway's real stamp is above it:
    only the topmost trusted header counts."""
    raw = reply_to(
        _aisha_request(sink),
        sender=AISHA,
        body="2.5: complete",
        when=WHEN,
        auth="spf=softfail smtp.mailfrom=attacker.example; dkim=none; dmarc=none",
        extra={"Authentication-Results": gateway_stamp(AISHA)},  # below From: the sender's
    )
    assert raw.index(b"dmarc=none") < raw.index(b"dmarc=pass")
    reason, _ = _reviewed(engine, raw)
    assert reason == (
        "the sender's domain was not authenticated by the receiving server "
        "(spf=softfail, dkim=none, dmarc=none)"
    )


def test_it_sends_a_self_written_header_without_an_authserv_id_over_smtp_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    """Exchange Online's form of header, written by the sender to a listener that is not
    reading Exchange's mailbox, is the sender's own word."""
    raw = reply_to(
        _aisha_request(sink),
        sender=AISHA,
        body="2.5: complete",
        when=WHEN,
        auth=None,
        extra={"Authentication-Results": exchange_stamp("example.org")},
    )
    reason, _ = _reviewed(engine, raw)
    assert reason.startswith("Authentication-Results with no authserv-id, not from a trusted")


def test_it_sends_a_display_name_spoof_to_review_naming_the_name_it_gave(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    """The gateway vouches for attacker.example, truly: but that address is nobody's."""
    raw = reply_to(
        _aisha_request(sink),
        sender='"Aisha Pendleford (aisha.pendleford@example.org)" <ap@attacker.example>',
        body="2.5: complete",
        when=WHEN,
    )
    reason, request = _reviewed(engine, raw)
    assert reason == (
        "the sender ap@attacker.example is not in the people directory (it gives the name "
        "“Aisha Pendleford (aisha.pendleford@example.org)”)"
    )
    assert request == REQUEST_KEY


def test_it_sends_a_lookalike_domain_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    lookalike = reply_to(
        _aisha_request(sink),
        sender="Aisha Pendleford <aisha.pendleford@examp1e.org>",
        body="2.5: complete",
        when=WHEN,
    )
    reason, _ = _reviewed(engine, lookalike)
    assert "aisha.pendleford@examp1e.org is not in the people directory" in reason


def test_it_sends_a_pass_for_another_domain_than_the_from_address_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    """Aisha's real address, but what the gateway authenticated was a domain that merely starts
    like hers: not aligned."""
    raw = reply_to(
        _aisha_request(sink),
        sender=AISHA,
        body="2.5: complete",
        when=WHEN,
        auth="spf=pass smtp.mailfrom=example.org.attacker.example; "
        "dkim=pass header.d=example.org.attacker.example; dmarc=none header.from=example.org",
    )
    reason, _ = _reviewed(engine, raw)
    assert reason == (
        f"the receiving server ({GATEWAY}) authenticated example.org.attacker.example, not "
        "example.org, the From address's domain"
    )


def test_it_sends_a_dmarc_fail_from_the_trusted_server_to_review_whatever_else_passed(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(
        _aisha_request(sink),
        sender=AISHA,
        body="2.5: complete",
        when=WHEN,
        auth="spf=pass smtp.mailfrom=example.org; dkim=pass header.d=example.org; "
        "dmarc=fail header.from=example.org",
    )
    reason, _ = _reviewed(engine, raw)
    assert reason == (
        f"the receiving server ({GATEWAY}) found the sender's domain failing authentication "
        "(dmarc=fail): it may not be from who it says"
    )


def test_it_sends_a_reply_with_two_from_addresses_to_review(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(
        _aisha_request(sink),
        sender=f"{AISHA}, Mallory <mallory@attacker.example>",
        body="2.5: complete",
        when=WHEN,
    )
    reason, _ = _reviewed(engine, raw)
    assert reason == "the From header gives more than one address"


def test_it_applies_nothing_when_no_trusted_server_is_configured(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(_aisha_request(sink), sender=AISHA, body="2.5: complete", when=WHEN)
    reason, _ = _reviewed(engine, raw, receiver=Receiver.smtp([]))
    assert "none is configured (CHASER_INBOUND_AUTHSERV_IDS)" in reason


def test_it_does_not_mark_a_lead_away_on_an_unauthenticated_out_of_office(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    raw = reply_to(
        _request_to(sink, "hester.pengelly@example.nhs.uk"),
        sender="Hester Pengelly <hester.pengelly@example.nhs.uk>",
        body="I am out of the office, returning on Monday 29 September 2025.",
        when=WHEN,
        auth="spf=softfail smtp.mailfrom=example.nhs.uk",
        extra={"Auto-Submitted": "auto-replied"},
    )
    outcome = ingest_email(engine, raw, now=WHEN, receiver=TRUSTED)
    assert outcome.verdict == "auto_reply" and "nothing changed" in outcome.reason
    assert outcome.away_until is None
    with Session(engine) as s:
        hp = s.exec(select(Person).where(Person.code == "HP")).one()
    assert hp.away_until is None
    # ...and the same, vouched for, does
    trusted = reply_to(
        _request_to(sink, "hester.pengelly@example.nhs.uk"),
        sender="Hester Pengelly <hester.pengelly@example.nhs.uk>",
        body="I am out of the office, returning on Monday 29 September 2025.",
        when=WHEN,
        message_id="<ooo-2@example.nhs.uk>",
        extra={"Auto-Submitted": "auto-replied"},
    )
    assert ingest_email(engine, trusted, now=WHEN, receiver=TRUSTED).away_until == date(2025, 9, 29)


# -- the SMTP listener ------------------------------------------------------------------------


def test_it_refuses_mail_from_a_peer_that_is_not_a_relay_in_the_real_listener(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    port = free_port()
    settings = Settings.from_env(
        {
            "CHASER_INBOUND_SMTP": f"127.0.0.1:{port}",
            "CHASER_INBOUND_SMTP_RELAYS": "192.0.2.25",  # the relay: not this computer
            "CHASER_INBOUND_AUTHSERV_IDS": GATEWAY,
        }
    )
    listener = inbound_listener(settings, sent)
    assert listener is not None
    raw = reply_to(_aisha_request(sink), sender=AISHA, body="2.5: Red", when=WHEN)
    with (
        listener,
        smtplib.SMTP("127.0.0.1", port) as smtp,
        pytest.raises(smtplib.SMTPSenderRefused) as refused,
    ):
        smtp.sendmail("aisha.pendleford@example.org", ["send.improvement@example.org"], raw)
    assert refused.value.smtp_code == 550
    assert b"only from the council's mail relays" in refused.value.smtp_error
    assert b"CHASER_INBOUND_SMTP_RELAYS" in refused.value.smtp_error
    with Session(engine) as s:
        assert s.exec(select(Reply)).all() == []
    assert _action(engine, "2.5").status is None


def test_it_takes_mail_from_a_relay_and_applies_it_on_the_gateways_word_only(
    engine: Engine, sent: Runtime, sink: SmtpSink
) -> None:
    port = free_port()
    settings = Settings.from_env(
        {
            "CHASER_INBOUND_SMTP": f"127.0.0.1:{port}",
            "CHASER_INBOUND_SMTP_RELAYS": "127.0.0.0/8",
            "CHASER_INBOUND_AUTHSERV_IDS": f"other.example, {GATEWAY}",
        }
    )
    listener = inbound_listener(settings, sent)
    assert listener is not None
    sent.clock = lambda: WHEN
    request = _aisha_request(sink)
    vouched = reply_to(request, sender=AISHA, body="2.5: Red", when=WHEN)
    unvouched = reply_to(
        request, sender=AISHA, body="6.6: complete", when=WHEN, auth=None, message_id="<u@x>"
    )
    with listener, smtplib.SMTP("127.0.0.1", port) as smtp:
        assert smtp.sendmail(AISHA, ["send.improvement@example.org"], vouched) == {}
        assert smtp.sendmail(AISHA, ["send.improvement@example.org"], unvouched) == {}
    assert _action(engine, "2.5").status_label == "Red"
    assert _action(engine, "6.6").status is None
    with Session(engine) as s:
        waiting = s.exec(select(Reply).where(Reply.verdict == "review")).one()
    assert waiting.reason == f"no Authentication-Results from {GATEWAY} or other.example: " + (
        "the receiving server did not vouch for the sender"
    )


# -- saved files ------------------------------------------------------------------------------


def test_it_follows_the_same_rule_for_saved_files(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    runner = CliRunner()
    for args in (["people", "import", str(PEOPLE_CSV)], ["plan", "import", str(PLAN_XLSX)]):
        assert runner.invoke(cli, ["--db", db, *args]).exit_code == 0
    files = []
    for n, stamp in enumerate(
        (gateway_stamp(AISHA), f"{GATEWAY}; spf=softfail smtp.mailfrom=example.org")
    ):
        reply = EmailMessage()
        reply["Authentication-Results"] = stamp
        reply["From"] = AISHA
        reply["Subject"] = "Update on my actions"
        reply["Date"] = format_datetime(WHEN)
        reply["Message-ID"] = f"<file-{n}@mail.example.org>"
        reply.set_content(f"2.{5 + n}: Amber")
        path = tmp_path / f"reply-{n}.eml"
        path.write_bytes(bytes(reply))
        files.append(str(path))
    untrusted = runner.invoke(cli, ["--db", db, "replies", "ingest", files[0], "--json"])
    assert untrusted.exit_code == 0, untrusted.output
    (first,) = json.loads(untrusted.stdout)
    assert first["verdict"] == "review"  # no gateway configured: the file's header is its own
    env = {"CHASER_INBOUND_AUTHSERV_IDS": GATEWAY}
    result = runner.invoke(cli, ["--db", db, "replies", "ingest", *files, "--json"], env=env)
    assert result.exit_code == 0, result.output
    duplicate, softfail = json.loads(result.stdout)
    assert duplicate["verdict"] == "duplicate"  # the same message as before: not applied twice
    assert softfail["verdict"] == "review" and "(spf=softfail)" in softfail["reason"]


# -- Microsoft Graph: Exchange Online's own stamp --------------------------------------------


def test_it_applies_a_graph_reply_exchange_stamped_pass_and_reviews_one_it_stamped_fail(
    engine: Engine, sent: Runtime, sink: SmtpSink, fake_graph: FakeGraph
) -> None:
    from tests.test_graph_inbox import inbox

    sent.inbox = inbox(fake_graph)
    request = _aisha_request(sink)
    day = datetime(2025, 9, 17, 8, 0, tzinfo=UTC)
    tick(sent, day)  # starts reading now
    genuine = reply_to(request, sender=AISHA, body="2.5: Red", when=day, auth=None)
    fake_graph.deliver(genuine, stamp=exchange_stamp("example.org"))
    # A spoof: Exchange found it failing; the sender wrote a pass of its own, lower down.
    spoof = reply_to(
        request,
        sender=AISHA,
        body="6.6: complete",
        when=day,
        message_id="<spoof@attacker.example>",
        auth=None,
        extra={"Authentication-Results": exchange_stamp("example.org")},
    )
    fake_graph.deliver(spoof, stamp=exchange_stamp("example.org", "fail"))
    assert tick(sent, day + timedelta(minutes=1)).ingested == 2
    assert _action(engine, "2.5").status_label == "Red"
    assert _action(engine, "6.6").status is None
    with Session(engine) as s:
        reviewed = s.exec(select(Reply).where(Reply.verdict == "review")).one()
    assert reviewed.message_id == "<spoof@attacker.example>"
    assert reviewed.reason == (
        "the receiving server (Exchange Online) found the sender's domain failing "
        "authentication (dmarc=fail): it may not be from who it says"
    )
    headers = fake_graph.calls("GET", r"/users/[^/]+/messages/[^/]+$")
    assert {h.query.get("$select") for h in headers} == {"internetMessageHeaders"}


def test_it_reviews_a_graph_reply_whose_only_header_is_another_servers(
    engine: Engine, sent: Runtime, sink: SmtpSink, fake_graph: FakeGraph
) -> None:
    """Over Graph only Exchange's own (authserv-id-less) stamp counts: a gateway's header in the
    message is not Exchange's word."""
    from tests.test_graph_inbox import inbox

    sent.inbox = inbox(fake_graph)
    day = datetime(2025, 9, 17, 8, 0, tzinfo=UTC)
    tick(sent, day)
    fake_graph.deliver(reply_to(_aisha_request(sink), sender=AISHA, body="2.5: Red", when=day))
    assert tick(sent, day + timedelta(minutes=1)).ingested == 1
    with Session(engine) as s:
        reviewed = s.exec(select(Reply)).one()
    assert reviewed.verdict == "review"
    assert reviewed.reason == f"Authentication-Results from {GATEWAY}, not a trusted server"


# -- reading the header itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "authserv_id", "results"),
    [
        (
            "mx.council.example 1; spf=pass smtp.mailfrom=a@example.org (ok); dkim = pass "
            "header . d = example.org",
            "mx.council.example",
            [
                ("spf", "pass", "smtp.mailfrom", "a@example.org"),
                ("dkim", "pass", "header.d", "example.org"),
            ],
        ),
        (
            # Exchange Online: no authserv-id, comments, "action" without a ptype, a bare
            # domain between results
            "spf=none (sender IP is 192.0.2.1) smtp.mailfrom=example.org; tenant.mail."
            "onmicrosoft.com; dmarc=none action=none header.from=example.org;compauth=pass "
            "reason=100",
            "",
            [
                ("spf", "none", "smtp.mailfrom", "example.org"),
                ("dmarc", "none", "header.from", "example.org"),
                ("compauth", "pass", "reason", "100"),
            ],
        ),
        (
            '"quoted;id"; dkim=pass (a (nested; comment)) header.d=example.org',
            "quoted;id",
            [("dkim", "pass", "header.d", "example.org")],
        ),
    ],
)
def test_it_reads_authentication_results_as_rfc_8601_writes_them_and_as_exchange_does(
    value: str, authserv_id: str, results: list[tuple[str, str, str, str]]
) -> None:
    header = parse_authentication_results(value)
    assert header.authserv_id == authserv_id
    assert [(r.method, r.result) for r in header.results] == [(m, r) for m, r, _, _ in results]
    for read, (_, _, prop, expected) in zip(header.results, results, strict=True):
        assert read.props[prop] == expected


def test_it_reads_a_no_result_header() -> None:
    header = parse_authentication_results("mx.council.example; none")
    assert (header.authserv_id, header.none, header.results) == ("mx.council.example", True, ())
