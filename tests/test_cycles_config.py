"""cycles.yaml: the schema, the council wordings and every validation error."""

from __future__ import annotations

import textwrap
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from workflows.calendar.cycles import (
    CadenceUnit,
    ConfigProblem,
    CyclesConfig,
    CyclesConfigError,
    load_cycles,
    normalise_name,
    parse_cycles,
)

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "cycles.yaml"


def parse(text: str) -> CyclesConfig:
    return parse_cycles(textwrap.dedent(text), source="cycles.yaml")


def problems(text: str) -> list[ConfigProblem]:
    with pytest.raises(CyclesConfigError) as caught:
        parse(text)
    return caught.value.problems


def one_problem(text: str) -> ConfigProblem:
    found = problems(text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def group(body: str, *, extra_groups: str = "", top: str = "") -> str:
    """A file with one group whose keys are ``body`` (one key per line)."""
    lines = textwrap.indent(textwrap.dedent(body), "    ")
    return top + "groups:\n  - code: SIB\n    name: Board\n" + lines + extra_groups


OK = "cadence: every 6 weeks\nfirst_meeting: 2025-07-08\n"


def test_the_shipped_plymouth_config_validates() -> None:
    cfg = load_cycles(SHIPPED)
    assert cfg.group("SIB").first_meeting == date(2025, 7, 8)
    assert [p.email for p in cfg.group("SIB").mandatory_invitees] == [
        "imogen.castellane@example.gov.uk",
        "rhodri.penhallow@example.nhs.uk",
        "beatrix.oduya@example.gov.uk",
    ]
    assert cfg.group("SSDG").first_meeting == date(2025, 7, 29)
    assert cfg.group("TFG-GOC").papers_deadline_working_days == 3
    assert cfg.timezone == "Europe/London"


def test_it_reads_a_minimal_group_with_the_defaults() -> None:
    cfg = parse(group(OK))
    sib = cfg.group("SIB")
    assert sib.time == time(10, 0)
    assert sib.duration == timedelta(minutes=120)
    assert sib.papers_deadline_working_days == 5
    assert sib.timezone == "Europe/London"
    assert sib.cadence.unit is CadenceUnit.WEEKS and sib.cadence.interval == 6


def test_it_reads_an_unquoted_time_as_a_time_of_day() -> None:
    # Plain YAML would read 10:00 as the base-60 number 600.
    cfg = parse(group(OK + "time: 10:00\n", top="defaults:\n  duration_minutes: 90\n"))
    assert cfg.group("SIB").time == time(10, 0)
    assert cfg.group("SIB").duration == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("wording", "first", "read_as"),
    [
        ("Six weekly", "2025-07-08", "every 6 weeks on Tuesday (the weekday of first_meeting"),
        ("Three weekly", "2025-07-16", "every 3 weeks on Wednesday"),
        ("six-weekly", "2025-07-08", "every 6 weeks on Tuesday"),
        ("Fortnightly", "2025-07-08", "every 2 weeks on Tuesday"),
        ("Weekly", "2025-07-08", "every week on Tuesday"),
        ("every 3 weeks on Tuesday", "2025-07-08", "every 3 weeks on Tuesday"),
        ("Monthly", "2025-07-08", "monthly on the second Tuesday (the weekday and week"),
        ("Monthly", "2025-07-29", "monthly on the last Tuesday"),
        ("Quarterly", "2025-09-11", "quarterly (every 3 months) on the second Thursday"),
        ("Moving to Quarterly", "2025-10-14", "quarterly (every 3 months) on the second Tuesday"),
        ("second Tuesday", "2025-07-08", "monthly on the second Tuesday"),
        ("monthly on the 1st Monday", "2025-09-01", "monthly on the first Monday"),
        ("every 2 months on the last Friday", "2025-07-25", "every 2 months on the last Friday"),
        ("Annually", "2025-07-08", "every 12 months on the second Tuesday"),
    ],
)
def test_it_accepts_council_wordings_and_says_how_each_was_read(
    wording: str, first: str, read_as: str
) -> None:
    cfg = parse(group(f"cadence: {wording}\nfirst_meeting: {first}\n"))
    (reading,) = cfg.readings
    assert reading.written == wording
    assert read_as in reading.read_as
    assert str(reading).startswith(f"cycles.yaml:4: groups[0].cadence: '{wording}' read as ")


def test_it_says_a_moving_cadence_needs_the_first_meeting_on_the_new_cycle() -> None:
    cfg = parse(group("cadence: Moving to Quarterly\nfirst_meeting: 2025-10-14\n"))
    assert "make first_meeting the first meeting on the new cycle" in cfg.readings[0].read_as


def test_it_works_out_an_alternating_groups_first_meeting() -> None:
    cfg = parse(
        group(
            OK,
            extra_groups="  - code: SSDG\n    name: Delivery\n    alternates_with: SIB\n",
        )
    )
    assert cfg.group("SSDG").first_meeting == date(2025, 7, 29)
    assert cfg.group("SSDG").cadence == cfg.group("SIB").cadence
    assert "from 2025-07-29, half a cycle after SIB" in cfg.readings[1].read_as
    assert cfg.readings[1].written == "alternates_with: SIB"


def test_it_matches_names_without_minding_case_apostrophes_or_dashes() -> None:
    assert normalise_name("Social Care and Children’s Disability Team") == normalise_name(
        "social care and children's  disability team"
    )
    assert normalise_name("NHS Devon – Health Wait Lists") == normalise_name(
        "NHS Devon - health wait lists"
    )


# -- every validation error path ----------------------------------------------------------

ALT = "  - code: SSDG\n    name: Delivery\n    alternates_with: SIB\n"

ERROR_CASES: list[tuple[str, str, str, int | None, str]] = [
    # (id, yaml, key, line, message fragment)
    ("yaml syntax", "groups:\n  - code: SIB\n   name: x\n", "", 3, "the YAML cannot be read"),
    ("empty file", "# nothing\n", "", None, "the file is empty"),
    ("top not mapping", "- a\n- b\n", "", 1, "should be a set of 'key: value' lines"),
    ("unknown top key", "group:\n  - code: SIB\n", "group", 1, "did you mean 'groups'?"),
    ("bad version", "version: 2\n" + group(OK), "version", 1, "write 1"),
    ("bad timezone", "timezone: London\n" + group(OK), "timezone", 1, "write 'Europe/London'"),
    ("groups missing", "version: 1\n", "groups", 1, "add a 'groups:' list"),
    ("groups not a list", "groups:\n  code: SIB\n", "groups", 2, "should be a list"),
    ("group not mapping", "groups:\n  - SIB\n", "groups[0]", 2, "should be a set of"),
    (
        "code missing",
        "groups:\n  - name: Board\n    " + OK.replace("\n", "\n    "),
        "groups[0].code",
        2,
        "add a short code",
    ),
    (
        "code lower case",
        group(OK).replace("code: SIB", "code: sib board"),
        "groups[0].code",
        2,
        "write 'SIB-BOARD'",
    ),
    (
        "name missing",
        group(OK).replace("    name: Board\n", ""),
        "groups[0].name",
        2,
        "the group's full name",
    ),
    (
        "cadence missing",
        group("first_meeting: 2025-07-08\n"),
        "groups[0].cadence",
        2,
        "add e.g. 'cadence: every 6 weeks'",
    ),
    (
        "cadence misspelt",
        group("cadence: six weakly\nfirst_meeting: 2025-07-08\n"),
        "groups[0].cadence",
        4,
        "cadence 'six weakly' is not understood; write 'every 6 weeks'",
    ),
    (
        "cadence sixweekly",
        group("cadence: sixweekly\nfirst_meeting: 2025-07-08\n"),
        "groups[0].cadence",
        4,
        "write 'every 6 weeks'",
    ),
    (
        "cadence bi-weekly",
        group("cadence: Bi-weekly\nfirst_meeting: 2025-07-08\n"),
        "groups[0].cadence",
        4,
        "is ambiguous",
    ),
    (
        "cadence monthly no ordinal",
        group("cadence: monthly on Tuesdays\nfirst_meeting: 2025-07-08\n"),
        "groups[0].cadence",
        4,
        "write 'monthly on the second Tuesday'",
    ),
    (
        "cadence gibberish",
        group("cadence: when needed\nfirst_meeting: 2025-07-08\n"),
        "groups[0].cadence",
        4,
        "write one of 'every 6 weeks'",
    ),
    (
        "cadence quartly",
        group("cadence: quartely\nfirst_meeting: 2025-07-08\n"),
        "groups[0].cadence",
        4,
        "write 'quarterly'",
    ),
    (
        "first missing",
        group("cadence: every 6 weeks\n"),
        "groups[0].first_meeting",
        2,
        "add the date of a meeting",
    ),
    (
        "first in words",
        group("cadence: every 6 weeks\nfirst_meeting: Tuesday 8th July 2025\n"),
        "groups[0].first_meeting",
        5,
        "write 2025-07-08",
    ),
    (
        "first not a date",
        group("cadence: every 6 weeks\nfirst_meeting: soon\n"),
        "groups[0].first_meeting",
        5,
        "YYYY-MM-DD",
    ),
    (
        "first impossible",
        group("cadence: every 6 weeks\nfirst_meeting: 2025-02-30\n"),
        "groups[0].first_meeting",
        5,
        "not a real date",
    ),
    (
        "weekday mismatch",
        group("cadence: every 6 weeks on Wednesday\nfirst_meeting: 2025-07-08\n"),
        "groups[0].first_meeting",
        5,
        "2025-07-08 is a Tuesday, but the cadence says Wednesday",
    ),
    (
        "monthly rule mismatch",
        group("cadence: monthly on the first Tuesday\nfirst_meeting: 2025-07-08\n"),
        "groups[0].first_meeting",
        5,
        "not the first Tuesday of July; write 2025-07-01",
    ),
    (
        "alternates unknown",
        group(OK, extra_groups=ALT.replace("SIB\n", "SIBB\n")),
        "groups[1].alternates_with",
        8,
        "'SIBB', which is not a group here",
    ),
    (
        "alternates itself",
        group(OK + "alternates_with: SIB\n"),
        "groups[0].alternates_with",
        6,
        "alternates with itself",
    ),
    (
        "alternates odd cycle",
        group("cadence: every 3 weeks\nfirst_meeting: 2025-07-08\n", extra_groups=ALT),
        "groups[1].alternates_with",
        8,
        "only a cycle of an even number of weeks can alternate",
    ),
    (
        "alternates monthly",
        group("cadence: Monthly\nfirst_meeting: 2025-07-08\n", extra_groups=ALT),
        "groups[1].alternates_with",
        8,
        "even number of weeks",
    ),
    (
        "alternates other cadence",
        group(OK, extra_groups=ALT + "    cadence: every 4 weeks\n"),
        "groups[1].cadence",
        9,
        "write 'every 6 weeks' or remove the cadence line",
    ),
    (
        "alternates same week",
        group(OK, extra_groups=ALT + "    first_meeting: 2025-07-10\n"),
        "groups[1].first_meeting",
        9,
        "write 2025-07-29 or remove first_meeting",
    ),
    (
        "alternation circle",
        "groups:\n  - code: A\n    name: A\n    alternates_with: B\n"
        "  - code: B\n    name: B\n    alternates_with: A\n",
        "groups[0].alternates_with",
        4,
        "goes round in a circle",
    ),
    ("time 2pm", group(OK + "time: 2pm\n"), "groups[0].time", 6, "write '14:00'"),
    ("time nonsense", group(OK + "time: morning\n"), "groups[0].time", 6, "24-hour time"),
    (
        "time in clock change hour",
        group(OK + "time: 01:30\n"),
        "groups[0].time",
        6,
        "outside 01:00-03:00",
    ),
    (
        "duration too long",
        group(OK + "duration_minutes: 2000\n"),
        "groups[0].duration_minutes",
        6,
        "write 5 to 1440 minutes",
    ),
    (
        "duration not a number",
        group(OK + "duration_minutes: two hours\n"),
        "groups[0].duration_minutes",
        6,
        "not a whole number",
    ),
    (
        "papers not a number",
        group(OK + "papers_deadline_working_days: a week\n"),
        "groups[0].papers_deadline_working_days",
        6,
        "write a number of working days",
    ),
    (
        "defaults bad",
        "defaults:\n  papers_deadline_working_days: -1\n" + group(OK),
        "defaults.papers_deadline_working_days",
        2,
        "not a whole number",
    ),
    (
        "group timezone",
        group(OK + "timezone: BST\n"),
        "groups[0].timezone",
        6,
        "timezone 'BST' is not known",
    ),
    (
        "secretary no email",
        group(OK + "secretary:\n  name: Sam\n"),
        "groups[0].secretary.email",
        7,
        "add an email address",
    ),
    (
        "secretary bad email",
        group(OK + "secretary:\n  name: Sam\n  email: sam at example.org\n"),
        "groups[0].secretary.email",
        8,
        "write name@example.org",
    ),
    (
        "secretary as text",
        group(OK + "secretary: Sam\n"),
        "groups[0].secretary",
        6,
        "should be a set of 'key: value' lines",
    ),
    (
        "invitee no email",
        group(OK + "mandatory_invitees:\n  - name: DfE adviser\n"),
        "groups[0].mandatory_invitees[0].email",
        7,
        "add an email address",
    ),
    (
        "members not a list",
        group(OK + "members: everyone\n"),
        "groups[0].members",
        6,
        "should be a list",
    ),
    (
        "member unknown key",
        group(OK + "members:\n  - name: Sam\n    mail: s@example.org\n"),
        "groups[0].members[0].mail",
        8,
        "did you mean 'email'?",
    ),
    (
        "reports_to unknown",
        group(OK + "reports_to: SSLB\n"),
        "groups[0].reports_to",
        6,
        "no group has the code 'SSLB'; write one of SIB",
    ),
    (
        "reports_to itself",
        group(OK + "reports_to: SIB\n"),
        "groups[0].reports_to",
        6,
        "cannot report to itself",
    ),
    (
        "reports_to circle",
        group(OK + "reports_to: SSDG\n", extra_groups=ALT + "    reports_to: SIB\n"),
        "groups[0].reports_to",
        6,
        "go round in a circle (SIB -> SSDG -> SIB)",
    ),
    (
        "plan area not a number",
        group(OK + "plan_areas: [one, x]\n"),
        "groups[0].plan_areas[1]",
        6,
        "not a whole number",
    ),
    (
        "plan tfg twice",
        group(
            OK + "plan_task_and_finish_groups: [Inclusion]\n",
            extra_groups=ALT + "    plan_task_and_finish_groups: [INCLUSION]\n",
        ),
        "groups[1].plan_task_and_finish_groups[0]",
        10,
        "already listed under SIB",
    ),
    (
        "until before first",
        group(OK + "until: 2025-01-01\n"),
        "groups[0].until",
        6,
        "is before first_meeting",
    ),
    (
        "duplicate key",
        group(OK + "cadence: every 3 weeks\n"),
        "groups[0].cadence",
        6,
        "appears twice here (first on line 4); keep one",
    ),
    (
        "unknown group key",
        group(OK + "cadance: x\n"),
        "groups[0].cadance",
        6,
        "did you mean 'cadence'?",
    ),
    (
        "exception slot off cycle",
        group(OK + "exceptions:\n  - slot: 2025-08-20\n    cancelled: true\n"),
        "groups[0].exceptions[0].slot",
        7,
        "2025-08-20 is not a scheduled SIB meeting (every 6 weeks on Tuesday); "
        "write the scheduled date: 2025-08-19 or 2025-09-30",
    ),
    (
        "exception before first",
        group(OK + "exceptions:\n  - slot: 2025-06-01\n    cancelled: true\n"),
        "groups[0].exceptions[0].slot",
        7,
        "write the scheduled date: 2025-07-08",
    ),
    (
        "exception no slot",
        group(OK + "exceptions:\n  - moved_to: 2025-08-20\n"),
        "groups[0].exceptions[0].slot",
        7,
        "add the date the meeting was scheduled for",
    ),
    (
        "exception says nothing",
        group(OK + "exceptions:\n  - slot: 2025-08-19\n"),
        "groups[0].exceptions[0]",
        7,
        "add 'moved_to: YYYY-MM-DD', 'time: HH:MM' or 'cancelled: true'",
    ),
    (
        "exception both",
        group(
            OK + "exceptions:\n  - slot: 2025-08-19\n    cancelled: yes\n    moved_to: 2025-08-20\n"
        ),
        "groups[0].exceptions[0]",
        7,
        "is both cancelled and moved",
    ),
    (
        "exception cancelled maybe",
        group(OK + "exceptions:\n  - slot: 2025-08-19\n    cancelled: maybe\n"),
        "groups[0].exceptions[0].cancelled",
        8,
        "write true or false",
    ),
    (
        "exception duplicate",
        group(
            OK + "exceptions:\n  - slot: 2025-08-19\n    cancelled: true\n"
            "  - slot: 2025-08-19\n    moved_to: 2025-08-20\n"
        ),
        "groups[0].exceptions[1]",
        9,
        "already has an exception on line 7; merge the two",
    ),
    (
        "exception onto a meeting",
        group(OK + "exceptions:\n  - slot: 2025-08-19\n    moved_to: 2025-09-30\n"),
        "groups[0].exceptions",
        7,
        "already has a SIB meeting; cancel 2025-08-19 instead",
    ),
    (
        "added on a slot",
        group(OK + "exceptions:\n  - added: 2025-08-19\n"),
        "groups[0].exceptions[0].added",
        7,
        "already a scheduled SIB meeting",
    ),
    (
        "added with slot",
        group(OK + "exceptions:\n  - added: 2025-08-20\n    slot: 2025-08-19\n"),
        "groups[0].exceptions[0]",
        7,
        "an added meeting takes only",
    ),
    (
        "exceptions not a list",
        group(OK + "exceptions:\n  slot: 2025-08-19\n"),
        "groups[0].exceptions",
        7,
        "should be a list",
    ),
    (
        "recess empty",
        "recesses:\n  - name: Summer\n" + group(OK),
        "recesses[0]",
        2,
        "add 'months: [August]'",
    ),
    (
        "recess unknown group",
        "recesses:\n  - name: Summer\n    months: August\n    groups: [TFG]\n" + group(OK),
        "recesses[0].groups[0]",
        4,
        "no group has the code 'TFG'",
    ),
    (
        "recess bad month",
        "recesses:\n  - name: Summer\n    months: [Agust]\n" + group(OK),
        "recesses[0].months[0]",
        3,
        "'Agust' is not a month",
    ),
    (
        "recess to before from",
        "recesses:\n  - name: Xmas\n    from: 2025-12-31\n    to: 2025-12-20\n" + group(OK),
        "recesses[0].to",
        4,
        "swap the two dates",
    ),
    (
        "recess from only",
        "recesses:\n  - name: Xmas\n    from: 2025-12-31\n" + group(OK),
        "recesses[0].to",
        2,
        "needs both from and to",
    ),
    (
        "recess no name",
        "recesses:\n  - months: [August]\n" + group(OK),
        "recesses[0].name",
        2,
        "add a name",
    ),
    (
        "extra holiday bad",
        "extra_bank_holidays: [8 May 2023]\n" + group(OK),
        "extra_bank_holidays[0]",
        1,
        "write 2023-05-08",
    ),
    (
        "duplicate code",
        group(
            OK,
            extra_groups="  - code: SIB\n    name: Again\n    cadence: Monthly\n"
            "    first_meeting: 2025-07-08\n",
        ),
        "groups[1].code",
        6,
        "also used by groups[0] (line 2)",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "line", "fragment"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_it_names_file_line_key_and_fix_for_each_error(
    text: str, key: str, line: int | None, fragment: str
) -> None:
    found = problems(text)
    match = [p for p in found if p.key == key]
    assert match, [str(p) for p in found]
    problem = match[0]
    assert problem.file == "cycles.yaml"
    assert problem.line == line, str(problem)
    assert fragment in problem.message, str(problem)
    where = f"cycles.yaml:{line}" if line is not None else "cycles.yaml"
    assert str(problem).startswith(f"{where}: {key}: " if key else f"{where}: ")


def test_it_reports_every_problem_at_once_in_file_order() -> None:
    text = group(
        "cadence: six weakly\nfirst_meeting: 2025-07-08\ntime: 2pm\nreports_to: NOPE\n",
        top="timezone: Mars\n",
    )
    found = problems(text)
    assert [p.key for p in found] == [
        "timezone",
        "groups[0].cadence",
        "groups[0].time",
        "groups[0].reports_to",
    ]
    assert [p.line for p in found] == sorted(p.line or 0 for p in found)
    assert str(found[1]) == (
        "cycles.yaml:5: groups[0].cadence: cadence 'six weakly' is not understood; "
        "write 'every 6 weeks'"
    )


def test_it_reports_a_missing_file_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CyclesConfigError) as caught:
        load_cycles(tmp_path / "cycles.yaml")
    (problem,) = caught.value.problems
    assert "file not found" in problem.message
    assert problem.file == str(tmp_path / "cycles.yaml")


def test_it_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cycles.yaml"
    path.write_bytes(b"groups: \xff\xfe\n")
    with pytest.raises(CyclesConfigError, match="save it as UTF-8"):
        load_cycles(path)


def test_it_reads_yaml_merge_keys() -> None:
    text = (
        "groups:\n"
        "  - &tfg\n    code: A\n    name: A\n    cadence: Three weekly\n"
        "    first_meeting: 2025-07-16\n    papers_deadline_working_days: 3\n"
        "  - <<: *tfg\n    code: B\n    name: B\n"
    )
    cfg = parse(text)
    assert cfg.group("B").papers_deadline_working_days == 3
    assert cfg.group("B").cadence.interval == 3
