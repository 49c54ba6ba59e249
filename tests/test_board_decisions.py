"""What the board decided (issue 17): after the SIB of 19 Aug 2025 the secretary records who
attended, its resolutions and the new action one of them set. The new action joins the plan
(owner, due date, its ref in the plan's scheme, tagged with the meeting), is chased in the next
cycle's requests like any other, and the next SIB's digest lists it and what the meeting
decided. Bad input, on the page's CSV or in the record itself, names the row, field and fix."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.importing import import_people, import_plan
from chaser.service import tick
from chaser.settings import Settings
from chaser.wiring import build_runtime
from tests.clock import Clock
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from workflows.board.baselines import read_due
from workflows.board.decisions import (
    DecisionInput,
    NewAction,
    read_decisions_csv,
    record_attendance,
    record_decisions,
)
from workflows.board.errors import BoardInputError
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import next_meeting
from workflows.digest.build import build_digest
from workflows.digest.slippage import SlippageConfig
from workflows.plan.mapping import load_mapping
from workflows.store.board_models import Decision, MeetingRecord
from workflows.store.models import Action, AuditEvent, Person, StatusChange

PLAN = "plymouth-send-2023"
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
IMPORTED = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
AFTER_THE_BOARD = datetime(2025, 8, 20, 10, 0, tzinfo=UTC)
REQUEST_TIME = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)  # the SIB requests go out
DIGEST_TIME = datetime(2025, 9, 24, 9, 0, tzinfo=UTC)
SECRETARY = "Morwenna Tregear <morwenna.tregear@example.org>"
MEETING = "SIB:2025-08-19"
CSV_FILE = (
    "decision,ref,title,owner,due\n"
    "The board noted the action and impact log.,,,,\n"
    '"Publish the short breaks offer, with parents, by December.",2.20,'
    "Publish the short breaks offer,AP,Dec 2025\n"
)


@pytest.fixture
def plan(engine: Engine) -> Engine:
    import_people(engine, PEOPLE_CSV, now=IMPORTED)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=IMPORTED)
    return engine


def record(engine: Engine, decisions: list[DecisionInput]) -> None:
    with Session(engine) as s:
        record_attendance(
            s, PLAN, MEETING, present=["Morwenna Tregear", "Aisha Pendleford"],
            apologies=["Tobias Carnsew"], by=SECRETARY, now=AFTER_THE_BOARD,
        )  # fmt: skip
        record_decisions(s, PLAN, MEETING, decisions, by=SECRETARY, now=AFTER_THE_BOARD)
        s.commit()


def test_it_chases_an_action_the_board_set_and_the_next_digest_shows_it(
    plan: Engine, tmp_path: Path
) -> None:
    with Session(plan) as s:
        assert s.exec(select(Action).where(Action.ref == "2.20")).first() is None
    record(plan, read_decisions_csv(CSV_FILE))

    with Session(plan) as s:
        new = s.exec(select(Action).where(Action.ref == "2.20")).one()
        ap = s.exec(select(Person).where(Person.code == "AP")).one()
        created = s.exec(select(StatusChange).where(StatusChange.action_id == new.id)).one()
        decisions = s.exec(select(Decision).order_by(col(Decision.position))).all()
        attended = s.exec(select(MeetingRecord)).one()
        audit = [(a.kind, a.by) for a in s.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]
    assert (new.title, new.accountable_id, new.baseline_due) == (
        "Publish the short breaks offer",
        ap.id,
        date(2025, 12, 31),
    )
    assert [(d.meeting_key, d.action_id) for d in decisions if d.action_id] == [(MEETING, new.id)]
    assert (created.kind, created.channel) == ("created", "admin")
    assert created.note == f"Set by SIB on 19 Aug 2025; added to the plan by {SECRETARY}."
    assert [(d.position, d.action_id is not None) for d in decisions] == [(1, False), (2, True)]
    assert (attended.present, attended.apologies) == (
        ["Morwenna Tregear", "Aisha Pendleford"],
        ["Tobias Carnsew"],
    )
    assert audit == [("attendance_recorded", SECRETARY), ("decisions_recorded", SECRETARY)]

    clock = Clock(REQUEST_TIME)
    runtime = build_runtime(
        Settings.from_env(
            {"CHASER_SECRET_KEY": "d" * 40, "CHASER_DATA_DIR": str(tmp_path)},
            config_dir=ROOT / "config",
        ),
        plan,
        channels={},
        clock=clock,
        sleep=clock.advance,
    )
    report = tick(runtime, clock.now, dispatch=False)
    runtime.close()
    request = next(
        p.delivery for p in report.planned
        if p.delivery.message.key == f"{PLAN}/request:AP:SIB:2025-09-30"
    )  # fmt: skip
    assert "2.20" in request.action_refs

    meeting = next_meeting(CYCLES, "SIB", date(2025, 9, 30))
    assert meeting is not None
    with Session(plan) as s:
        digest = build_digest(
            s, plan_code=PLAN, cycles=CYCLES, group_code="SIB", meeting=meeting,
            now=DIGEST_TIME, config=SlippageConfig(), cycle_groups=("SIB", "SSDG"),
        )  # fmt: skip
    row = next(r for r in digest.log if r.ref == "2.20")
    assert (row.lead_code, row.due, row.title) == (
        "AP",
        "Dec 2025",
        "Publish the short breaks offer",
    )
    assert [(d.meeting_key, d.meeting, d.lines) for d in digest.decisions] == [
        (
            MEETING,
            "SIB on 19 Aug 2025",
            (
                "Decision 1: The board noted the action and impact log.",
                "Decision 2: Publish the short breaks offer, with parents, by December. "
                "(new action 2.20)",
            ),
        )
    ]


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        (NewAction("2.2", "AP", read_due("due", "Dec 2025")), "ref",
         "the plan already has an action '2.2'"),
        (NewAction("A-7", "AP", read_due("due", "Dec 2025")), "ref",
         "'A-7' is not in the plan's own scheme"),
        (NewAction("42.1", "AP", read_due("due", "Dec 2025")), "ref", "'42.1' names no area"),
        (NewAction("2.20", "ZZ", read_due("due", "Dec 2025")), "owner",
         "no one has the code 'ZZ'"),
    ],
)  # fmt: skip
def test_it_refuses_a_new_action_it_cannot_place_and_records_nothing(
    plan: Engine, item: NewAction, field: str, words: str
) -> None:
    with Session(plan) as s, pytest.raises(BoardInputError) as raised:
        record_decisions(
            s, PLAN, MEETING, [DecisionInput("Noted.", None), DecisionInput("Do it.", item)],
            by=SECRETARY, now=AFTER_THE_BOARD,
        )  # fmt: skip
    assert raised.value.field == field and words in raised.value.message
    with Session(plan) as s:
        assert s.exec(select(Decision)).all() == []
        assert s.exec(select(Action).where(Action.ref == "2.20")).first() is None


def test_it_names_every_bad_cell_of_a_decisions_file() -> None:
    with pytest.raises(BoardInputError) as raised:
        read_decisions_csv(
            "decision,ref,title,owner,due\n,,,,\n,2.21,,,\nAgreed.,2.22,,AP,next spring\n"
        )
    assert raised.value.message == (
        "row 3, column decision: empty; write the resolution; "
        "row 3, column owner: empty; a decision that sets an action needs its ref, owner and "
        "due date; "
        "row 3, column due: empty; a decision that sets an action needs its ref, owner and due "
        "date; "
        "row 4, column due: 'next spring' is not one completion date. Expected a date such as "
        "'Dec 2024', '31/12/2024' or '2024-12-31'; write the date the board agreed.. "
        "Nothing was recorded."
    )
    with pytest.raises(BoardInputError) as header:
        read_decisions_csv("what,when\nx,y\n")
    assert "no decision column in the header row (what, when)" in header.value.message


def test_it_keeps_an_action_the_board_set_when_the_plan_is_imported_again(plan: Engine) -> None:
    record(plan, read_decisions_csv(CSV_FILE))
    outcome = import_plan(plan, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW_AGAIN)
    assert outcome.merge is not None and outcome.merge.withdrawn == 0  # the workbook never had 2.20
    with Session(plan) as s:
        new = s.exec(select(Action).where(Action.ref == "2.20")).one()
    assert not new.withdrawn


NOW_AGAIN = datetime(2025, 9, 1, 9, tzinfo=UTC)
