"""The digest for the SIB meeting of 30 Sep 2025, over the real Plymouth plan, after a simulated
cycle of scripted replies: which actions are flagged and why, value by value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import import_people, import_plan
from notifications.digest_render import status_labels
from tests.conftest import MAPPING, PEOPLE_CSV, PLAN_XLSX, ROOT
from workflows.calendar.cycles import load_cycles
from workflows.calendar.meetings import Meeting, next_meeting
from workflows.digest.build import build_digest
from workflows.digest.contents import DeadLetter, Digest, Flag, Invitee, LogRow, RiskLine, Severity
from workflows.digest.slippage import SlippageConfig
from workflows.plan.dates import FuzzyDate
from workflows.plan.mapping import load_mapping
from workflows.replies.apply import ActionUpdate, answer_of, apply_reply
from workflows.store.models import (
    Action,
    ChangeKind,
    Channel,
    Delivery,
    Person,
    Plan,
    Reply,
    ReplyVerdict,
    Risk,
    StatusChange,
)
from workflows.views.action_history import action_history

LONDON = ZoneInfo("Europe/London")
CYCLES = load_cycles(ROOT / "config" / "cycles.yaml")
PLAN = "plymouth-send-2023"
IMPORTED = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 9, 24, 10, 0, tzinfo=LONDON)  # the day after the papers deadline
#: The lead's words, with everything a renderer must escape: carried verbatim.
AP_WORDS = 'Delayed: the <b>SENCO</b> network & "pilot" schools need until July.\nSee notes.'
AP_EVIDENCE = "https://example.org/report?id=25&v=2 <draft>"
LEADS = ["AG", "AP", "DH", "FG", "FO", "HP", "JB", "JF", "LE", "MM", "ND", "TC", "TL"]
WAITS = (
    "Leaders across the Partnership should continue to address long waiting times for children "
    "and young people requesting support from health services."
)


def at(day: date, hour: int = 11) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON).astimezone(UTC)


def reply(session: Session, code: str, when: datetime, *updates: ActionUpdate) -> None:
    plan = session.exec(select(Plan).where(Plan.code == PLAN)).one()
    person = session.exec(select(Person).where(Person.code == code)).one()
    assert plan.id is not None
    stored = Reply(
        plan_id=plan.id,
        channel="email",
        received_at=when,
        person_id=person.id,
        verdict=str(ReplyVerdict.APPLIED),
    )
    session.add(stored)
    session.flush()
    apply_reply(session, stored, answer_of(updates), now=when)


def delivery(n: int, when: datetime | None = None, **fields: Any) -> Delivery:
    when = when or at(date(2025, 9, 19))
    return Delivery(
        key=f"test:{n}",
        reference=f"REF{n}",
        channel="email",
        not_before=when,
        created_at=when,
        updated_at=when,
        **fields,
    )


def simulate(engine: Engine, between: Callable[[], None] = lambda: None) -> None:
    """A cycle: imported in June, two earlier replies, then this cycle's replies (from 10 Sep).
    ``between`` runs after the earlier replies, before this cycle's."""
    import_people(engine, PEOPLE_CSV, now=IMPORTED)
    import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=IMPORTED)
    amber: dict[str, Any] = {"status": "on_track", "status_label": "Amber"}
    with Session(engine) as s:
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        assert plan.id is not None
        ids = {a.ref: a.id for a in s.exec(select(Action).where(Action.plan_id == plan.id))}
        people = {p.code: p.id for p in s.exec(select(Person))}
        # Earlier cycles: LE in June (before every meeting), AP before SIB's 19 Aug meeting.
        reply(s, "LE", at(date(2025, 6, 10)), ActionUpdate("5.4", narrative="Recruiting.", **amber))
        reply(s, "AP", at(date(2025, 8, 12)), ActionUpdate("2.5", narrative="Drafted.", **amber))
        s.commit()
        between()
        # This cycle (after SSDG's 9 Sep meeting).
        reply(
            s,
            "AP",
            at(date(2025, 9, 17)),
            ActionUpdate(
                "2.5",
                status="off_track",
                status_label="Red",
                narrative=AP_WORDS,
                evidence=AP_EVIDENCE,
                forecast=FuzzyDate.month_of(2024, 7),  # 3 months after Apr 2024
            ),
        )
        later = FuzzyDate.month_of(2026, 3)
        reply(
            s,
            "FO",
            at(date(2025, 9, 18)),
            ActionUpdate("7.9", narrative="Clinic running.", forecast=later, **amber),
            ActionUpdate("7.11", narrative="On plan.", forecast=later, **amber),
            ActionUpdate(
                "7.12", status="complete", status_label="Green", narrative="All posts filled."
            ),
            ActionUpdate("7.13", narrative="On plan.", forecast=later, **amber),
        )
        reply(s, "LE", at(date(2025, 9, 22)), ActionUpdate("5.4", no_change=True))
        # JF never replies: escalated the day after the deadline. A reminder to TC bounced.
        s.add(
            delivery(
                1,
                kind="escalation",
                person_code="JF",
                recipient_code="HP",
                meeting_key="SIB:2025-09-30",
                state="sent",
                plan_id=plan.id,
                when=at(date(2025, 9, 24), 9),
            )
        )
        s.add(
            delivery(
                2,
                kind="reminder",
                person_code="TC",
                recipient_code="TC",
                meeting_key="SIB:2025-09-30",
                state="dead",
                plan_id=plan.id,
                last_error="550 5.1.1 <tobias.carnsew@example.nhs.uk>: mailbox unavailable",
            )
        )
        s.add(  # dead before this cycle: not in this digest
            delivery(3, at(date(2025, 8, 1)), kind="reminder", state="dead", plan_id=plan.id)
        )
        # The risk register: one new, one closed this cycle, one untouched since June.
        s.add(
            Risk(
                plan_id=plan.id,
                action_id=ids["4.4"],
                description="Provider data not shared",
                mitigation="Escalate to the ICB",
                owner_id=people["HP"],
                created_at=at(date(2025, 9, 15)),
                updated_at=at(date(2025, 9, 15)),
            )
        )
        s.add(
            Risk(
                plan_id=plan.id,
                area_id=None,
                action_id=ids["7.12"],
                description="Recruitment",
                closed=True,
                owner_id=people["FO"],
                created_at=IMPORTED,
                updated_at=at(date(2025, 9, 18)),
            )
        )
        s.add(Risk(plan_id=plan.id, description="Old", created_at=IMPORTED, updated_at=IMPORTED))
        s.commit()


def sib_meeting() -> Meeting:
    meeting = next_meeting(CYCLES, "SIB", date(2025, 9, 30))
    assert meeting is not None and meeting.date == date(2025, 9, 30)
    return meeting


def build(engine: Engine, config: SlippageConfig | None = None) -> Digest:
    invited = [p.email or "" for p in CYCLES.group("SIB").mandatory_invitees][:2]
    with Session(engine) as s:
        return build_digest(
            s,
            plan_code=PLAN,
            cycles=CYCLES,
            group_code="SIB",
            meeting=sib_meeting(),
            now=NOW,
            config=config or SlippageConfig(),
            invited=invited,
            cycle_groups=("SIB", "SSDG"),
        )


@pytest.fixture
def digest(engine: Engine) -> Digest:
    simulate(engine)
    return build(engine)


def rows(digest: Digest) -> dict[str, LogRow]:
    return {row.ref: row for row in digest.log}


def test_the_meeting_and_its_cycle(digest: Digest) -> None:
    assert (digest.plan_code, digest.group_code) == (PLAN, "SIB")
    assert digest.group_name == "Local Area SEND Improvement Board"
    assert digest.meeting_date == date(2025, 9, 30)
    assert digest.papers_deadline == date(2025, 9, 23)
    assert digest.previous_meeting == date(2025, 9, 9)  # SSDG's, which alternates with SIB
    assert digest.scale[:2] == (
        ("Blue", "Complete and embedded", "0070C0"),
        ("Green", "Complete", "00B050"),
    )
    assert len(digest.log) == 76  # everything reports to SIB through its reporting lines
    assert [r.ref for r in digest.log[:3]] == ["1.1", "1.2", "1.3"]  # plan order


def test_which_actions_are_flagged_and_why(digest: Digest) -> None:
    log = rows(digest)
    flagged = {row.ref for row in digest.exceptions}
    assert flagged == {r.ref for r in digest.log if r.flags}
    # Worst first: AP's 2.5 has three HIGH flags among four.
    first = digest.exceptions[0]
    assert first.ref == "2.5"
    assert first.flags == (
        Flag("overdue", Severity.HIGH, "Overdue: due Jul 2024, not complete"),
        Flag(
            "forecast_slipped",
            Severity.HIGH,
            "Forecast Jul 2024 is 3 months later than the baseline Apr 2024",
        ),
        Flag(
            "milestone_missed",
            Severity.MEDIUM,
            "Milestones 1 (Apr 2024), 2 (Dec 2023) and 3 (Dec 2023) missed",
        ),
        Flag("status_worse", Severity.HIGH, "Status worse: Amber → Red"),
    )
    assert (first.status, first.status_label, first.status_colour) == ("off_track", "Red", "FF0000")
    assert (first.previous_status_label, first.change) == ("Amber", "worse")
    assert (first.due, first.forecast, first.slip_days) == ("Apr 2024", "Jul 2024", 92)
    assert (first.narrative, first.narrative_on) == (AP_WORDS, date(2025, 9, 17))
    assert first.evidence == AP_EVIDENCE
    assert first.updated_this_cycle and not first.late
    # JF never replied: overdue and silent.
    assert log["4.4"].flags == (
        Flag("overdue", Severity.HIGH, "Overdue: due Mar 2024, not complete"),
        Flag("no_update", Severity.MEDIUM, "No update since the 9 Sep meeting"),
    )
    assert (log["4.4"].status, log["4.4"].change, log["4.4"].status_label) == (None, "none", "")
    # LE said "no change" again: slow to progress since June, but LE did reply for 5.4.
    assert log["5.4"].flags == (
        Flag("overdue", Severity.HIGH, "Overdue: due Dec 2023, not complete"),
        Flag("no_change", Severity.LOW, "No change in status or narrative for 4 cycles"),
    )
    assert log["5.4"].narrative == "Recruiting." and log["5.4"].change == "same"
    # FO: three on track with a new forecast, one complete (so nothing to flag).
    assert log["7.9"].flags == (
        Flag(
            "forecast_slipped",
            Severity.HIGH,
            "Forecast Mar 2026 is 23 months later than the baseline Apr 2024",
        ),
    )
    assert (log["7.9"].change, log["7.9"].status_label) == ("new", "Amber")
    assert log["7.12"].flags == () and "7.12" not in flagged
    assert (log["7.12"].status, log["7.12"].change) == ("complete", "new")
    # Imported complete: never flagged, and its due cell said "Completed".
    assert log["7.5"].flags == () and log["7.5"].due == "Completed"
    # An action nobody reported on, with a missed milestone among its parts.
    assert [f.reason for f in log["2.2"].flags] == [
        "Overdue: due Jun 2024, not complete",
        'Milestones 1 "Developed" (Feb 2024) and 2 "Disseminated and training has occurred" '
        "(Jun 2024) missed",
        "No update since the 9 Sep meeting",
    ]
    # The order: worst severity, then the number of flags, then plan order.
    keys = [(-(r.worst or 0), -len(r.flags)) for r in digest.exceptions]
    assert keys == sorted(keys)
    # The plan's dates ran out in 2024: only the two complete actions are not flagged.
    assert len(digest.exceptions) == 74
    assert {r.ref for r in digest.log if not r.flags} == {"7.5", "7.12"}
    assert [f.reason for f in log["9.5"].flags] == [  # due Sep 2026, but its first part is late
        'Milestone 1 "Publication" (Nov 2023) missed',
        "No update since the 9 Sep meeting",
    ]


def test_who_has_not_replied_and_who_was_escalated(digest: Digest) -> None:
    assert [p.code for p in digest.not_replied] == [c for c in LEADS if c != "FO"]
    jf = next(p for p in digest.not_replied if p.code == "JF")
    assert (jf.name, jf.actions, jf.replied, jf.escalated) == ("Juno Fairweather", 1, False, True)
    le = next(p for p in digest.not_replied if p.code == "LE")
    assert (le.actions, le.escalated) == (2, False)  # replied for 5.4, not for 5.3
    assert [(p.code, p.escalated) for p in digest.escalated] == [("JF", True)]


def test_status_counts_by_area_now_and_at_the_previous_meeting(digest: Digest) -> None:
    areas = {a.area: a for a in digest.areas}
    assert list(areas) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert areas[2].counts == {"Not reported": 7, "Red": 1}
    assert areas[2].previous == {"Not reported": 7, "Amber": 1}
    assert areas[7].title == WAITS
    assert areas[7].counts == {"Not reported": 10, "Green": 2, "Amber": 3}
    assert areas[7].previous == {"Not reported": 14, "Green": 1}
    # The trend: SIB's meetings so far (8 Jul, 19 Aug), then now.
    assert [t.meeting for t in digest.trend] == [
        date(2025, 7, 8),
        date(2025, 8, 19),
        date(2025, 9, 30),
    ]
    title2 = areas[2].title
    assert [t.counts[title2].get("Amber", 0) for t in digest.trend] == [0, 1, 0]
    assert [t.counts[title2].get("Red", 0) for t in digest.trend] == [0, 0, 1]


def test_the_status_table_has_one_column_per_status_value_of_the_plan(digest: Digest) -> None:
    # Actions carry the plan's own value ("Green"), so the columns must be those values, not
    # the scale's longer labels ("Complete"), or every count lands in a column of its own.
    columns = status_labels(digest)
    assert columns[:4] == ["Blue", "Green", "Amber", "Red"]
    assert set(columns) <= {"Blue", "Green", "Amber", "Red", "Not reported"}
    for area in digest.areas:
        assert set(area.counts) <= set(columns), area.title


def test_risks_dead_letters_and_invitees(digest: Digest) -> None:
    assert digest.risks == (
        RiskLine(
            ref="4.4",
            description="Provider data not shared",
            mitigation="Escalate to the ICB",
            owner="Hester Pengelly",
            change="new",
        ),
        RiskLine(
            ref="7.12",
            description="Recruitment",
            mitigation="",
            owner="Freya Odgers",
            change="closed",
        ),
    )
    assert digest.dead_letters == (
        DeadLetter(
            kind="reminder",
            recipient="TC",
            reason="550 5.1.1 <[address]>: mailbox unavailable",  # never an address
            at=at(date(2025, 9, 19)),
        ),
    )
    assert digest.invitees == (
        Invitee("Imogen Castellane", "DfE SEND adviser", True),
        Invitee("Rhodri Penhallow", "NHS England SEND adviser", True),
        Invitee("Beatrix Oduya", "Department for Education case lead", False),
    )


def test_user_text_is_carried_verbatim(digest: Digest) -> None:
    row = rows(digest)["2.5"]
    assert row.narrative == AP_WORDS and "<b>" in row.narrative and "&" in row.narrative
    assert digest.exceptions[0].narrative == AP_WORDS
    assert row.evidence == AP_EVIDENCE


def test_thresholds_from_config_change_the_outcome(engine: Engine) -> None:
    simulate(engine)
    config = SlippageConfig.from_mapping(
        {"overdue": {"enabled": False}, "forecast_slipped": {"high_after_days": 100}}
    )
    digest = build(engine, config)
    row = rows(digest)["2.5"]
    assert [(f.rule, f.severity) for f in row.flags] == [
        ("forecast_slipped", Severity.MEDIUM),  # 92 days is no longer over the high mark
        ("milestone_missed", Severity.MEDIUM),
        ("status_worse", Severity.HIGH),
    ]


def test_a_digest_rebuilt_for_an_earlier_day_ignores_later_replies(engine: Engine) -> None:
    simulate(engine)
    with Session(engine) as s:
        early = build_digest(
            s,
            plan_code=PLAN,
            cycles=CYCLES,
            group_code="SIB",
            meeting=sib_meeting(),
            now=datetime(2025, 9, 16, 12, tzinfo=LONDON),
            config=SlippageConfig(),
            cycle_groups=("SIB", "SSDG"),
        )
    row = rows(early)["5.4"]
    assert not row.updated_this_cycle
    assert "No update since the 9 Sep meeting" in [f.reason for f in row.flags]
    assert [i.invited for i in early.invitees] == [False, False, False]


def test_the_status_at_the_last_meeting_is_the_plans_own_value_then(engine: Engine) -> None:
    # 7.9 was "Blue" (complete and embedded) in August, and "Green" (also complete) now: both
    # mean complete, so only the history's own label can tell them apart.
    simulate(engine)
    with Session(engine) as s:
        reply(
            s,
            "FO",
            at(date(2025, 8, 20)),
            ActionUpdate(ref="7.9", status="complete", status_label="Blue", embedded=True),
        )
        reply(
            s,
            "FO",
            at(date(2025, 9, 17)),
            ActionUpdate(ref="7.9", status="complete", status_label="Green"),
        )
        s.commit()
    row = rows(build(engine))["7.9"]
    assert (row.status_label, row.previous_status_label) == ("Green", "Blue")


def test_it_keeps_the_status_at_the_last_meeting_across_a_reimport_that_moved_a_date(
    engine: Engine, tmp_path: Path
) -> None:
    # On 2 Sep, between AP's Amber of 12 Aug and SSDG's 9 Sep meeting, the secretary imports
    # the workbook again with 2.5's first milestone moved. The import's history rows say what
    # moved; they must not make 2.5 "not reported" at 9 Sep, or its Amber → Red goes unflagged.
    book = load_workbook(PLAN_XLSX)
    sheet = book["Action Plan"]
    assert (sheet["E19"].value, sheet["I19"].value) == (
        "2.5",
        "1) April 2024\n2) December 2023\n3) December 2023",
    )
    sheet["I19"] = "1) May 2024\n2) December 2023\n3) December 2023"
    edited = tmp_path / "plan.xlsx"
    book.save(edited)
    moved: list[int] = []

    def reimport() -> None:
        when = at(date(2025, 9, 2))
        outcome = import_plan(engine, edited, mapping=load_mapping(MAPPING), now=when)
        assert outcome.errors == [] and outcome.merge is not None
        moved.append(outcome.merge.forecast_changes)

    simulate(engine, between=reimport)
    assert moved[0] >= 1
    row = rows(build(engine))["2.5"]
    assert (row.previous_status_label, row.change) == ("Amber", "worse")
    assert Flag("status_worse", Severity.HIGH, "Status worse: Amber → Red") in row.flags


def test_it_reads_a_status_through_the_rows_older_imports_wrote_without_one(
    engine: Engine,
) -> None:
    # Imports before 2 December 2026 wrote their forecast rows with no status. A store that
    # holds them must read as if they had kept the status: 2.5's Amber in the digest, and 7.12's
    # Blue (one of the two labels that mean complete) on its page.
    def old_forecast_rows() -> None:
        with Session(engine) as s:
            blue = ActionUpdate(ref="7.12", status="complete", status_label="Blue", embedded=True)
            reply(s, "FO", at(date(2025, 8, 20)), blue)
            for ref in ("2.5", "7.12"):
                action = s.exec(select(Action).where(Action.ref == ref)).one()
                assert action.id is not None and action.status_label in ("Amber", "Blue")
                s.add(
                    StatusChange(
                        action_id=action.id,
                        recorded_at=at(date(2025, 9, 2)),
                        channel=str(Channel.IMPORT),
                        kind=str(ChangeKind.MILESTONE_FORECAST),
                        due_after=date(2024, 5, 31),
                        due_after_precision="month",
                        note="milestone 1 changed in the workbook",
                    )
                )
            s.commit()

    simulate(engine, between=old_forecast_rows)
    row = rows(build(engine))["2.5"]
    assert (row.previous_status_label, row.change) == ("Amber", "worse")
    assert Flag("status_worse", Severity.HIGH, "Status worse: Amber → Red") in row.flags
    with Session(engine) as s:
        page = action_history(s, PLAN, "7.12")
    assert page is not None
    # FO's "Green" on 18 Sep took 7.12 from Blue to Green: the page must say so.
    assert [(e.what, e.status_before, e.status_after) for e in page.history[:3]] == [
        ("Update", "Blue", "Green"),
        ("Milestone forecast changed", "", ""),
        ("Update", "", "Blue"),
    ]
