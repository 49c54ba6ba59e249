"""Builders for a realistic :class:`~workflows.digest.contents.Digest`, for the renderer's tests.

Plymouth-like: a dozen actions across three areas of a Local Area SEND improvement plan, some
flagged (worst first in ``exceptions``), one narrative that tries ``<script>``, one title with
an ``&`` and a ref ("1.10") that a spreadsheet would happily turn into the number 1.1. These are
hand-made so the renderer's tests do not depend on how workflows/digest/build.py builds the
real one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from workflows.digest.contents import (
    AreaCount,
    DeadLetter,
    Digest,
    Flag,
    Invitee,
    LogRow,
    PersonLine,
    RiskLine,
    Severity,
    Trend,
)

SCRIPT = "<script>alert(1)</script>"

#: (value, label, colour), as the plan's mapping file declares it.
#: (value, label, colour) as in Plymouth's mapping: actions carry the value ("Green").
SCALE: tuple[tuple[str, str, str], ...] = (
    ("Blue", "Complete and embedded", "0070C0"),
    ("Green", "Complete", "00B050"),
    ("Amber", "Progressing to timescale", "FFC000"),
    ("Red", "Little or no progress/delayed", "FF0000"),
)
COLOUR = {value: colour for value, _, colour in SCALE}
STATUS = {"Blue": "complete", "Green": "on_track", "Amber": "at_risk", "Red": "off_track"}

AREAS = {
    1: "Identification and assessment of need",
    2: "Joint commissioning",
    3: "Preparing for adulthood",
}
LEADS = {
    "HP": "Hester Pengelly",
    "KT": "Kit Trelawny",
    "MR": "Morwenna Rowe",
    "JB": "Jago Bolitho",
}

OVERDUE = Flag("overdue", Severity.HIGH, "Overdue by 3 months")
SLIPPED = Flag("forecast_slipped", Severity.MEDIUM, "Forecast moved from Dec 2024 to Jun 2025")
NO_UPDATE = Flag("no_update", Severity.MEDIUM, "No update for 2 meetings")
WORSE = Flag("status_worse", Severity.HIGH, "Status worse since the last meeting: Green to Red")
NO_CHANGE = Flag("no_change", Severity.LOW, "Amber for 4 meetings with no change")
NO_DUE = Flag("no_due_date", Severity.LOW, "No due date")


def row(
    ref: str,
    title: str,
    area: int,
    lead: str,
    label: str,
    *,
    previous: str = "",
    change: str = "same",
    due: str = "Mar 2026",
    forecast: str = "",
    slip_days: int | None = None,
    narrative: str = "",
    evidence: str = "",
    updated: bool = True,
    late: bool = False,
    flags: tuple[Flag, ...] = (),
) -> LogRow:
    """One action in the log; ``label`` "" means never reported."""
    return LogRow(
        ref=ref,
        title=title,
        area=area,
        area_title=AREAS[area],
        lead_code=lead,
        lead_name=LEADS[lead],
        status=STATUS.get(label),
        status_label=label,
        status_colour=COLOUR.get(label, ""),
        previous_status_label=previous,
        change=change,
        due=due,
        forecast=forecast,
        slip_days=slip_days,
        narrative=narrative,
        narrative_on=date(2025, 9, 16) if narrative else None,
        evidence=evidence,
        updated_this_cycle=updated,
        late=late,
        flags=flags,
    )


def log_rows() -> tuple[LogRow, ...]:
    """Twelve actions, in plan order."""
    return (
        row(
            "1.1",
            "Agree a single front door for requests for EHC needs assessment",
            1,
            "HP",
            "Green",
            previous="Amber",
            change="better",
            due="Dec 2025",
            narrative="Front door live from 1 September; 42 requests through it so far.",
            evidence="Front door dashboard, September",
        ),
        row(
            "1.2",
            "Review EHCP quality assurance & moderation",
            1,
            "HP",
            "Amber",
            previous="Amber",
            due="Dec 2024",
            forecast="Jun 2025",
            slip_days=182,
            narrative=f"Moderation panel met twice. {SCRIPT} Audit tool agreed.",
            evidence="QA audit tool v2",
            flags=(SLIPPED, NO_CHANGE),
        ),
        row(
            "1.3",
            "Issue 60% of EHCPs within 20 weeks",
            1,
            "KT",
            "Red",
            previous="Green",
            change="worse",
            due="Mar 2025",
            narrative="Timeliness fell to 38% in August: two case officers left.",
            evidence="SEN2 monthly return",
            flags=(OVERDUE, WORSE),
        ),
        row(
            "1.10",
            "Publish the graduated approach toolkit for schools",
            1,
            "KT",
            "Blue",
            previous="Green",
            change="better",
            due="Jul 2025",
            narrative="Published on the Local Offer; launched at SENCO forum.",
            evidence="https://www.plymouth.example/local-offer/toolkit",
        ),
        row(
            "2.1",
            "Jointly commission speech and language therapy",
            2,
            "MR",
            "Amber",
            previous="Green",
            change="worse",
            due="Jan 2026",
            forecast="Apr 2026",
            slip_days=90,
            narrative="Procurement paused pending ICB budget sign-off.",
            flags=(SLIPPED,),
        ),
        row(
            "2.2",
            "Agree the joint funding protocol",
            2,
            "MR",
            "",
            change="none",
            due="TBC",
            updated=False,
            flags=(NO_UPDATE, NO_DUE),
        ),
        row(
            "2.3",
            "Map health contributions to EHC plans",
            2,
            "JB",
            "Green",
            previous="Green",
            due="Feb 2026",
            narrative="Mapping complete for 3 of 4 localities.",
            evidence="Mapping spreadsheet",
        ),
        row(
            "2.4",
            "Designated Clinical Officer in post",
            2,
            "JB",
            "Blue",
            previous="Blue",
            due="Apr 2025",
            narrative="In post since April.",
        ),
        row(
            "3.1",
            "Preparing for adulthood pathway from Year 9",
            3,
            "JB",
            "Red",
            previous="Red",
            due="Sep 2024",
            narrative="Pathway drafted; consultation with young people's forum next month.",
            late=True,
            flags=(OVERDUE, NO_CHANGE),
        ),
        row(
            "3.2",
            "Supported internships: 20 places",
            3,
            "HP",
            "Green",
            previous="",
            change="new",
            due="Jul 2026",
            narrative="14 places confirmed with 6 employers.",
            evidence="Internship tracker",
        ),
        row(
            "3.3",
            "Transition health reviews at 17",
            3,
            "KT",
            "Amber",
            previous="Amber",
            due="Mar 2026",
            updated=False,
            narrative="GP practices briefed.",
            flags=(NO_UPDATE,),
        ),
        row(
            "3.4",
            "Independent travel training offer",
            3,
            "MR",
            "Green",
            previous="Green",
            due="Dec 2025",
            narrative='=HYPERLINK("http://evil.example","click") is not a formula',
        ),
    )


def worst_first(rows: tuple[LogRow, ...]) -> tuple[LogRow, ...]:
    """The flagged rows, worst first, then in plan order (as workflows/digest/build.py promises)."""
    flagged = [r for r in rows if r.flags]
    return tuple(sorted(flagged, key=lambda r: -(r.worst or 0)))


def area_counts(rows: tuple[LogRow, ...]) -> tuple[AreaCount, ...]:
    out = []
    for number, title in AREAS.items():
        now: dict[str, int] = {}
        before: dict[str, int] = {}
        for r in rows:
            if r.area != number:
                continue
            label = r.status_label or "Not reported"
            now[label] = now.get(label, 0) + 1
            if r.change != "new":
                was = r.previous_status_label or "Not reported"
                before[was] = before.get(was, 0) + 1
        out.append(AreaCount(number, title, now, before))
    return tuple(out)


def trend(areas: tuple[AreaCount, ...], meeting: date) -> tuple[Trend, ...]:
    """Three past meetings then this one."""
    past = (
        {"Green": 1, "Amber": 2, "Red": 1},
        {"Green": 2, "Amber": 1, "Red": 1},
        {"Green": 1, "Amber": 2, "Blue": 1},
    )
    out = [
        Trend(meeting - timedelta(weeks=6 * (3 - i)), {a.title: dict(c) for a in areas})
        for i, c in enumerate(past)
    ]
    out.append(Trend(meeting, {a.title: dict(a.counts) for a in areas}))
    return tuple(out)


def digest(**changes: object) -> Digest:
    """A digest for the Local Area SEND Improvement Board meeting on Tue 30 Sep 2025."""
    rows = log_rows()
    areas = area_counts(rows)
    meeting = date(2025, 9, 30)
    base = Digest(
        plan_code="PLY",
        plan_title="Plymouth Local Area SEND Written Statement of Action",
        group_code="SIB",
        group_name="Local Area SEND Improvement Board",
        meeting_date=meeting,
        papers_deadline=date(2025, 9, 23),
        previous_meeting=date(2025, 8, 19),
        generated_at=datetime(2025, 9, 23, 17, 5),
        scale=SCALE,
        exceptions=worst_first(rows),
        log=rows,
        areas=areas,
        not_replied=(
            PersonLine("MR", "Morwenna Rowe", 3, replied=False, escalated=True),
            PersonLine("KT", "Kit Trelawny", 3, replied=False, escalated=False),
        ),
        escalated=(PersonLine("MR", "Morwenna Rowe", 3, replied=False, escalated=True),),
        risks=(
            RiskLine(
                "1.3",
                "Loss of case officers delays EHCPs",
                "Agency cover & recruitment drive",
                "Kit Trelawny",
                "new",
            ),
            RiskLine("Area 2", "ICB budget not agreed", "Escalated to ICB board", "MR", "updated"),
        ),
        dead_letters=(
            DeadLetter(
                "chase",
                "JB",
                "550 mailbox unavailable",
                datetime(2025, 9, 18, 9, 0),
            ),
        ),
        invitees=(
            Invitee("Director of Children's Services", "Chair", invited=True),
            Invitee("Designated Clinical Officer", "Health", invited=True),
            Invitee("Parent Carer Forum representative", "Parent carers", invited=False),
        ),
        trend=trend(areas, meeting),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def big_digest(actions: int = 5000) -> Digest:
    """A digest with ``actions`` rows, for timing the renderers."""
    rows = log_rows()
    many = tuple(
        replace(rows[i % len(rows)], ref=f"{1 + i // 100}.{1 + i % 100}") for i in range(actions)
    )
    return digest(log=many, exceptions=worst_first(many), areas=area_counts(many))
