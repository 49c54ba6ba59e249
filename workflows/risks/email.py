"""Risk reviews written in an emailed reply: "Risk R3: likelihood now 4, impact 3, mitigation:
two locum EPs start in October", "Risk R5: closed". Pure :func:`extract_reviews` finds them;
:func:`apply_emailed_reviews` applies them to the reply's plan's register.

A review line starts with "Risk" and the risk's code, then a colon or dash. Its parts,
separated by commas or semicolons: ``likelihood [now|is] N``, ``impact [now|is] N`` (each 1–5),
``mitigation: …`` (the rest of the line), ``closed``, ``next review DATE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from workflows.calendar.cycles import LONDON
from workflows.plan.dates import parse_date_cell
from workflows.risks.scoring import RatingProblem, check_rating
from workflows.risks.store import RiskReview, review_risk, scoring_of
from workflows.store.measures_models import RiskChange
from workflows.store.models import Reply, Risk

_LINE = re.compile(
    r"^\s*risk\s+(?P<code>[A-Za-z]{0,4}\d+[A-Za-z0-9.]*)\s*[:\-–]\s*(?P<rest>\S.*)$",
    re.IGNORECASE,
)
_RATING = re.compile(
    r"\b(?P<field>likelihood|impact)\s*(?:(?:is\s+)?now|is|=|:|to|of)?\s*(?:(?:is\s+)?now\s+)?"
    r"(?P<value>[^\s,;]+)",
    re.IGNORECASE,
)
_MITIGATION = re.compile(r"\bmitigation\s*[:\-–]?\s*(?P<text>.+)$", re.IGNORECASE)
_REVIEW = re.compile(
    r"\bnext\s+review\s*(?:date|by|on)?\s*[:\-–]?\s*(?P<when>[^,;]+)", re.IGNORECASE
)
_CLOSED = re.compile(r"\b(?:closed|close it|can be closed)\b", re.IGNORECASE)


@dataclass(frozen=True)
class EmailReview:
    code: str
    review: RiskReview | None  # None when the line has a problem
    problems: tuple[str, ...]
    line: str


def extract_reviews(text: str) -> list[EmailReview]:
    """Every risk review line in ``text`` (quoted lines are not read)."""
    out: list[EmailReview] = []
    for raw in text.splitlines():
        if raw.lstrip().startswith(">"):
            continue
        m = _LINE.match(raw)
        if m is None:
            continue
        code, rest = m.group("code").upper(), m.group("rest").strip()
        mitigation = None
        mit = _MITIGATION.search(rest)
        if mit is not None:
            mitigation = mit.group("text").strip()
            rest = rest[: mit.start()]
        problems: list[str] = []
        ratings: dict[str, int] = {}
        for r in _RATING.finditer(rest):
            field = r.group("field").lower()
            got = check_rating(r.group("value"), field=field, ref=code)  # type: ignore[arg-type]
            if isinstance(got, RatingProblem):
                problems.append(got.message)
            else:
                ratings[field] = got
        review_date: date | None = None
        rv = _REVIEW.search(rest)
        if rv is not None:
            parsed = parse_date_cell(rv.group("when").strip())
            if parsed.date is None:
                problems.append(
                    f"risk {code}: next review {rv.group('when').strip()!r} is not a date; "
                    "write e.g. '31 October 2025' or 'Oct 2025'"
                )
            else:
                review_date = parsed.date.last_day
        close = _CLOSED.search(rest) is not None
        if (
            not ratings
            and mitigation is None
            and review_date is None
            and not close
            and not problems
        ):
            problems.append(
                f"risk {code}: nothing to change was found in {rest!r}; write e.g. 'Risk {code}: "
                "likelihood now 4, impact 3, mitigation: …' (likelihood and impact 1–5)"
            )
        review = None
        if not problems:
            review = RiskReview(
                likelihood=ratings.get("likelihood"),
                impact=ratings.get("impact"),
                mitigation=mitigation,
                review_date=review_date,
                close=close,
                note="reviewed by email",
            )
        out.append(EmailReview(code, review, tuple(problems), raw.strip()))
    return out


@dataclass(frozen=True)
class AppliedReview:
    code: str
    line: str
    change: RiskChange | None
    problems: tuple[str, ...] = ()

    @property
    def kept(self) -> bool:
        return not self.problems


def apply_emailed_reviews(
    session: Session, reply: Reply, text: str, *, now: datetime
) -> list[AppliedReview]:
    """Apply every review ``text`` holds to ``reply``'s plan's risks, recorded as ``reply``'s
    sender and channel; a review naming no risk of the plan, or with a rating off the scale,
    is returned with its problems and changes nothing. Does not commit."""
    if reply.plan_id is None:
        return []
    risks = {
        r.code.upper(): r
        for r in session.exec(select(Risk).where(Risk.plan_id == reply.plan_id, Risk.code != ""))
    }
    scoring = scoring_of(session, reply.plan_id)
    today = now.astimezone(LONDON).date()
    out: list[AppliedReview] = []
    for found in extract_reviews(text):
        risk = risks.get(found.code)
        if risk is None:
            known = ", ".join(sorted(risks)) or "none"
            out.append(
                AppliedReview(
                    found.code,
                    found.line,
                    None,
                    (
                        f"there is no risk {found.code} in this plan's register "
                        f"(its risks: {known})",
                    ),
                )
            )
            continue
        if found.review is None:
            out.append(AppliedReview(found.code, found.line, None, found.problems))
            continue
        change = review_risk(
            session,
            risk,
            found.review,
            now=now,
            today=today,
            channel=reply.channel,
            person_id=reply.person_id,
            source=f"reply {reply.id}",
            reply_id=reply.id,
            scoring=scoring,
        )
        out.append(AppliedReview(found.code, found.line, change))
    return out
