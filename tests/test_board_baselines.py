"""Re-baselining and milestones (issue 17, parts 2 and 3 of the brief: baselines, milestones),
on the real Plymouth plan in the store: the digest for the SIB meeting of 30 Sep 2025 measures
slippage against the baseline the board last agreed, shows the original beside it and what each
meeting decided; a lead's forecast never moves the baseline; a milestone marked done clears its
missed-milestone flag, whoever marks it (secretary, emailed "milestone 2 done")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.importing import import_people, import_plan
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from workflows.board.baselines import baselines_of, find_action, read_due, rebaseline
from workflows.board.errors import BoardInputError
from workflows.board.milestones import (
    MilestoneDone,
    apply_milestones_done,
    milestones_done_in,
    secretary_marks_done,
)
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import next_meeting
from workflows.digest.build import build_digest
from workflows.digest.contents import Digest, LogRow
from workflows.digest.slippage import SlippageConfig
from workflows.plan.dates import FuzzyDate
from workflows.plan.mapping import load_mapping
from workflows.replies.apply import ActionUpdate, answer_of, apply_reply
from workflows.store.models import (
    Action,
    AuditEvent,
    Milestone,
    Person,
    Plan,
    Reply,
    ReplyVerdict,
    StatusChange,
)

LONDON = ZoneInfo("Europe/London")
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
PLAN = "plymouth-send-2023"
IMPORTED = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
AGREED = datetime(2025, 9, 10, 14, 0, tzinfo=UTC)  # recorded after the SSDG of 9 Sep
NOW = datetime(2025, 9, 24, 10, 0, tzinfo=LONDON)  # the day after the papers deadline
SECRETARY = "Morwenna Tregear <morwenna.tregear@example.org>"


def digest_now(engine: Engine) -> Digest:
    meeting = next_meeting(CYCLES, "SIB", date(2025, 9, 30))
    assert meeting is not None
    with Session(engine) as s:
        return build_digest(
            s,
            plan_code=PLAN,
            cycles=CYCLES,
            group_code="SIB",
            meeting=meeting,
            now=NOW,
            config=SlippageConfig(),
            cycle_groups=("SIB", "SSDG"),
        )


def row(digest: Digest, ref: str) -> LogRow:
    return next(r for r in digest.log if r.ref == ref)


def rules(r: LogRow) -> dict[str, str]:
    return {f.rule: f.reason for f in r.flags}


@pytest.fixture
def plan(engine: Engine) -> Engine:
    import_people(engine, PEOPLE_CSV, now=IMPORTED)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=IMPORTED)
    return engine


def agree(engine: Engine, ref: str, due: str, reason: str, at: datetime = AGREED) -> None:
    with Session(engine) as s:
        rebaseline(
            s,
            PLAN,
            ref,
            read_due("due", due),
            meeting_key="SIB:2025-08-19",
            reason=reason,
            by=SECRETARY,
            now=at,
        )
        s.commit()


def lead_reply(engine: Engine, code: str, when: datetime, body: str = "") -> int:
    with Session(engine) as s:
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        person = s.exec(select(Person).where(Person.code == code)).one()
        stored = Reply(
            plan_id=plan.id,
            channel="email",
            received_at=when,
            person_id=person.id,
            raw=body,
            verdict=str(ReplyVerdict.APPLIED),
        )
        s.add(stored)
        s.commit()
        assert stored.id is not None
        return stored.id


def test_it_measures_slippage_against_the_agreed_baseline_and_shows_the_original(
    plan: Engine,
) -> None:
    before = row(digest_now(plan), "2.2")
    assert "overdue" in rules(before) and before.due == "Jun 2024"
    assert before.original_due == ""

    agree(plan, "2.2", "Mar 2026", "Training moved to the spring term")

    after = row(digest_now(plan), "2.2")
    assert after.due == "Mar 2026"
    assert after.original_due == "Jun 2024"
    assert "overdue" not in rules(after)
    assert after.baseline_note == (
        "agreed by SIB on 19 Aug 2025: Training moved to the spring term"
    )
    with Session(plan) as s:
        action = find_action(s, PLAN, "2.2")
        assert action.id is not None
        kept = baselines_of(s, action.id)
        history = s.exec(
            select(StatusChange)
            .where(StatusChange.action_id == action.id)
            .order_by(col(StatusChange.id))
        ).all()
        audit = s.exec(select(AuditEvent).where(AuditEvent.kind == "rebaselined")).all()
    assert [(b.position, b.due, b.meeting_key) for b in kept] == [
        (0, "Jun 2024", ""),
        (1, "Mar 2026", "SIB:2025-08-19"),
    ]
    assert (
        kept[1].recorded_by == SECRETARY and kept[1].reason == "Training moved to the spring term"
    )
    assert history[-2].kind == "rebaselined"
    assert history[-2].note == (
        "Baseline Jun 2024 → Mar 2026, agreed by SIB:2025-08-19: Training moved to the spring "
        f"term. Recorded by {SECRETARY}."
    )
    assert (history[-1].kind, history[-1].due_after) == ("forecast", date(2026, 3, 31))
    assert [(a.by, a.reason) for a in audit] == [
        (SECRETARY, f"{PLAN} 2.2: Jun 2024 → Mar 2026 (SIB:2025-08-19)")
    ]


def test_it_keeps_every_baseline_in_order_and_the_log_says_what_each_meeting_decided(
    plan: Engine,
) -> None:
    agree(plan, "2.2", "Dec 2025", "Delayed recruitment")
    agree(plan, "2.2", "Mar 2026", "Funding moved", at=datetime(2025, 9, 12, 9, tzinfo=UTC))
    agree(plan, "3.6", "Jun 2026", "Waiting for the new system")
    digest = digest_now(plan)
    assert row(digest, "2.2").original_due == "Jun 2024" and row(digest, "2.2").due == "Mar 2026"
    assert [(d.meeting_key, d.meeting, d.lines) for d in digest.decisions] == [
        (
            "SIB:2025-08-19",
            "SIB on 19 Aug 2025",
            (
                "2.2: baseline Jun 2024 → Dec 2025 (Delayed recruitment)",
                "3.6: baseline Dec 2024 → Jun 2026 (Waiting for the new system)",
                "2.2: baseline Dec 2025 → Mar 2026 (Funding moved)",
            ),
        )
    ]
    with Session(plan) as s:
        action = find_action(s, PLAN, "2.2")
        assert action.id is not None
        assert [b.due for b in baselines_of(s, action.id)] == ["Jun 2024", "Dec 2025", "Mar 2026"]


def test_it_never_lets_a_leads_forecast_move_the_baseline(plan: Engine) -> None:
    agree(plan, "2.2", "Mar 2026", "Training moved to the spring term")
    reply_id = lead_reply(plan, "AP", datetime(2025, 9, 15, 9, tzinfo=UTC))
    with Session(plan) as s:
        stored = s.get(Reply, reply_id)
        assert stored is not None
        apply_reply(
            s,
            stored,
            answer_of([ActionUpdate(ref="2.2", forecast=FuzzyDate.month_of(2026, 9))]),
            now=datetime(2025, 9, 15, 9, tzinfo=UTC),
        )
        s.commit()
        action = find_action(s, PLAN, "2.2")
        assert (action.baseline_due, action.forecast_due) == (date(2026, 3, 31), date(2026, 9, 30))
    slipped = rules(row(digest_now(plan), "2.2"))["forecast_slipped"]
    assert slipped == (
        "Forecast Sep 2026 is 6 months later than the baseline Mar 2026 (agreed again; first "
        "Jun 2024)"
    )


@pytest.mark.parametrize(
    ("field", "call", "words"),
    [
        ("due", lambda s: read_due("due", "next spring"), "'next spring' is not one completion"),
        ("ref", lambda s: find_action(s, PLAN, "99.9"), "there is no action '99.9' in plan"),
        (
            "reason",
            lambda s: rebaseline(
                s, PLAN, "2.2", FuzzyDate.month_of(2026, 3), meeting_key="SIB:2025-08-19",
                reason=" ", by=SECRETARY, now=AGREED,
            ),
            "no reason given",
        ),
        (
            "due",
            lambda s: rebaseline(
                s, PLAN, "2.2", FuzzyDate.month_of(2024, 6), meeting_key="SIB:2025-08-19",
                reason="x", by=SECRETARY, now=AGREED,
            ),
            "Jun 2024 is already action 2.2's baseline",
        ),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_baseline_naming_the_field_and_the_fix(
    plan: Engine, field: str, call: object, words: str
) -> None:
    with Session(plan) as s, pytest.raises(BoardInputError) as raised:
        call(s)  # type: ignore[operator]
    assert raised.value.field == field and words in raised.value.message
    with Session(plan) as s:
        action = find_action(s, PLAN, "2.2")
        assert action.baseline_due == date(2024, 6, 30)


def test_it_clears_the_missed_milestone_flag_once_the_milestone_is_met(plan: Engine) -> None:
    agree(plan, "2.2", "Mar 2026", "Training moved to the spring term")
    flagged = rules(row(digest_now(plan), "2.2"))
    assert flagged["milestone_missed"] == (
        'Milestones 1 "Developed" (Feb 2024) and 2 "Disseminated and training has occurred" '
        "(Jun 2024) missed"
    )
    with Session(plan) as s:
        action = find_action(s, PLAN, "2.2")
        assert secretary_marks_done(s, action, 1, by=SECRETARY, now=NOW) is not None
        assert secretary_marks_done(s, action, 1, by=SECRETARY, now=NOW) is None  # already
        s.commit()
    one_left = rules(row(digest_now(plan), "2.2"))
    assert one_left["milestone_missed"] == (
        'Milestone 2 "Disseminated and training has occurred" (Jun 2024) missed'
    )

    said = "Hello,\n2.2 milestone 2 done: the training ran in July.\n> milestone 9 done"
    reply_id = lead_reply(plan, "AP", datetime(2025, 9, 23, 9, tzinfo=UTC), said)
    found = milestones_done_in(said, ["2.2", "2.5"])
    assert found == (MilestoneDone(2, "2.2"),)
    with Session(plan) as s:
        stored = s.get(Reply, reply_id)
        assert stored is not None
        changes, problems = apply_milestones_done(
            s, stored, found, refs_asked=["2.2", "2.5"], now=NOW
        )
        s.commit()
    assert problems == [] and len(changes) == 1
    assert "milestone_missed" not in rules(row(digest_now(plan), "2.2"))
    with Session(plan) as s:
        action = find_action(s, PLAN, "2.2")
        done = s.exec(
            select(StatusChange)
            .where(StatusChange.action_id == action.id, StatusChange.kind == "milestone_done")
            .order_by(col(StatusChange.id))
        ).all()
        person = s.exec(select(Person).where(Person.code == "AP")).one()
        assert all(
            m.complete for m in s.exec(select(Milestone).where(Milestone.action_id == action.id))
        )
        audit = s.exec(select(AuditEvent).where(AuditEvent.kind == "milestone_done")).all()
    assert [(c.channel, c.person_id, c.reply_id, c.note) for c in done] == [
        ("admin", None, None, f"Milestone 1 (Developed) marked done by {SECRETARY}."),
        (
            "email",
            person.id,
            reply_id,
            "Milestone 2 (Disseminated and training has occurred) marked done.",
        ),
    ]
    assert [(a.by, a.reason) for a in audit] == [(SECRETARY, "action 2.2 milestone 1")]


def test_it_names_what_it_could_not_apply_from_an_emailed_milestone(plan: Engine) -> None:
    reply_id = lead_reply(plan, "AP", datetime(2025, 9, 23, 9, tzinfo=UTC), "milestone 2 done")
    with Session(plan) as s:
        stored = s.get(Reply, reply_id)
        assert stored is not None
        found = milestones_done_in("milestone 2 done\nmilestone 7 complete", ["2.5"])
        changes, problems = apply_milestones_done(s, stored, found, refs_asked=["2.5"], now=NOW)
        unsure, why = apply_milestones_done(
            s, stored, (MilestoneDone(2),), refs_asked=["2.2", "2.5"], now=NOW
        )
    assert len(changes) == 1 and unsure == []
    assert problems == [
        "milestone: action 2.5 has no milestone 7. Expected one of its milestones by number "
        "(it has: 1, 2, 3); check the number on the action page."
    ]
    assert why == [
        "milestone 2 done, but the reply names no action and the request asked about 2: say "
        "which action (e.g. '2.5 milestone 2 done')"
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("milestone 2 done", [(2, None)]),
        ("Milestones 1 and 3 are complete.", [(1, None), (3, None)]),
        ("We have met milestone 2 this month", [(2, None)]),
        ("3.1: milestone 1 completed", [(1, "3.1")]),
        ("Milestone #3 has been achieved", [(3, None)]),
        ("milestone 2 is not done yet", []),
        ("milestone 2 nearly done", []),
        ("> milestone 4 done", []),
        ("Amber, forecast March 2026", []),
    ],
)
def test_it_reads_milestones_done_in_an_email_as_written(
    text: str, found: list[tuple[int, str | None]]
) -> None:
    assert [(m.position, m.ref) for m in milestones_done_in(text, ["3.1", "2.5"])] == found


def test_it_shows_no_original_baseline_and_no_decisions_when_nothing_was_agreed(
    plan: Engine,
) -> None:
    digest = digest_now(plan)
    assert digest.decisions == ()
    assert all(r.original_due == "" and r.baseline_note == "" for r in digest.log)
    with Session(plan) as s:
        assert s.exec(select(Action).where(Action.ref == "2.2")).one().baseline_due == date(
            2024, 6, 30
        )
