"""Figures and risk reviews written in an emailed reply reach the scorecard and the register
through intake, from a trusted sender at once and from an untrusted one only when the secretary
applies the reply."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tests.measures_helpers import PLAN, register, scorecard, with_plan
from tests.test_replies import AISHA, TRUSTED, gateway_stamp
from workflows.replies.intake import ingest_email
from workflows.replies.review import decide
from workflows.store.models import Measure, MeasureReading, Reply

WHEN = datetime(2025, 9, 3, 10, tzinfo=UTC)


def _email(body: str, *, stamped: bool, message_id: str) -> bytes:
    mail = EmailMessage()
    if stamped:
        mail["Authentication-Results"] = gateway_stamp(AISHA)
    mail["From"] = AISHA
    mail["To"] = "send.improvement@example.org"
    mail["Subject"] = "Figures for August"
    mail["Date"] = format_datetime(WHEN)
    mail["Message-ID"] = message_id
    mail.set_content(body)
    return mail.as_bytes()


def _readings(engine: Engine, code: str) -> list[tuple[float, str, int | None]]:
    with Session(engine) as s:
        measure = s.exec(select(Measure).where(Measure.code == code)).one()
        rows = s.exec(
            select(MeasureReading)
            .where(MeasureReading.measure_id == measure.id, MeasureReading.channel == "email")
            .order_by(col(MeasureReading.id))
        ).all()
        return [(r.value, r.channel, r.reply_id) for r in rows]


def test_it_keeps_a_trusted_leads_emailed_figure_and_says_why_one_was_refused(
    engine: Engine,
) -> None:
    with_plan(engine)
    scorecard(engine)
    raw = _email(
        "Hello,\n\nEHCP 20-week timeliness: 61%\nM4: 104\n\nThanks,\nAisha\n",
        stamped=True,
        message_id="<fig-1@example.org>",
    )
    outcome = ingest_email(engine, raw, now=WHEN, plan_code=PLAN, receiver=TRUSTED)
    assert outcome.verdict == "applied", outcome.reason  # nothing else in it to review
    assert [(v, c) for v, c, _ in _readings(engine, "M1")] == [(61, "email")]
    with Session(engine) as s:
        reply = s.get(Reply, outcome.reply_id)
        assert reply is not None
        kept = {f["code"]: (f["kept"], f["problem"]) for f in reply.parsed["figures"]}
    assert kept["M1"] == (True, "")
    assert kept["M4"][0] is False and "over 100" in kept["M4"][1]


def test_it_keeps_an_untrusted_figure_only_when_the_secretary_applies_the_reply(
    engine: Engine,
) -> None:
    with_plan(engine)
    scorecard(engine)
    register(engine)
    raw = _email("EHCP 20-week timeliness: 58%\n", stamped=False, message_id="<fig-2@example.org>")
    outcome = ingest_email(engine, raw, now=WHEN, plan_code=PLAN, receiver=TRUSTED)
    assert outcome.verdict == "review"  # no server vouched for the sender
    assert _readings(engine, "M1") == []
    decide(engine, outcome.reply_id, apply=True, by="Morwenna Tregear", now=WHEN)
    assert [(v, r) for v, _, r in _readings(engine, "M1")] == [(58, outcome.reply_id)]
