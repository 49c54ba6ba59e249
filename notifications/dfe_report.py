"""The council's own assessment for the Department for Education before each review (§7 of the
improvement notice): a DOCX in the board paper's style and an XLSX of the same figures.

Built from the same :class:`~workflows.digest.contents.Digest` the board gets, so every figure
agrees with the board paper and the secretary's pages, plus two things only this report needs:
who the partners are (each lead's organisation, from the people directory's roles) and the
governance record (meetings, invitations, digests). Pure functions, no logging: the contents
hold people's names and words.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from openpyxl import load_workbook

from notifications.digest_render import (
    NOT_REPORTED,
    _count,
    _dated,
    _docx_table,
    _n,
    _para,
    area_table,
    digest_xlsx,
    highlight_report,
    start_board_paper,
)
from workflows.digest.config import BoardPaper
from workflows.digest.contents import Digest, LogRow

UNKNOWN_ORGANISATION = "The council (no other organisation in the lead's role)"
#: Capitals in roles that are posts or subjects, not organisations.
_NOT_ORGANISATIONS = {"SEND", "DMO", "CEO", "CEX", "DCS", "CMO", "IGOS", "IGOs", "EPS", "SD"}
_BRACKETS = re.compile(r"\(([^()]*)\)\s*$")
_DASH = re.compile(r"\s[–—-]\s")


@dataclass(frozen=True)
class GovernanceLine:
    """One meeting of the board in the period: what the records show of it."""

    meeting: date
    held: bool  # its date has passed
    invited: int  # addresses that hold its invitation
    mandatory_missing: tuple[str, ...]  # mandatory invitees not on it
    digest_sent: bool
    #: Who attended and who sent apologies, as the secretary recorded them after the meeting
    #: (``chaser``'s board pages); None when nothing was recorded.
    attended: tuple[str, ...] | None = None
    apologies: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartnerLine:
    organisation: str
    leads: int
    actions: int
    updated: int  # this cycle
    complete: int
    with_evidence: int
    silent: int  # leads not replied this cycle


def organisation(role: str) -> str:
    """The organisation a directory role names, as councils write roles: "Head of X – Devon
    ICB" → "Devon ICB"; "CMO NHS Devon" → "NHS Devon"; "LSW Assistant Director" → "LSW";
    "Director of Children's Services (DCS PCC)" → "PCC"; "" when the role names none (a
    council post such as "Head of SEND")."""
    role = role.strip()
    if not role:
        return ""
    parts = _DASH.split(role)
    if len(parts) > 1:
        return parts[-1].strip()
    if "NHS Devon" in role:
        return "NHS Devon"
    first = role.split()[0]
    if len(first) >= 2 and first.isupper() and first not in _NOT_ORGANISATIONS:
        return first
    found = _BRACKETS.search(role)
    if found and found.group(1).split():
        last = found.group(1).split()[-1]
        if last.isupper() and last not in _NOT_ORGANISATIONS:
            return last
    return ""


def partners(digest: Digest, roles: Mapping[str, str]) -> list[PartnerLine]:
    """Each partner organisation's part this cycle, from the leads of the actions in scope."""
    silent = {p.code for p in digest.not_replied}
    by_org: dict[str, list[LogRow]] = {}
    for row in digest.log:
        org = organisation(roles.get(row.lead_code, "")) or UNKNOWN_ORGANISATION
        by_org.setdefault(org, []).append(row)
    lines = [
        PartnerLine(
            organisation=org,
            leads=len({r.lead_code for r in rows if r.lead_code}),
            actions=len(rows),
            updated=sum(1 for r in rows if r.updated_this_cycle),
            complete=sum(1 for r in rows if r.status == "complete"),
            with_evidence=sum(1 for r in rows if r.evidence.strip()),
            silent=len({r.lead_code for r in rows if r.lead_code in silent}),
        )
        for org, rows in by_org.items()
    ]
    return sorted(lines, key=lambda p: (p.organisation == UNKNOWN_ORGANISATION, -p.actions))


MISSED_RULES = ("overdue", "milestone_missed")


def dfe_docx(
    digest: Digest,
    *,
    as_of: date,
    roles: Mapping[str, str],
    governance: Sequence[GovernanceLine],
    cover: BoardPaper | None = None,
    template: bytes | None = None,
) -> bytes:
    """The stock-take: progress by area, the measures dashboard, milestones met and missed,
    slippage with reasons, the evidence log, partners' part and the governance record."""
    cover = cover or BoardPaper()
    title = f"Self-assessment for the Department for Education, as at {as_of:%-d %B %Y}"
    doc = start_board_paper(digest, cover, title=title, template=template)
    doc.add_heading(digest.plan_title, level=0)
    doc.add_heading(title, level=1)
    _docx_table(
        doc,
        ("Report details", ""),
        [
            (k, v)
            for k, v in (
                ("Plan", digest.plan_title),
                ("As at", f"{as_of:%-d %B %Y}"),
                (
                    "Next board",
                    f"{digest.group_name or digest.group_code}, {digest.meeting_date:%-d %B %Y}",
                ),
                ("Lead member", cover.lead_member),
                ("Director", cover.director),
                ("Contact", cover.contact),
                ("Classification", cover.classification),
            )
            if v
        ],
        widths=(4.5, 12.5),
    )

    doc.add_heading("1. Progress against each area", level=1)
    table = area_table(digest)
    _docx_table(
        doc,
        ["Area", *(lv.label for lv in table.labels), "Total"],
        [[line.title, *(_count(c) for c in line.cells), _count(line.total)] for line in table.rows],
    )
    if digest.previous_meeting:
        _para(doc, f"In brackets: the change since {digest.previous_meeting:%-d %B %Y}.")
    highlight_report(doc, digest)

    doc.add_heading("2. Dashboard of impact measures", level=1)
    measures = digest.scorecard.measures if digest.scorecard else ()
    if measures:
        _docx_table(
            doc,
            ("Ref", "Measure", "Target", "Actual", "Trajectory", "On track"),
            [
                (
                    m.code,
                    m.name,
                    m.target or "–",
                    f"{m.latest} ({m.period})" if m.latest else "No figure yet",
                    m.expected or "–",
                    (
                        "Yes" if m.rag == "green" else "No" if m.rag == "red" else m.rag_word,
                        {"green": "00703C", "amber": "FFDD00", "red": "D4351C"}.get(m.rag, ""),
                    ),
                )
                for m in measures
            ],
        )
        _para(doc, "On track: the latest figure against the trajectory to the next milestone.")
    else:
        _para(doc, "No impact measures are recorded for this plan (`chaser measures import`).")

    doc.add_heading("3. Milestones met and missed", level=1)
    met = [r for r in digest.log if r.status == "complete"]
    missed = [r for r in digest.log if any(f.rule in MISSED_RULES for f in r.flags)]
    _para(doc, f"Met: {_n(len(met), 'action')} complete. Missed: {_n(len(missed), 'action')}.")
    if missed:
        _docx_table(
            doc,
            ("Ref", "Action", "Due", "Status", "Why"),
            [
                (
                    r.ref,
                    r.title,
                    r.due,
                    (r.status_label or NOT_REPORTED, r.status_colour),
                    "; ".join(f.reason for f in r.flags if f.rule in MISSED_RULES),
                )
                for r in missed
            ],
            size=8,
        )
    if met:
        _para(doc, "Complete: " + ", ".join(r.ref for r in met) + ".")

    doc.add_heading("4. Slippage, with reasons", level=1)
    slipped = [r for r in digest.log if r.slip_days and r.slip_days > 0]
    if slipped:
        _docx_table(
            doc,
            ("Ref", "Action", "Baseline", "Forecast", "Slip", "Reason given"),
            [
                (
                    r.ref,
                    r.title,
                    r.due,
                    r.forecast,
                    f"{r.slip_days} days",
                    _dated(r.narrative, r.narrative_on) or "No reason given.",
                )
                for r in slipped
            ],
            size=8,
        )
    else:
        _para(doc, "No action's forecast is later than its baseline.")

    doc.add_heading("5. Partners' part", level=1)
    _para(
        doc,
        "Each lead's organisation, from the people directory's roles: the actions its leads hold "
        "and what they reported this cycle.",
    )
    _docx_table(
        doc,
        ("Organisation", "Leads", "Actions", "Updated", "Complete", "With evidence", "Silent"),
        [
            (
                p.organisation,
                str(p.leads),
                str(p.actions),
                str(p.updated),
                str(p.complete),
                str(p.with_evidence),
                str(p.silent),
            )
            for p in partners(digest, roles)
        ],
    )

    doc.add_heading("6. Governance", level=1)
    held = [g for g in governance if g.held]
    recorded = [g for g in held if g.attended is not None]
    _para(
        doc,
        f"{_n(len(held), 'meeting')} of the {digest.group_name or digest.group_code} held in "
        f"the period; attendance recorded for {len(recorded)} of them (the secretary records "
        "it on the board pages after each meeting).",
    )
    if governance:
        _docx_table(
            doc,
            (
                "Meeting",
                "Held",
                "Attended",
                "Invitations sent",
                "Mandatory invitees missing",
                "Digest sent",
            ),
            [
                (
                    f"{g.meeting:%-d %b %Y}",
                    "Yes" if g.held else "Not yet",
                    _attendance(g),
                    str(g.invited),
                    ", ".join(g.mandatory_missing) or "None",
                    "Yes" if g.digest_sent else "No",
                )
                for g in governance
            ],
        )

    doc.add_heading("7. Evidence log", level=1)
    evidence = [r for r in digest.log if r.evidence.strip()]
    if evidence:
        _docx_table(
            doc,
            ("Ref", "Lead", "Evidence", "Latest update"),
            [
                (
                    r.ref,
                    r.lead_name or r.lead_code,
                    r.evidence,
                    f"{r.narrative_on:%-d %b %Y}" if r.narrative_on else "",
                )
                for r in evidence
            ],
            widths=(1.2, 3.0, 10.3, 2.5),
            size=8,
        )
    else:
        _para(doc, "No evidence is recorded against the actions.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _attendance(line: GovernanceLine) -> str:
    if line.attended is None:
        return "Not recorded" if line.held else ""
    text = ", ".join(line.attended) or "Nobody recorded"
    return text + (f" (apologies: {', '.join(line.apologies)})" if line.apologies else "")


def dfe_xlsx(digest: Digest, *, roles: Mapping[str, str]) -> bytes:
    """The board's workbook (log, exceptions, status by area, measures, risks) with a sheet of
    partners' part added."""
    wb = load_workbook(io.BytesIO(digest_xlsx(digest)))
    ws = wb.create_sheet("Partners")
    ws.append(
        ("Organisation", "Leads", "Actions", "Updated", "Complete", "With evidence", "Silent")
    )
    for p in partners(digest, roles):
        ws.append(
            (p.organisation, p.leads, p.actions, p.updated, p.complete, p.with_evidence, p.silent)
        )
    ws.column_dimensions["A"].width = 40
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
