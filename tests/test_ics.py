"""The iCalendar feed parses with icalendar and carries what a subscriber needs."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

from icalendar import Calendar

from integrations.ics import build_ics
from workflows.calendar.cycles import load_cycles, parse_cycles
from workflows.calendar.meetings import meetings

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "cycles.yaml"
STAMP = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def feed(start: date, end: date, groups: list[str] | None = None) -> Calendar:
    cfg = load_cycles(SHIPPED)
    found = meetings(cfg, start, end, groups=groups, include_cancelled=True)
    return Calendar.from_ical(build_ics(cfg, found, stamp=STAMP))


def test_it_lists_board_meetings_with_the_mandatory_invitees_as_required_attendees() -> None:
    cal = feed(date(2025, 7, 1), date(2025, 7, 31), ["SIB"])
    (board,) = [e for e in cal.events if str(e["UID"]) == "SIB:2025-07-08@chaser"]
    attendees = board.attendees
    assert {str(a) for a in attendees} == {
        "mailto:imogen.castellane@example.gov.uk",
        "mailto:rhodri.penhallow@example.nhs.uk",
        "mailto:beatrix.oduya@example.gov.uk",
    }
    assert {a.params["ROLE"] for a in attendees} == {"REQ-PARTICIPANT"}
    assert {a.params["CN"] for a in attendees} >= {"Imogen Castellane", "Beatrix Oduya"}
    organizer = board.organizer
    assert organizer is not None
    assert str(organizer) == "mailto:morwenna.tregear@example.org"
    assert organizer.params["CN"] == "Morwenna Tregear"
    assert str(board["STATUS"]) == "CONFIRMED"


def test_it_starts_meetings_in_london_time_with_a_timezone_definition() -> None:
    cal = feed(date(2025, 10, 1), date(2025, 11, 30), ["SIB"])
    assert [tz.tz_name for tz in cal.timezones] == ["Europe/London"]
    raw = cal.to_ical().decode()
    assert "DTSTART;TZID=Europe/London:20251111T100000" in raw
    (nov,) = [e for e in cal.events if str(e["UID"]) == "SIB:2025-11-11@chaser"]
    assert isinstance(nov.start, datetime) and isinstance(nov.end, datetime)
    assert nov.start.astimezone(UTC) == datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
    assert nov.end.astimezone(UTC) == datetime(2025, 11, 11, 12, 0, tzinfo=UTC)


def test_it_adds_papers_deadlines_as_all_day_events() -> None:
    cal = feed(date(2025, 7, 1), date(2025, 7, 31), ["SIB"])
    (papers,) = [e for e in cal.events if str(e["UID"]) == "papers-SIB:2025-07-08@chaser"]
    assert papers.start == date(2025, 7, 1)
    assert papers.end == date(2025, 7, 2)
    assert str(papers["TRANSP"]) == "TRANSPARENT"
    assert "Papers due" in str(papers["SUMMARY"])


def test_it_keeps_a_moved_meeting_under_the_same_uid_with_a_new_sequence() -> None:
    cal = feed(date(2025, 12, 1), date(2025, 12, 31), ["SIB"])
    (moved,) = [e for e in cal.events if str(e["UID"]) == "SIB:2025-12-23@chaser"]
    assert isinstance(moved.start, datetime)
    assert moved.start.date() == date(2025, 12, 16)
    assert moved.sequence == 1


def test_it_marks_cancelled_and_recess_meetings_cancelled_for_subscribers() -> None:
    cal = feed(date(2025, 8, 1), date(2025, 8, 31), ["TFG-GOC"])
    statuses = {str(e["UID"]): str(e["STATUS"]) for e in cal.events}
    assert statuses["TFG-GOC:2025-08-06@chaser"] == "CANCELLED"
    assert statuses["papers-TFG-GOC:2025-08-06@chaser"] == "CANCELLED"
    cal = feed(date(2026, 4, 1), date(2026, 4, 30), ["SSDG"])
    (easter,) = [e for e in cal.events if str(e["UID"]) == "SSDG:2026-04-07@chaser"]
    assert str(easter["STATUS"]) == "CANCELLED"
    assert str(easter["SUMMARY"]).startswith("CANCELLED")


def test_it_is_reproducible_for_the_same_stamp() -> None:
    cfg = load_cycles(SHIPPED)
    found = meetings(cfg, date(2025, 7, 1), date(2025, 9, 30), include_cancelled=True)
    assert build_ics(cfg, found, stamp=STAMP) == build_ics(cfg, found, stamp=STAMP)
    cal = Calendar.from_ical(build_ics(cfg, found, stamp=STAMP))
    assert "METHOD" not in cal  # a subscription feed, not an iTIP message
    assert len(cal.events) == 2 * len(found)
    assert len({str(e["UID"]) for e in cal.events}) == len(cal.events)


def test_it_builds_an_empty_feed_and_one_for_a_group_without_a_secretary() -> None:
    cfg = parse_cycles(
        textwrap.dedent(
            """\
            groups:
              - code: X
                name: Quiet group
                cadence: Quarterly
                first_meeting: 2025-09-11
                chair:
                  name: Chris Chair
                  email: chris@example.org
            """
        )
    )
    assert Calendar.from_ical(build_ics(cfg, [], stamp=STAMP)).events == []
    found = meetings(cfg, date(2025, 9, 1), date(2025, 9, 30))
    (event, _papers) = Calendar.from_ical(build_ics(cfg, found, stamp=STAMP)).events
    assert "ORGANIZER" not in event
    assert [a.params["ROLE"] for a in event.attendees] == ["CHAIR"]
