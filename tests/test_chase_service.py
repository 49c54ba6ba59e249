"""The whole chasing loop: store -> rules -> templates -> outbox -> a real SMTP server."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.cli import cli
from chaser.importing import import_people, import_plan
from chaser.runtime import Runtime
from chaser.service import plan_tick, tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from integrations.channels.teams import TeamsWebhookChannel
from integrations.uploads import keep_upload
from notifications.channel import Channel
from tests.clock import Clock
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT, unpaced_config
from tests.mail_servers import CapturedMessage, FakeWebhook, SmtpSink
from workflows.plan.mapping import load_mapping
from workflows.replies.links import verify_link
from workflows.store.models import Action, Delivery, Person, Plan, Reply, StatusChange

#: The demo plan's code, which begins every outbox key.
PLAN = "plymouth-send-2023"

LONDON = ZoneInfo("Europe/London")
SECRET = "s" * 40


def _runtime(
    engine: Engine, tmp_path: Path, sink: SmtpSink, clock: Clock, webhook: FakeWebhook | None = None
) -> Runtime:
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    channels: dict[str, Channel] = {
        "email": SmtpChannel(
            sink.host, sink.port, sender_address="send.improvement@example.org", starttls=False
        )
    }
    if webhook is not None:
        channels["teams"] = TeamsWebhookChannel(
            {"SIB": webhook.url("sib"), "SSDG": webhook.url("ssdg")}
        )
    return build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": SECRET, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        engine,
        channels=channels,
        clock=clock,
        sleep=clock.advance,
    )


def chases(sink: SmtpSink) -> list[CapturedMessage]:
    """What went to leads and their seniors: the messages less the secretary's notices that
    some died (HP's Teams posts, where no Teams channel is configured) and the board's
    calendar invitations to its advisers."""
    return [
        m
        for m in sink.messages
        if "/dead_letters:" not in m.message["X-Chaser-Key"]
        and "/invitation:" not in m.message["X-Chaser-Key"]
    ]


def _notices(sink: SmtpSink) -> list[CapturedMessage]:
    return [m for m in sink.messages if "/dead_letters:" in m.message["X-Chaser-Key"]]


def _run_days(
    runtime: Runtime, clock: Clock, sink: SmtpSink, start: date, end: date
) -> Counter[date]:
    per_day: Counter[date] = Counter()
    day = start
    while day < end:
        for hour in (time(9, 30), time(14, 0)):
            clock.now = datetime.combine(day, hour, tzinfo=LONDON).astimezone(UTC)
            before = len(chases(sink))
            tick(runtime, clock.now)
            if len(chases(sink)) > before:
                per_day[day] += len(chases(sink)) - before
        day += timedelta(days=1)
    return per_day


def test_six_weeks_of_ticks_send_exactly_the_ladder_through_smtp_and_teams(
    engine: Engine, tmp_path: Path, sink: SmtpSink, webhook: FakeWebhook
) -> None:
    clock = Clock(datetime(2025, 9, 10, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock, webhook)
    per_day = _run_days(runtime, clock, sink, date(2025, 9, 10), date(2025, 10, 22))
    assert dict(per_day) == {
        date(2025, 9, 16): 13,  # SIB requests
        date(2025, 9, 19): 13,  # reminders
        date(2025, 9, 23): 13,  # final reminders
        date(2025, 9, 24): 7,  # escalations: one per senior responsible officer, and the secretary
        date(2025, 9, 26): 1,  # the digest to the board's secretary, 2 working days before
        date(2025, 10, 7): 13,  # SSDG requests
        date(2025, 10, 10): 13,
        date(2025, 10, 14): 13,
        date(2025, 10, 15): 7,
        date(2025, 10, 17): 1,  # the SSDG digest
    }
    messages = [m.message for m in chases(sink)]
    ids = [m["Message-ID"] for m in messages]
    assert len(set(ids)) == len(ids) == 94
    with Session(engine) as s:
        rows = s.exec(select(Delivery)).all()
    assert {r.state for r in rows} == {"sent"}
    # HP is chased on Teams too (chasing.yaml): in the meeting group's channel, @mentioned
    teams = sorted(r.key for r in rows if r.channel == "teams")
    assert teams == sorted(
        f"{PLAN}/{step}:HP:{meeting}:teams"
        for step in ("request", "reminder", "final_reminder")
        for meeting in ("SIB:2025-09-30", "SSDG:2025-10-21")
    )
    posts = [r for r in webhook.requests]
    assert len(posts) == 6
    assert [p.path.split("/")[2] for p in posts] == ["sib"] * 3 + ["ssdg"] * 3
    card = posts[0].json()["attachments"][0]["content"]
    mentioned = [e["mentioned"]["id"] for e in card["msteams"]["entities"]]
    assert mentioned == ["hester.pengelly@example.nhs.uk"]
    (button,) = card["actions"]  # the card's button opens the same reply form as the email
    assert button["type"] == "Action.OpenUrl"
    token = button["url"].removeprefix("http://127.0.0.1:8080/r/")
    claims = verify_link(SECRET.encode(), token, now=datetime(2025, 9, 16, tzinfo=UTC))
    assert (claims.lead, claims.key) == ("HP", f"{PLAN}/request:HP:SIB:2025-09-30")

    request = next(m for m in messages if m["X-Chaser-Key"] == f"{PLAN}/request:AP:SIB:2025-09-30")
    assert request["To"] == "Aisha Pendleford <aisha.pendleford@example.org>"
    reference = re.search(r"\[ref (CHS-[A-Z2-7]{10})\]", request["Subject"])
    assert reference is not None
    text = request.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert reference.group(1) in text
    token = re.search(r"http://127\.0\.0\.1:8080/r/(\S+)", text)
    assert token is not None
    claims = verify_link(SECRET.encode(), token.group(1), now=datetime(2025, 9, 16, tzinfo=UTC))
    assert (claims.person, claims.lead, claims.meeting) == ("AP", "AP", "SIB:2025-09-30")
    for ref in ("2.2", "2.5", "6.6"):
        assert ref in text

    escalation = next(
        m for m in messages if m["X-Chaser-Key"] == f"{PLAN}/escalation:SS:SIB:2025-09-30"
    )
    assert "saoirse.stannard@example.nhs.uk" in escalation["To"]
    assert escalation["Cc"] is not None and "@example.org" in escalation["Cc"]
    assert escalation["Subject"].startswith("No update from 4 leads for the ")
    body = escalation.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    for name in ("Freya Odgers", "Hester Pengelly", "Tobias Carnsew"):
        assert f"{name}: " in body


def test_a_lead_who_replies_is_not_reminded(engine: Engine, tmp_path: Path, sink: SmtpSink) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    _run_days(runtime, clock, sink, date(2025, 9, 16), date(2025, 9, 17))
    with Session(engine) as s:  # FO answers for all four actions by email on the 17th
        fo = s.exec(select(Person).where(Person.code == "FO")).one()
        for action in s.exec(select(Action).where(Action.accountable_id == fo.id)):
            assert action.id is not None
            s.add(
                StatusChange(
                    action_id=action.id,
                    recorded_at=datetime(2025, 9, 17, 11, tzinfo=UTC),
                    person_id=fo.id,
                    channel="email",
                    kind="update",
                    narrative="On track",
                )
            )
        s.commit()
    _run_days(runtime, clock, sink, date(2025, 9, 17), date(2025, 9, 25))
    to_fo = [
        m.message["X-Chaser-Key"]
        for m in sink.messages
        if "freya.odgers@example.nhs.uk" in m.rcpt_tos
    ]
    assert to_fo == [f"{PLAN}/request:FO:SIB:2025-09-30"]
    assert len(chases(sink)) == 13 + 12 + 12 + 7  # FO left out (SS still escalated others)


def test_a_transient_smtp_error_is_retried_and_delivered_once(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    sink.fail("rcpt", "451 4.3.0 Try again later")
    tick(runtime, clock.now)
    assert len(chases(sink)) == 12
    with Session(engine) as s:
        waiting = s.exec(select(Delivery).where(Delivery.state == "pending")).one()
    assert waiting.attempts == 1 and "451" in waiting.last_error
    clock.advance(3600)
    tick(runtime, clock.now)
    keys = Counter(m.message["X-Chaser-Key"] for m in chases(sink))
    assert len(keys) == 13 and set(keys.values()) == {1}
    # HP's Teams post died (no Teams channel): the secretary is told, once
    told = _notices(sink)
    assert len(told) == 1 and "Teams" in told[0].body("plain")


def test_ticking_twice_at_the_same_moment_sends_nothing_twice(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    first = tick(runtime, clock.now)
    second = tick(runtime, clock.now)
    third = tick(runtime, clock.now)
    # 13 emails, HP's Teams post and the 30 Sep board's invitations to its three advisers;
    # then only the secretary's notice that the post died
    assert (first.enqueued, second.enqueued, third.enqueued) == (14 + 3, 1, 0)
    assert len(chases(sink)) == 13 and len(_notices(sink)) == 1


def test_the_services_own_tick_sends_the_same_without_listing_what_it_planned(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    # `chaser run` ticks without keeping each message it planned (it only counts them), so a
    # tick of many plans does not hold every plan's rendered messages at once
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    report = tick(runtime, clock.now, keep_planned=False)
    assert report.planned == [] and report.enqueued == 14 + 3
    assert len(chases(sink)) == 13
    shown = tick(runtime, clock.now, thorough=True)  # as `chaser chase` asks
    assert len(shown.planned) == 14 and not any(p.new for p in shown.planned)


def test_it_clears_a_workbook_an_admin_uploaded_but_never_confirmed(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    # The service's tick clears it even when nobody opens /upload again.
    clock = Clock(datetime(2025, 9, 16, 8, 30, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    left = tmp_path / "uploads" / "checked-then-left.xlsx"
    keep_upload(left, PLAN_XLSX.read_bytes(), clock.now)
    tick(runtime, clock.now + timedelta(hours=23))
    assert left.is_file()
    tick(runtime, clock.now + timedelta(hours=25))
    assert not left.exists()


def test_chase_by_hand_shows_and_sends_what_is_due(tmp_path: Path, sink: SmtpSink) -> None:
    config = unpaced_config(tmp_path)
    db = f"sqlite:///{tmp_path / 'chaser.db'}"
    env = {
        "CHASER_SECRET_KEY": SECRET,
        "CHASER_DATA_DIR": str(tmp_path / "data"),
        "CHASER_SMTP_HOST": sink.host,
        "CHASER_SMTP_PORT": str(sink.port),
        "CHASER_SMTP_STARTTLS": "no",
    }
    runner = CliRunner()

    def chaser(*args: str) -> str:
        result = runner.invoke(cli, ["--db", db, "--config", str(config), *args], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    chaser("people", "import", str(PEOPLE_CSV))
    chaser("plan", "import", str(PLAN_XLSX))
    dry = json.loads(chaser("chase", "--now", "2025-09-16T09:30", "--dry-run", "--json"))
    assert dry["dispatch"] is None and len(dry["messages"]) == 14
    assert sink.messages == []
    hp = [m for m in dry["messages"] if m["lead"] == "HP"]
    assert [m["channel"] for m in hp] == ["email", "teams"]
    assert hp[0]["step"] == "request" and hp[0]["meeting"] == "SIB:2025-09-30" and hp[0]["new"]
    assert len(hp[0]["actions"]) == 13
    real = json.loads(chaser("chase", "--now", "2025-09-16T09:30", "--json"))
    # no CHASER_TEAMS_WEBHOOK_SIB is set: the Teams post is dead-lettered with that fix
    # and the 30 Sep board's invitations to its three advisers
    assert real["enqueued"] == 14 + 3 and real["dispatch"]["sent"] == 13 + 3
    assert real["dispatch"]["dead"] == 1
    assert len(chases(sink)) == 13
    again = chaser("chase", "--now", "2025-09-16T10:30")
    assert "0 enqueued, 14 already in the outbox" in again
    # nothing went twice; the secretary heard that the Teams post died
    assert len(chases(sink)) == 13 and len(_notices(sink)) == 1


def _escalations_on(sink: SmtpSink, since: int = 0) -> list[CapturedMessage]:
    return [m for m in sink.messages[since:] if "/escalation:" in m.message["X-Chaser-Key"]]


def test_it_sends_no_second_escalation_after_an_upgrade_from_per_lead_keys(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    """A store whose outbox already holds this morning's escalations under the old per-lead
    keys (``escalation:{lead}:{meeting}:{officer}``): upgrading mid-cycle sends none again."""
    clock = Clock(datetime(2025, 9, 24, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    grouped = [p.chase for p in plan_tick(runtime, datetime(2025, 9, 24, 9, 30, tzinfo=LONDON))]
    old: list[tuple[str, str]] = []  # (lead, officer) as the old code keyed them
    for chase in grouped:
        for who, _ in chase.leads:
            old.append((who.code, chase.lead.code))
    assert len(old) == 26  # what the old code sent: one per lead and officer
    kept_back = ("TC", "RH")  # pretend the old code had not yet reached this one
    written = datetime(2025, 9, 24, 8, 31, tzinfo=UTC)
    with Session(engine) as s:
        plan_id = s.exec(select(Plan.id).where(Plan.code == PLAN)).one()
        for n, (lead, officer) in enumerate(old):
            if (lead, officer) == kept_back:
                continue
            s.add(
                Delivery(
                    key=f"{PLAN}/escalation:{lead}:SIB:2025-09-30:{officer}",
                    reference=f"CHS-OLD{n:05d}",
                    kind="escalation",
                    channel="email",
                    plan_id=plan_id,
                    person_code=lead,
                    recipient_code=officer,
                    meeting_key="SIB:2025-09-30",
                    state="sent",
                    not_before=written,
                    created_at=written,
                    updated_at=written,
                    sent_at=written,
                )
            )
        s.commit()
    _run_days(runtime, clock, sink, date(2025, 9, 24), date(2025, 9, 26))
    sent = _escalations_on(sink)
    # Only the one lead the old code had not escalated goes, in a grouped message to RH.
    assert [m.message["X-Chaser-Key"] for m in sent] == [f"{PLAN}/escalation:RH:SIB:2025-09-30"]
    body = sent[0].body("plain")
    assert "Tobias Carnsew: 5 actions with no update" in body
    assert "Aisha Pendleford" not in body


def test_it_does_not_chase_a_lead_whose_reply_waits_for_review(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 9, 16, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    _run_days(runtime, clock, sink, date(2025, 9, 16), date(2025, 9, 17))
    with Session(engine) as s:  # TC replies by email; the reply waits for the secretary
        request = s.exec(
            select(Delivery).where(Delivery.key == f"{PLAN}/request:TC:SIB:2025-09-30")
        ).one()
        tc = s.exec(select(Person).where(Person.code == "TC")).one()
        s.add(
            Reply(
                plan_id=request.plan_id,
                channel="email",
                received_at=datetime(2025, 9, 17, 10, tzinfo=UTC),
                sender=tc.email,
                person_id=tc.id,
                delivery_id=request.id,
                verdict="review",
                reason="the status of 6.1 is unclear",
            )
        )
        s.commit()
    _run_days(runtime, clock, sink, date(2025, 9, 17), date(2025, 9, 25))
    tc_email = "tobias.carnsew@example.nhs.uk"
    to_tc = [m.message["X-Chaser-Key"] for m in sink.messages if tc_email in m.rcpt_tos]
    assert to_tc == [f"{PLAN}/request:TC:SIB:2025-09-30"]  # no reminder, no final reminder
    escalations = _escalations_on(sink)
    assert escalations  # the others are still escalated
    assert all("Tobias Carnsew" not in m.body("plain") for m in escalations)


def _fo_due(engine: Engine, dues: list[date]) -> list[str]:
    """FO's first actions due on ``dues`` (their forecast), every other action undated."""
    with Session(engine) as s:
        fo = s.exec(select(Person).where(Person.code == "FO")).one()
        actions = list(s.exec(select(Action).order_by(Action.position)))  # type: ignore[arg-type]
        mine = [a for a in actions if a.accountable_id == fo.id][: len(dues)]
        due_of = {a.id: d for a, d in zip(mine, dues, strict=True)}
        for a in actions:
            a.forecast_due = due_of.get(a.id)
            a.forecast_due_precision = "day" if a.id in due_of else None
            s.add(a)
        s.commit()
        return [a.ref for a in mine]


def _nudges_on(sink: SmtpSink) -> list[CapturedMessage]:
    return [m for m in sink.messages if "/nudge" in m.message["X-Chaser-Key"]]


#: A due 30 Nov (due soon from Fri 14 Nov), B due Thu 13 Nov (overdue from 14 Nov), C due
#: Mon 1 Dec (due soon from Mon 17 Nov).
DUES = [date(2025, 11, 30), date(2025, 11, 13), date(2025, 12, 1)]


def test_it_sends_a_lead_one_nudge_a_day_listing_each_kind(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    clock = Clock(datetime(2025, 11, 14, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    a, b, _ = _fo_due(engine, DUES)
    _run_days(runtime, clock, sink, date(2025, 11, 14), date(2025, 11, 15))  # ticked twice
    [sent] = _nudges_on(sink)
    assert sent.message["X-Chaser-Key"] == f"{PLAN}/nudge:FO:2025-11-14"
    assert sent.message["Subject"].startswith("1 action overdue, 1 due soon [ref ")
    body = sent.body("plain")
    assert body.index("Overdue:") < body.index(f"1. {b} ") < body.index("Due soon:")
    assert body.index("Due soon:") < body.index(f"2. {a} ")


def test_it_sends_no_second_nudge_after_an_upgrade_from_per_kind_keys(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    """A store whose outbox already holds this morning's nudges under the old per-kind keys
    (``nudge_before:{lead}:{window's first day}``): upgrading sends none of them again, and
    each action's later windows still get their nudge."""
    clock = Clock(datetime(2025, 11, 14, 8, tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    a, b, c = _fo_due(engine, DUES)
    written = datetime(2025, 11, 14, 9, 1, tzinfo=UTC)
    with Session(engine) as s:
        plan_id = s.exec(select(Plan.id).where(Plan.code == PLAN)).one()
        for n, (kind, ref) in enumerate([("nudge_before", a), ("nudge_overdue", b)]):
            s.add(
                Delivery(
                    key=f"{PLAN}/{kind}:FO:2025-11-14",
                    reference=f"CHS-OLD{n:05d}",
                    kind=kind,
                    channel="email",
                    plan_id=plan_id,
                    person_code="FO",
                    recipient_code="FO",
                    action_refs=[ref],
                    state="sent",
                    not_before=written,
                    created_at=written,
                    updated_at=written,
                    sent_at=written,
                )
            )
        s.commit()
    _run_days(runtime, clock, sink, date(2025, 11, 14), date(2025, 12, 4))
    sent = [
        (m.message["X-Chaser-Key"].removeprefix(f"{PLAN}/"), m.body("plain"))
        for m in _nudges_on(sink)
    ]
    assert [key for key, _ in sent] == [
        "nudge:FO:2025-11-17",  # C's window opens; A and B were nudged under the old keys
        "nudge:FO:2025-11-28",  # A due today
        "nudge:FO:2025-12-01",  # A overdue, C due today: one message
        "nudge:FO:2025-12-02",  # C overdue
    ]
    assert f"1. {c} " in sent[0][1] and f" {a} " not in sent[0][1] and f" {b} " not in sent[0][1]
    assert "Overdue:" in sent[2][1] and "Due today:" in sent[2][1]
