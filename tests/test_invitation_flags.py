"""Issue 17, part 1: a meeting whose mandatory invitees were not all invited by the group's lead
time is flagged to its secretary, once, naming who and why."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.service import tick
from tests.clock import Clock
from tests.conftest import ROOT
from tests.mail_servers import CapturedMessage, SmtpSink
from tests.test_invitations import ADVISERS, _runtime
from workflows.calendar.cycles import LONDON, CyclesConfigError, parse_cycles
from workflows.calendar.invitations import Method, Standing, invitations_due, missing_invitees
from workflows.calendar.meetings import meetings
from workflows.store.models import Delivery

PLAN = "plymouth-send-2023"
RHODRI = "rhodri.penhallow@example.nhs.uk"
SECRETARY = "morwenna.tregear@example.org"
SHIPPED_TEXT = (ROOT / "config" / "cycles.yaml").read_text(encoding="utf-8")


def _six_weeks(engine: Engine, tmp_path: Path, sink: SmtpSink) -> list[CapturedMessage]:
    """The service's tick once a working morning from 20 Aug to 1 Oct 2025 (the 30 September
    board's invitations go on the 20th; its flag window opens on the 16th). The flags sent."""
    start, end = date(2025, 8, 20), date(2025, 10, 1)
    clock = Clock(datetime.combine(start, time(8), tzinfo=UTC))
    runtime = _runtime(engine, tmp_path, sink, clock)
    day = start
    while day <= end:
        for hour in (9, 14):  # twice a day: a re-tick must add nothing
            clock.now = datetime.combine(day, time(hour, 30), tzinfo=LONDON).astimezone(UTC)
            tick(runtime, clock.now)
        day += timedelta(days=1)
    runtime.close()
    return [m for m in sink.messages if "/invitations_missing:" in m.message["X-Chaser-Key"]]


def test_it_tells_the_secretary_once_when_an_advisers_invitation_dies(
    engine: Engine, tmp_path: Path
) -> None:
    refused = "550 5.1.1 <rhodri.penhallow@example.nhs.uk>: mailbox unavailable"
    with SmtpSink(reject={RHODRI: refused}) as sink:
        flags = _six_weeks(engine, tmp_path, sink)
        invited = {
            to
            for m in sink.messages
            if "/invitation:" in m.message["X-Chaser-Key"]
            for to in m.rcpt_tos
        }
    assert invited == ADVISERS - {RHODRI}  # the other two hold theirs
    assert len(flags) == 1
    (flag,) = flags
    assert flag.rcpt_tos == [SECRETARY]
    assert "SIB:2025-09-30" in flag.message["X-Chaser-Key"]
    subject = str(flag.message["Subject"])
    assert "Not invited: 1 adviser" in subject and "30 September 2025" in subject
    text = flag.body("plain")
    assert "Rhodri Penhallow, NHS England SEND adviser <rhodri.penhallow@example.nhs.uk>" in text
    assert "Why: could not be sent: " in text and "mailbox unavailable" in text
    assert "Imogen" not in text and "Beatrix" not in text  # only who is missing
    assert f'chaser outbox retry --plan {PLAN} --by "YOUR NAME"' in text
    assert "/meetings/SIB:2025-09-30" in text
    html = flag.body("html")
    assert "Rhodri Penhallow" in html and "mailbox unavailable" in html
    with Session(engine) as s:
        row = s.exec(select(Delivery).where(col(Delivery.kind) == "invitations_missing")).one()
    # sent on the first tick of the window: 16 Sep 14:30 is 13 days 19½ hours before the board
    assert row.state == "sent"
    assert row.created_at.astimezone(LONDON).date() == date(2025, 9, 16)


def test_it_flags_nothing_when_every_adviser_is_invited(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    flags = _six_weeks(engine, tmp_path, sink)
    assert flags == []
    invited = {
        to
        for m in sink.messages
        if "/invitation:" in m.message["X-Chaser-Key"]
        for to in m.rcpt_tos
    }
    assert invited == ADVISERS


def _with_invitations(block: str) -> str:
    shipped = "    invitations: {ahead_days: 42, flag_days: 14}\n"  # SIB's, in the shipped file
    assert SHIPPED_TEXT.count(shipped) == 1
    return SHIPPED_TEXT.replace(shipped, block)


def test_it_reads_each_groups_invitation_lead_times() -> None:
    config = parse_cycles(_with_invitations("    invitations: {ahead_days: 28, flag_days: 7}\n"))
    sib = next(g for g in config.groups if g.code == "SIB")
    assert (sib.invite_ahead_days, sib.invite_flag_days) == (28, 7)
    ssdg = next(g for g in config.groups if g.code == "SSDG")
    assert (ssdg.invite_ahead_days, ssdg.invite_flag_days) == (42, 14)  # the defaults


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            "    invitations: {ahead_days: 10, flag_days: 14}\n",
            "groups[0].invitations.flag_days: 14 days is more than ahead_days (10)",
        ),
        (
            "    invitations: {ahead_days: six weeks}\n",
            "groups[0].invitations.ahead_days: 'six weeks' is not a whole number",
        ),
        (
            "    invitations: {flag_days: 14, warn_days: 3}\n",
            "groups[0].invitations",
        ),
    ],
)
def test_it_refuses_bad_invitation_lead_times_with_line_and_key(block: str, expected: str) -> None:
    with pytest.raises(CyclesConfigError) as refused:
        parse_cycles(_with_invitations(block))
    message = str(refused.value)
    assert expected in message, message
    line = _with_invitations(block).splitlines().index(block.rstrip("\n")) + 1
    assert f":{line}:" in message, message


def test_it_sends_a_groups_invitations_its_own_lead_time_ahead() -> None:
    config = parse_cycles(_with_invitations("    invitations: {ahead_days: 28, flag_days: 7}\n"))
    sib = next(g for g in config.groups if g.code == "SIB")
    board = next(
        m for m in meetings(config, date(2025, 9, 1), date(2025, 10, 31)) if m.group == "SIB"
    )
    assert board.date == date(2025, 9, 30)
    early = datetime(2025, 9, 1, 9, tzinfo=UTC)  # 29 days before
    assert invitations_due(PLAN, [board], [sib], [], now=early, domain="example.org") == []
    due = invitations_due(
        PLAN, [board], [sib], [], now=early + timedelta(days=2), domain="example.org"
    )
    assert {d.invitee.email for d in due} == ADVISERS


def test_it_says_why_each_adviser_does_not_hold_the_invitation() -> None:
    config = parse_cycles(_with_invitations("    invitations: {ahead_days: 28, flag_days: 7}\n"))
    sib = next(g for g in config.groups if g.code == "SIB")
    board = next(
        m for m in meetings(config, date(2025, 9, 1), date(2025, 10, 31)) if m.group == "SIB"
    )
    standing = {
        "imogen.castellane@example.gov.uk": Standing(Method.REQUEST, "dead", "550 no such user"),
        "rhodri.penhallow@example.nhs.uk": Standing(Method.CANCEL, "sent"),
        "beatrix.oduya@example.gov.uk": Standing(Method.REQUEST, "sent"),
    }
    eight_days = board.starts_at - timedelta(days=8)
    assert missing_invitees(board, sib, standing, now=eight_days) == []  # not yet flagged
    six_days = board.starts_at - timedelta(days=6)
    found = {
        m.invitee.email: (m.why, m.reason)
        for m in missing_invitees(board, sib, standing, now=six_days)
    }
    assert found == {
        "imogen.castellane@example.gov.uk": ("could not be sent", "550 no such user"),
        "rhodri.penhallow@example.nhs.uk": (
            "taken off the list: their invitation was cancelled",
            "",
        ),
    }
    del standing["beatrix.oduya@example.gov.uk"]
    whys = {m.invitee.email: m.why for m in missing_invitees(board, sib, standing, now=six_days)}
    assert whys["beatrix.oduya@example.gov.uk"] == "not yet sent"
    assert missing_invitees(board, sib, standing, now=board.starts_at) == []  # it has begun
