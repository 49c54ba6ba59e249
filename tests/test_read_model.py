"""The flags the pages show are kept in the store (``action_flags``) and stay equal to a full
rebuild of the next digest after every kind of change: an emailed reply, a form post, a review
decision, a re-import, a re-baseline, a milestone met, and the passing of a due date (issue 20).

Each step also checks that the change did change some action's flags, so an equality that held
only because nothing was recomputed would fail. The store is the real Plymouth plan; mail goes
through a real SMTP server (aiosmtpd); the form is posted through the real app.
"""

from __future__ import annotations

import email.policy
import gc
import re
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from chaser.digests import build
from chaser.importing import import_people, import_plan
from chaser.runtime import PlanRuntime, Runtime
from chaser.service import link_for, tick
from chaser.settings import Settings
from chaser.web_feeds import flag_rules, refresh_flags
from chaser.wiring import build_runtime
from integrations.channels.smtp import SmtpChannel
from integrations.web import create_app
from integrations.web.admin_plan import run_import
from tests.clock import Clock
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_CSV, PLAN_XLSX, ROOT
from tests.mail_servers import SmtpSink
from tests.plan_builders import csv_rows, write_csv
from tests.signin import TEST_SIGNIN
from tests.test_replies import TRUSTED, gateway_stamp
from workflows.board.baselines import find_action, read_due, rebaseline
from workflows.board.decisions import DecisionInput, NewAction, record_decisions
from workflows.board.milestones import secretary_marks_done
from workflows.calendar.meetings import Meeting, MeetingStatus, meetings
from workflows.plan.mapping import load_mapping
from workflows.replies.intake import ingest_email
from workflows.replies.review import decide
from workflows.store.models import Action, Person, Plan
from workflows.store.read_models import ReadModelState
from workflows.views.flag_model import Computed, FlagRules, refresh, stored_flags

PLAN = "plymouth-send-2023"
SECRET = "r" * 40
BASE = "http://127.0.0.1:8080"
IMPORTED = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
REQUEST_DAY = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)  # the SIB requests go out
MEETING = "SIB:2025-09-30"
SECRETARY = "Morwenna Tregear <morwenna.tregear@example.org>"

Shown = dict[str, list[tuple[str, str]]]


@dataclass
class World:
    engine: Engine
    runtime: Runtime
    plan: PlanRuntime
    clock: Clock
    sink: SmtpSink
    plan_id: int

    def kept(self) -> Shown:
        """What the pages would show: the kept flags, after the refresh the tick makes."""
        refresh_flags(self.runtime, self.plan, self.clock.now)
        with Session(self.engine) as session:
            found = stored_flags(session, self.plan_id)
        return {ref: [(f.rule, f.reason) for f in flags] for ref, flags in sorted(found.items())}

    def rebuilt(self) -> Shown:
        """The flags of the next digest, built whole from the store, as a digest is sent."""
        meeting = _next_meeting(self.plan, self.clock.now)
        digest = build(self.runtime, self.plan, meeting.group, meeting, self.clock.now)
        return {
            row.ref: [(f.rule, f.reason) for f in row.flags]
            for row in sorted(digest.log, key=lambda r: r.ref)
            if row.flags
        }

    def check(self, before: Shown) -> Shown:
        """The kept flags equal a rebuild, and differ from ``before`` (the change showed)."""
        kept = self.kept()
        assert kept == self.rebuilt()
        assert kept != before, "the change should have changed some action's flags"
        return kept


def _next_meeting(plan: PlanRuntime, now: datetime) -> Meeting:
    assert plan.digests is not None
    today = now.date()
    return next(
        m
        for m in meetings(
            plan.cycles(now), today, today + timedelta(days=63), groups=list(plan.digests.groups)
        )
        if m.status != MeetingStatus.CANCELLED
    )


def _reply(request: EmailMessage, sender: str, body: str, when: datetime, mid: str) -> bytes:
    reply = EmailMessage()
    reply["Authentication-Results"] = gateway_stamp(sender)
    reply["From"] = sender
    reply["To"] = request["From"]
    reply["Subject"] = f"Re: {request['Subject']}"
    reply["Date"] = format_datetime(when)
    reply["Message-ID"] = mid
    reply["In-Reply-To"] = request["Message-ID"]
    reply["References"] = request["Message-ID"]
    reply.set_content(body)
    return reply.as_bytes(policy=email.policy.SMTP)


def _request_to(sink: SmtpSink, address: str) -> EmailMessage:
    return next(
        m.message
        for m in sink.messages
        if address in m.rcpt_tos and m.message["X-Chaser-Key"].startswith(f"{PLAN}/request:")
    )


@pytest.fixture
def world(engine: Engine, tmp_path: Path, sink: SmtpSink) -> Iterator[World]:
    import_people(engine, PEOPLE_CSV, now=IMPORTED)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=IMPORTED)
    clock = Clock(REQUEST_DAY)
    runtime = build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": SECRET, "CHASER_DATA_DIR": str(tmp_path)},
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
    with Session(engine) as session:
        plan_id = session.exec(select(Plan.id).where(Plan.code == PLAN)).one()
    assert plan_id is not None
    yield World(engine, runtime, runtime.plans[PLAN], clock, sink, plan_id)


def test_it_keeps_the_flags_a_full_rebuild_gives_after_every_kind_of_change(
    world: World, tmp_path: Path
) -> None:
    report = tick(world.runtime, world.clock.now)  # the requests go out; the tick refreshes
    with Session(world.engine) as session:
        state = session.get(ReadModelState, world.plan_id)
        assert state is not None and state.meeting_key == MEETING
    start = world.kept()
    assert start == world.rebuilt() and start, "the plan starts with flagged actions"

    # An emailed reply: Freya answers every action of her request.
    when = datetime(2025, 9, 17, 9, 0, tzinfo=UTC)
    world.clock.now = when
    freya = _reply(
        _request_to(world.sink, "freya.odgers@example.nhs.uk"),
        "Freya Odgers <freya.odgers@example.nhs.uk>",
        "7.9: Red - forecast now March 2027, the provider withdrew",
        when,
        "<fo-1@mail.example.nhs.uk>",
    )
    assert ingest_email(world.engine, freya, now=when, receiver=TRUSTED).verdict == "applied"
    after_email = world.check(start)
    assert ("7.9" in after_email and "7.9" not in start) or after_email["7.9"] != start.get("7.9")

    # A form post: Aisha reports 2.5 through her reply form.
    planned = next(
        p for p in report.planned if p.delivery.message.key == f"{PLAN}/request:AP:{MEETING}"
    )
    form_link = "/r/" + link_for(world.runtime, planned.chase).rsplit("/r/", 1)[1]
    app = create_app(
        engine=world.engine,
        secret=SECRET.encode(),
        clock=world.clock,
        form_url=BASE,
        plan_code=PLAN,
        signin=TEST_SIGNIN,
    )
    world.clock.now = datetime(2025, 9, 17, 13, 15, tzinfo=UTC)
    with TestClient(app, base_url=BASE) as client:
        page = client.get(form_link)
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        assert csrf is not None
        saved = client.post(
            f"{form_link}/actions/2.5",
            data={
                "csrf_token": csrf.group(1),
                "intent": "save",
                "status": "Red",
                "narrative": "Panel delayed until July.",
                "forecast-month": "7",
                "forecast-year": "2027",
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
    after_form = world.check(after_email)

    # A review decision: a reply from an address Chaser does not know waits for review; the
    # secretary applies it.
    when = datetime(2025, 9, 18, 10, 0, tzinfo=UTC)
    world.clock.now = when
    stranger = ingest_email(
        world.engine,
        _reply(
            _request_to(world.sink, "aisha.pendleford@example.org"),
            "Someone <someone@elsewhere.example>",
            "2.2: Red - the panel is postponed to December 2027",
            when,
            "<x-1@elsewhere.example>",
        ),
        now=when,
        receiver=TRUSTED,
    )
    assert stranger.verdict == "review" and stranger.reply_id is not None
    assert world.kept() == after_form  # waiting for review changes no flag
    decide(world.engine, stranger.reply_id, apply=True, by=SECRETARY, now=when, plan_code=PLAN)
    after_review = world.check(after_form)

    # A re-baseline: the board agrees a later date for 2.2.
    with Session(world.engine) as session:
        rebaseline(
            session,
            PLAN,
            "2.2",
            read_due("due", "Dec 2027"),
            meeting_key="SIB:2025-08-19",
            reason="Panel moved",
            by=SECRETARY,
            now=when,
        )
        session.commit()
    after_baseline = world.check(after_review)

    # A milestone met: the secretary marks 2.2's first milestone done.
    with Session(world.engine) as session:
        action = find_action(session, PLAN, "2.2")
        assert secretary_marks_done(session, action, 1, by=SECRETARY, now=when) is not None
        session.commit()
    after_milestone = world.check(after_baseline)

    # A re-import: the workbook now gives 1.1 until December 2027 (it was overdue).
    changed = tmp_path / "plan.xlsx"
    shutil.copy(PLAN_XLSX, changed)
    _set_cell(changed, "1.1", "Completion date", "December 2027")
    import_plan(world.engine, changed, mapping=load_mapping(MAPPING), now=when)
    after_import = world.check(after_milestone)
    assert "overdue" in dict(after_milestone["1.1"]) and "overdue" not in dict(
        after_import.get("1.1", [])
    )

    # The passing of due dates: a month later (the next meeting's digest, new days overdue).
    world.clock.now = datetime(2025, 10, 20, 10, 0, tzinfo=UTC)
    world.check(after_import)


def test_it_reads_nothing_of_the_plan_when_the_kept_flags_are_current(world: World) -> None:
    assert refresh_flags(world.runtime, world.plan, world.clock.now) is True
    assert refresh_flags(world.runtime, world.plan, world.clock.now) is False  # nothing changed
    later = world.clock.now + timedelta(hours=3)
    assert refresh_flags(world.runtime, world.plan, later) is False  # the same London day
    assert refresh_flags(world.runtime, world.plan, later + timedelta(days=1)) is True
    assert gc.isenabled()  # paused for the whole plan's refresh only (chaser/collector.py)


def test_it_refreshes_only_the_actions_a_change_touched(world: World) -> None:
    refresh_flags(world.runtime, world.plan, world.clock.now)
    rules = flag_rules(world.runtime, world.plan)
    assert rules is not None
    asked: list[Collection[int] | None] = []

    def compute(session: Session, now: datetime, only: Collection[int] | None) -> Computed:
        asked.append(only)
        return rules.compute(session, now, only)

    with Session(world.engine) as session:
        rebaseline(
            session,
            PLAN,
            "2.2",
            read_due("due", "Dec 2027"),
            meeting_key="SIB:2025-08-19",
            reason="Panel moved",
            by=SECRETARY,
            now=world.clock.now,
        )
        session.commit()
        action = find_action(session, PLAN, "2.2")
    with Session(world.engine) as session:
        assert refresh(
            session,
            world.plan_id,
            world.clock.now,
            FlagRules(meeting_key=rules.meeting_key, compute=compute),
        )
    assert [set(a or ()) for a in asked] == [{action.id}], asked


def _set_cell(path: Path, ref: str, column: str, value: str) -> None:
    """Write ``value`` in ``column`` of the row whose Ref is ``ref``."""
    book = load_workbook(path)
    for sheet in book.worksheets:
        header = None
        for row in sheet.iter_rows():
            texts = [str(c.value or "").strip() for c in row]
            if header is None and "Ref" in texts:
                header = texts
                continue
            if header is not None and str(row[header.index("Ref")].value).strip() == ref:
                row[header.index(column)].value = value
                book.save(path)
                return
    raise AssertionError(f"no row {ref} in {path}")


def test_it_does_not_read_the_plan_again_until_a_change_could_make_a_chase_due(
    world: World,
) -> None:
    first = tick(world.runtime, REQUEST_DAY)
    assert any(p.new and "/request:" in p.delivery.message.key for p in first.planned)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(world.engine, "before_cursor_execute", seen)
    try:
        quiet = tick(world.runtime, REQUEST_DAY + timedelta(minutes=10))
    finally:
        event.remove(world.engine, "before_cursor_execute", seen)
    assert quiet.planned == []  # nothing chased, the plan not read
    assert not [s for s in statements if re.search(r"\bFROM action\b", s)], statements
    assert not [s for s in statements if re.search(r"\bFROM status_change\b", s)]

    # The board sets an action for someone who leads nothing yet: the next tick reads the plan
    # again and asks them.
    with Session(world.engine) as session:
        leads = set(session.exec(select(Action.accountable_id)))
        newcomer = next(
            p
            for p in session.exec(select(Person).order_by(col(Person.code)))
            if p.id not in leads and p.email
        )
        record_decisions(
            session,
            PLAN,
            "SIB:2025-08-19",
            [
                DecisionInput(
                    "Map the short breaks offer.",
                    NewAction(ref="2.20", owner=newcomer.code, due=read_due("due", "Dec 2026")),
                )
            ],
            by=SECRETARY,
            now=REQUEST_DAY + timedelta(minutes=15),
        )
        code = newcomer.code
        session.commit()
    after = tick(world.runtime, REQUEST_DAY + timedelta(minutes=20))
    assert f"{PLAN}/request:{code}:{MEETING}" in [
        p.delivery.message.key for p in after.planned if p.new
    ]


def test_a_plan_uploaded_in_the_browser_refreshes_the_flags_and_the_tick_chases_its_new_action(
    world: World, tmp_path: Path
) -> None:
    """The admin's upload (``run_import``) writes its new rows in bulk, as the command does: the
    read model must still hear of them, or the pages and the tick go on as if nothing changed."""
    tick(world.runtime, REQUEST_DAY)
    before = world.kept()
    with Session(world.engine) as session:
        leads = set(session.exec(select(Action.accountable_id)))
        newcomer = next(
            p
            for p in session.exec(select(Person).order_by(col(Person.code)))
            if p.id not in leads and p.email
        )
    rows = csv_rows(PLAN_CSV)
    first = next(r for r in rows if r["Ref"] == "1.1")
    new = {
        **first,
        "Ref": "1.13",
        "Actions to deliver": "Publish the new local offer pages",
        "Lead": f"{newcomer.role} ({newcomer.code})",
        "Completion date": "June 2025",  # overdue on the request day
    }
    rows.insert(rows.index(first) + 1, new)
    report = run_import(
        world.engine,
        write_csv(tmp_path / "plan-edited.csv", rows),
        source="plan-edited.csv",
        mapping=load_mapping(MAPPING),
        plan_code=PLAN,
        partnership="",
        now=REQUEST_DAY + timedelta(minutes=5),
        dry_run=False,
    )
    assert not report.errors and report.merge is not None and report.merge.created == 1
    after = world.check(before)
    assert "overdue" in dict(after["1.13"])
    chased = tick(world.runtime, REQUEST_DAY + timedelta(minutes=10))
    assert f"{PLAN}/request:{newcomer.code}:{MEETING}" in [
        p.delivery.message.key for p in chased.planned if p.new
    ]
