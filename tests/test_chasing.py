"""The chasing rules over the real Plymouth plan and cycles, any day simulated (pure)."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from chaser.importing import import_people, import_plan
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from workflows.calendar.cycles import CyclesConfig, load_cycles
from workflows.chasing.chases import Chase, Step
from workflows.chasing.config import ChasingConfig, load_chasing
from workflows.chasing.rules import ActionInfo, ChaseState, due_chases, nudge_days
from workflows.chasing.state import load_chase_state
from workflows.plan.mapping import load_mapping
from workflows.store.db import make_engine, upgrade

#: The demo plan's code, which begins every outbox key.
PLAN = "plymouth-send-2023"

LONDON = ZoneInfo("Europe/London")
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
CHASING = load_chasing(ROOT / "config" / "chasing.yaml")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> ChaseState:
    path: Path = tmp_path_factory.mktemp("chasing") / "plan.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    import_people(engine, PEOPLE_CSV, now=NOW)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    with Session(engine) as session:
        return load_chase_state(session, PLAN)


def at(day: date, clock: time = time(9, 30)) -> datetime:
    return datetime.combine(day, clock, tzinfo=LONDON)


def days(start: date, end: date) -> Iterator[date]:
    while start < end:
        yield start
        start += timedelta(days=1)


def simulate(
    state: ChaseState,
    start: date,
    end: date,
    *,
    cycles: CyclesConfig = CYCLES,
    config: ChasingConfig = CHASING,
) -> dict[str, tuple[date, Chase]]:
    """Run the rules every working hour of every day; keep each key's first day (the outbox).

    What the outbox holds is fed back as the store would give it (``load_chase_state`` reads
    the actions each nudge already listed)."""
    first: dict[str, tuple[date, Chase]] = {}
    for day in days(start, end):
        for hour in (8, 9, 12, 17, 20):
            for chase in due_chases(state, cycles, config, at(day, time(hour, 15))):
                if chase.key in first:
                    continue
                first[chase.key] = (day, chase)
                if chase.step.is_nudge:
                    rest = chase.key.partition("/")[2]
                    listed = {(a.ref, "", day, rest) for a in chase.actions}
                    state = dataclasses.replace(state, nudged=state.nudged | listed)
    return first


def per_day(sent: dict[str, tuple[date, Chase]]) -> dict[date, Counter[str]]:
    out: dict[date, Counter[str]] = defaultdict(Counter)
    for day, chase in sent.values():
        out[day][str(chase.step)] += 1
    return dict(out)


LEADS = ["AG", "AP", "DH", "FG", "FO", "HP", "JB", "JF", "LE", "MM", "ND", "TC", "TL"]


def test_six_weeks_of_plymouth_send_exactly_the_ladder_on_the_expected_days(
    state: ChaseState,
) -> None:
    sent = simulate(state, date(2025, 9, 10), date(2025, 10, 22))
    # Six weeks from the day after SSDG's 9 Sep meeting.
    # SIB meets Tue 30 Sep (papers Tue 23 Sep); SSDG meets Tue 21 Oct (papers Tue 14 Oct).
    assert per_day(sent) == {
        date(2025, 9, 16): Counter(request=13),  # 5 working days before 23 Sep
        date(2025, 9, 19): Counter(reminder=13),  # 2 working days before
        date(2025, 9, 23): Counter(final_reminder=13),  # on the deadline
        date(2025, 9, 24): Counter(escalation=7),  # the day after: one per officer (6) + secretary
        date(2025, 10, 7): Counter(request=13),  # SSDG, 5 working days before 14 Oct
        date(2025, 10, 10): Counter(reminder=13),
        date(2025, 10, 14): Counter(final_reminder=13),
        date(2025, 10, 15): Counter(escalation=7),
    }
    requests = [c for _, c in sent.values() if c.step is Step.REQUEST]
    assert sorted({c.lead.code for c in requests}) == LEADS
    sib = {c.lead.code: c for c in requests if c.meeting_key == "SIB:2025-09-30"}
    assert len(sib["DH"].actions) == 15 and len(sib["JF"].actions) == 1
    assert sib["AP"].papers_deadline == date(2025, 9, 23)
    assert sib["AP"].to.email == "aisha.pendleford@example.org"


def test_escalations_go_to_each_senior_responsible_officer_with_the_secretary_copied(
    state: ChaseState,
) -> None:
    sent = simulate(state, date(2025, 9, 24), date(2025, 9, 25))
    escalations = {c.to.code: c for _, c in sent.values() if c.step is Step.ESCALATION}
    tc = {code for code, c in escalations.items() if "TC" in [w.code for w, _ in c.leads]}
    assert sorted(tc) == ["RH", "SS"]  # TC's actions sit in areas 6 (RH) and 7 (SS)
    ss = dict((w.code, [a.ref for a in actions]) for w, actions in escalations["SS"].leads)
    assert ss["TC"] == ["7.5", "7.6", "7.10", "7.14", "7.15"]
    assert [w.code for w in escalations["SS"].cc] == ["secretary"]
    assert escalations["SS"].cc[0].email.endswith("@example.org")


def test_it_sends_an_officer_one_escalation_listing_each_of_their_silent_leads(
    state: ChaseState,
) -> None:
    sent = simulate(state, date(2025, 9, 24), date(2025, 9, 30))
    escalations = [c for _, c in sent.values() if c.step is Step.ESCALATION]
    # One per officer (or the secretary) for the meeting, however many leads are silent.
    assert Counter(c.to.code for c in escalations) == Counter(
        {"AG": 1, "AP": 1, "DH": 1, "ND": 1, "RH": 1, "SS": 1, "secretary": 1}
    )
    rh = next(c for c in escalations if c.to.code == "RH")
    assert rh.key == f"{PLAN}/escalation:RH:SIB:2025-09-30"
    assert [(w.code, [a.ref for a in acts]) for w, acts in rh.leads] == [
        ("AP", ["6.6", "6.10", "6.11"]),
        ("FG", ["6.9"]),
        ("HP", ["6.7"]),
        ("JB", ["6.8", "6.12"]),
        ("TC", ["6.1", "6.2", "6.3", "6.4", "6.5"]),
    ]
    # A lead who is their own area's officer (DH for area 1) escalates to the secretary.
    secretary = next(c for c in escalations if c.to.code == "secretary")
    assert "DH" in [w.code for w, _ in secretary.leads] and secretary.cc == ()


def test_it_does_not_escalate_again_after_an_upgrade_from_per_lead_escalation_keys(
    state: ChaseState,
) -> None:
    # Before the upgrade, this morning's tick sent RH one escalation per lead (old keys).
    old = frozenset(("SIB:2025-09-30", lead, "RH") for lead in ("AP", "FG", "HP", "JB", "TC")) | {
        ("SIB:2025-09-30", "DH", "secretary")
    }
    sent = simulate(dataclasses.replace(state, escalated=old), date(2025, 9, 24), date(2025, 9, 26))
    escalations = {c.to.code: c for _, c in sent.values() if c.step is Step.ESCALATION}
    assert "RH" not in escalations  # every silent lead of RH's already escalated
    secretary = escalations["secretary"]
    assert "DH" not in [w.code for w, _ in secretary.leads]  # DH was, the others were not
    assert [w.code for w, _ in secretary.leads] == ["AP", "AG", "ND"]


def test_it_does_not_remind_or_escalate_for_actions_answered_by_a_reply_awaiting_review(
    state: ChaseState,
) -> None:
    replied = at(date(2025, 9, 17), time(14, 0)).astimezone(UTC)
    last_cycle = at(date(2025, 9, 5)).astimezone(UTC)

    def waiting(a: ActionInfo) -> ActionInfo:
        if a.lead_code == "TC":
            return dataclasses.replace(a, awaiting_review=replied)  # all TC's actions
        if a.lead_code == "LE" and a.ref == "5.3":
            return dataclasses.replace(a, awaiting_review=replied)
        if a.lead_code == "JF":
            return dataclasses.replace(a, awaiting_review=last_cycle)  # an old reply
        return a

    changed = dataclasses.replace(state, actions=tuple(waiting(a) for a in state.actions))
    sent = simulate(changed, date(2025, 9, 10), date(2025, 9, 25))
    steps = defaultdict(list)
    for _, c in sent.values():
        for who, _actions in c.leads:
            steps[who.code].append(c.step)
    assert steps["TC"] == [Step.REQUEST]  # asked before the reply; then left alone
    assert sorted(steps["LE"]) == sorted(
        [Step.REQUEST, Step.REMINDER, Step.FINAL_REMINDER, Step.ESCALATION]
    )
    escalated = [
        a.ref
        for _, c in sent.values()
        if c.step is Step.ESCALATION
        for w, actions in c.leads
        if w.code == "LE"
        for a in actions
    ]
    assert escalated == ["5.4"]  # 5.3 was answered, awaiting review
    assert Step.ESCALATION in steps["JF"]  # a reply from the previous cycle does not count


def test_a_lead_with_six_in_scope_actions_gets_one_message_per_step(state: ChaseState) -> None:
    # Four of TC's ten actions are complete and embedded: never chased again.
    embedded = {"7.5", "7.6", "7.14", "7.15"}
    actions = tuple(
        dataclasses.replace(a, embedded=True) if a.ref in embedded else a for a in state.actions
    )
    sent = simulate(
        dataclasses.replace(state, actions=actions), date(2025, 9, 10), date(2025, 9, 24)
    )
    tc = sorted(((day, c) for day, c in sent.values() if c.lead.code == "TC"), key=lambda x: x[0])
    assert [(day, c.step) for day, c in tc] == [
        (date(2025, 9, 16), Step.REQUEST),
        (date(2025, 9, 19), Step.REMINDER),
        (date(2025, 9, 23), Step.FINAL_REMINDER),
    ]
    for _, chase in tc:
        assert [a.ref for a in chase.actions] == ["6.1", "6.2", "6.3", "6.4", "6.5", "7.10"]


def test_no_further_chase_once_a_lead_has_updated_every_action_this_cycle(
    state: ChaseState,
) -> None:
    replied = at(date(2025, 9, 17), time(14, 0)).astimezone(UTC)
    before_cycle = at(date(2025, 9, 5)).astimezone(UTC)

    def update(a: ActionInfo) -> ActionInfo:
        if a.lead_code == "FO":
            return dataclasses.replace(a, last_update=replied)  # all four of FO's actions
        if a.lead_code == "LE" and a.ref == "5.3":
            return dataclasses.replace(a, last_update=replied)  # one of LE's two
        if a.lead_code == "JF":
            return dataclasses.replace(a, last_update=before_cycle)  # before the last meeting
        return a

    changed = dataclasses.replace(state, actions=tuple(update(a) for a in state.actions))
    sent = simulate(changed, date(2025, 9, 10), date(2025, 9, 25))
    steps = defaultdict(list)
    for _, c in sent.values():
        for who, _actions in c.leads:
            steps[who.code].append(c.step)
    assert steps["FO"] == [Step.REQUEST]  # asked once; answered; left alone
    assert sorted(steps["LE"]) == sorted(
        [Step.REQUEST, Step.REMINDER, Step.FINAL_REMINDER, Step.ESCALATION]
    )
    le_escalation = next(
        acts
        for _, c in sent.values()
        if c.step == "escalation"
        for w, acts in c.leads
        if w.code == "LE"
    )
    assert [a.ref for a in le_escalation] == ["5.4"]  # only the silent action
    assert Step.REMINDER in steps["JF"]  # an update from the previous cycle does not count


def test_someone_away_is_chased_through_their_delegate(state: ChaseState) -> None:
    people = dict(state.people)
    people["HP"] = dataclasses.replace(people["HP"], away_until=date(2025, 9, 30))
    sent = simulate(dataclasses.replace(state, people=people), date(2025, 9, 16), date(2025, 9, 17))
    hp = next(c for _, c in sent.values() if c.lead.code == "HP")
    assert (hp.to.code, hp.to.name, hp.delegated) == ("KR", "Kit Rundle", True)
    assert (
        hp.key == f"{PLAN}/request:HP:SIB:2025-09-30"
    )  # keyed by the lead: no second message later


def test_withdrawn_and_embedded_actions_are_never_chased(state: ChaseState) -> None:
    actions = tuple(
        dataclasses.replace(a, withdrawn=True) if a.lead_code == "JF" else a for a in state.actions
    )
    sent = simulate(
        dataclasses.replace(state, actions=actions), date(2025, 9, 16), date(2025, 9, 17)
    )
    assert "JF" not in {c.lead.code for _, c in sent.values()}


@pytest.mark.parametrize(
    "when",
    [
        datetime(2025, 9, 16, 8, 59, tzinfo=LONDON),  # before the send window
        datetime(2025, 9, 16, 17, 30, tzinfo=LONDON),  # after it
        datetime(2025, 9, 20, 10, 0, tzinfo=LONDON),  # a Saturday
        datetime(2025, 8, 25, 10, 0, tzinfo=LONDON),  # the summer bank holiday
    ],
)
def test_nothing_goes_out_outside_the_send_window(state: ChaseState, when: datetime) -> None:
    assert due_chases(state, CYCLES, CHASING, when) == []


def test_a_day_the_service_missed_is_caught_up_the_next_day(state: ChaseState) -> None:
    sent = simulate(state, date(2025, 9, 17), date(2025, 9, 18))  # 16 Sep was missed
    assert per_day(sent) == {date(2025, 9, 17): Counter(request=13)}


def test_it_keeps_london_office_hours_across_the_october_clock_change(state: ChaseState) -> None:
    # 09:00 London is 08:00 UTC in summer and 09:00 UTC in winter.
    assert due_chases(state, CYCLES, CHASING, datetime(2025, 10, 28, 8, 30, tzinfo=UTC)) == []
    assert due_chases(state, CYCLES, CHASING, datetime(2025, 10, 28, 9, 0, tzinfo=UTC)) != []


def test_it_nudges_each_action_once_per_window_in_one_message_per_lead_and_day(
    state: ChaseState,
) -> None:
    due = date(2025, 11, 30)  # a Sunday: "on the due date" is Friday 28th
    assert nudge_days(CHASING, due) == [
        (Step.NUDGE_BEFORE, date(2025, 11, 14), date(2025, 11, 27)),
        (Step.NUDGE_DUE, date(2025, 11, 28), date(2025, 11, 30)),
        (Step.NUDGE_OVERDUE, date(2025, 12, 1), date(2025, 12, 3)),
    ]
    ml = [a for a in state.actions if a.lead_code == "FO"]
    soon = {a.id for a in ml[:3]}
    actions = tuple(
        dataclasses.replace(a, due=due, due_display="Nov 2025") if a.id in soon else a
        for a in state.actions
    )
    sent = simulate(
        dataclasses.replace(state, actions=actions), date(2025, 11, 10), date(2025, 12, 8)
    )
    nudges = sorted((day, c.key, len(c.actions)) for day, c in sent.values() if c.step.is_nudge)
    assert nudges == [
        (date(2025, 11, 14), f"{PLAN}/nudge:FO:2025-11-14", 3),
        (date(2025, 11, 28), f"{PLAN}/nudge:FO:2025-11-28", 3),
        (date(2025, 12, 1), f"{PLAN}/nudge:FO:2025-12-01", 3),
    ]
    steps = [c.step for _, c in sorted(sent.values(), key=lambda x: x[0]) if c.step.is_nudge]
    assert steps == [Step.NUDGE_BEFORE, Step.NUDGE_DUE, Step.NUDGE_OVERDUE]


def test_complete_actions_get_no_nudges(state: ChaseState) -> None:
    due = date(2025, 11, 30)
    actions = tuple(
        dataclasses.replace(a, due=due, status="complete") if a.lead_code == "FO" else a
        for a in state.actions
    )
    sent = simulate(
        dataclasses.replace(state, actions=actions), date(2025, 11, 10), date(2025, 12, 8)
    )
    assert not [c for _, c in sent.values() if c.step.is_nudge]


def test_it_refuses_a_naive_now(state: ChaseState) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_chases(state, CYCLES, CHASING, datetime(2025, 9, 16, 10, 0))


def _fo_due(state: ChaseState, dues: list[date]) -> tuple[ChaseState, list[str]]:
    """The state with FO's first actions due on ``dues`` and no other action due at all."""
    fo = [a for a in state.actions if a.lead_code == "FO"][: len(dues)]
    due_of = {a.id: d for a, d in zip(fo, dues, strict=True)}
    actions = tuple(dataclasses.replace(a, due=due_of.get(a.id)) for a in state.actions)
    return dataclasses.replace(state, actions=actions), [a.ref for a in fo]


def _nudges_sent(sent: dict[str, tuple[date, Chase]]) -> list[tuple[date, str, list[str]]]:
    """(day, key, [ref:kind, …]) of each nudge, in order."""
    return sorted(
        (day, c.key, [f"{a.ref}:{a.nudge}" for a in c.actions])
        for day, c in sent.values()
        if c.step.is_nudge
    )


def test_it_sends_one_nudge_a_day_listing_each_kind_and_each_action_once_per_window(
    state: ChaseState,
) -> None:
    # A is due 30 Nov (due soon from Fri 14 Nov), B was due Thu 13 Nov (overdue from 14 Nov),
    # C is due Mon 1 Dec (due soon from Mon 17 Nov).
    nudging, (a, b, c) = _fo_due(state, [date(2025, 11, 30), date(2025, 11, 13), date(2025, 12, 1)])
    sent = simulate(nudging, date(2025, 11, 14), date(2025, 12, 9))
    assert _nudges_sent(sent) == [
        (
            date(2025, 11, 14),
            f"{PLAN}/nudge:FO:2025-11-14",
            [f"{b}:nudge_overdue", f"{a}:nudge_before"],
        ),
        (date(2025, 11, 17), f"{PLAN}/nudge:FO:2025-11-17", [f"{c}:nudge_before"]),
        (date(2025, 11, 28), f"{PLAN}/nudge:FO:2025-11-28", [f"{a}:nudge_due"]),
        (
            date(2025, 12, 1),
            f"{PLAN}/nudge:FO:2025-12-01",
            [f"{a}:nudge_overdue", f"{c}:nudge_due"],
        ),
        (date(2025, 12, 2), f"{PLAN}/nudge:FO:2025-12-02", [f"{c}:nudge_overdue"]),
    ]
    mixed = sent[f"{PLAN}/nudge:FO:2025-11-14"][1]
    assert mixed.step is Step.NUDGE and mixed.to.code == "FO" and not mixed.delegated
    assert sent[f"{PLAN}/nudge:FO:2025-11-17"][1].step is Step.NUDGE_BEFORE


def test_it_catches_up_a_missed_day_of_nudges_in_one_message(state: ChaseState) -> None:
    nudging, (a, b, c) = _fo_due(state, [date(2025, 11, 30), date(2025, 11, 13), date(2025, 12, 1)])
    sent = simulate(nudging, date(2025, 11, 17), date(2025, 11, 27))  # 14 Nov was missed
    assert _nudges_sent(sent) == [
        (
            date(2025, 11, 17),
            f"{PLAN}/nudge:FO:2025-11-17",
            [f"{b}:nudge_overdue", f"{a}:nudge_before", f"{c}:nudge_before"],
        ),
    ]


def test_it_sends_no_second_nudge_after_an_upgrade_from_per_kind_keys(state: ChaseState) -> None:
    nudging, (a, b, c) = _fo_due(state, [date(2025, 11, 30), date(2025, 11, 13), date(2025, 12, 1)])
    # This morning the old code sent FO two nudges, one per kind, keyed by the window's start.
    old = frozenset(
        {
            (a, "nudge_before", date(2025, 11, 14), "nudge_before:FO:2025-11-14"),
            (b, "nudge_overdue", date(2025, 11, 14), "nudge_overdue:FO:2025-11-14"),
        }
    )
    sent = simulate(
        dataclasses.replace(nudging, nudged=old), date(2025, 11, 14), date(2025, 11, 29)
    )
    assert _nudges_sent(sent) == [
        (date(2025, 11, 17), f"{PLAN}/nudge:FO:2025-11-17", [f"{c}:nudge_before"]),
        # an old nudge of one kind does not stand for the next window's
        (date(2025, 11, 28), f"{PLAN}/nudge:FO:2025-11-28", [f"{a}:nudge_due"]),
    ]


def test_a_delegate_covering_two_away_leads_gets_one_nudge_a_day(state: ChaseState) -> None:
    fo = next(a for a in state.actions if a.lead_code == "FO")
    hp = next(a for a in state.actions if a.lead_code == "HP")
    due = {fo.id: date(2025, 11, 30), hp.id: date(2025, 11, 13)}
    actions = tuple(dataclasses.replace(a, due=due.get(a.id)) for a in state.actions)
    people = dict(state.people)
    for code in ("FO", "HP"):
        people[code] = dataclasses.replace(
            people[code], away_until=date(2025, 11, 14), delegate_code="KR"
        )
    away = dataclasses.replace(state, actions=actions, people=people)
    sent = simulate(away, date(2025, 11, 14), date(2025, 11, 18))
    # On their return FO and HP are not nudged again about what KR was told.
    assert _nudges_sent(sent) == [
        (
            date(2025, 11, 14),
            f"{PLAN}/nudge:KR:2025-11-14",
            [f"{hp.ref}:nudge_overdue", f"{fo.ref}:nudge_before"],
        )
    ]
    kr = sent[f"{PLAN}/nudge:KR:2025-11-14"][1]
    assert kr.delegated and kr.to.code == "KR"
    assert [(w.code, [x.ref for x in mine]) for w, mine in kr.leads] == [
        ("HP", [hp.ref]),
        ("FO", [fo.ref]),
    ]
