"""The reply form's risk review: each open register risk linked to an action is shown with its
likelihood, impact and mitigation; the owner may change them. Field names are
``risk-<id>-likelihood``, ``risk-<id>-impact`` and ``risk-<id>-mitigation``.

:func:`read_review_fields` checks a post (pure; the errors name the field and what is
expected); :func:`apply_form_reviews` applies the reviews a stored form post holds, recorded as
that reply's sender, channel and reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from workflows.calendar.cycles import LONDON
from workflows.risks.scoring import RatingProblem, check_rating
from workflows.risks.store import RiskReview, review_risk, scoring_of
from workflows.store.measures_models import RiskChange
from workflows.store.models import Action, Reply, Risk

FIELD = re.compile(r"^risk-(?P<id>\d+)-(?P<part>likelihood|impact|mitigation)$")
MAX_MITIGATION = 10_000


@dataclass(frozen=True)
class RiskField:
    """A register risk the form asks its owner to review."""

    id: int
    code: str
    title: str
    likelihood: int | None
    impact: int | None
    mitigation: str


@dataclass(frozen=True)
class ReviewError:
    field: str  # the posted field's name ("risk-3-likelihood")
    message: str


def read_review_fields(
    fields: Mapping[str, str], risks: Sequence[RiskField]
) -> tuple[dict[int, RiskReview], list[ReviewError]]:
    """The reviews a post gives (only risks whose fields changed), or what is wrong."""
    reviews: dict[int, RiskReview] = {}
    errors: list[ReviewError] = []
    for risk in risks:
        got: dict[str, int] = {}
        for part in ("likelihood", "impact"):
            name = f"risk-{risk.id}-{part}"
            text = fields.get(name, "").strip()
            if not text:
                continue
            rating = check_rating(text, field=part, ref=risk.code)
            if isinstance(rating, RatingProblem):
                word = "Likelihood" if part == "likelihood" else "Impact"
                errors.append(
                    ReviewError(
                        name,
                        f"{word} of risk {risk.code} must be a whole number from "
                        f"{rating.expected.removeprefix('a whole number from ')}",
                    )
                )
            else:
                got[part] = rating
        mname = f"risk-{risk.id}-mitigation"
        mitigation = fields.get(mname, "").replace("\r\n", "\n").strip()
        if len(mitigation) > MAX_MITIGATION:
            errors.append(
                ReviewError(mname, f"Mitigation must be {MAX_MITIGATION:,} characters or fewer")
            )
        changed = (
            got.get("likelihood", risk.likelihood) != risk.likelihood
            or got.get("impact", risk.impact) != risk.impact
            or (mitigation and mitigation != risk.mitigation)
        )
        if changed:
            reviews[risk.id] = RiskReview(
                likelihood=got.get("likelihood"),
                impact=got.get("impact"),
                mitigation=mitigation or None,
                note="reviewed on the form",
            )
    return reviews, errors


def risks_for_actions(session: Session, action_ids: Sequence[int]) -> dict[int, list[RiskField]]:
    """The open register risks linked to each action (by its id)."""
    out: dict[int, list[RiskField]] = {}
    if not action_ids:
        return out
    for r in session.exec(
        select(Risk)
        .where(col(Risk.action_id).in_(action_ids), col(Risk.closed).is_(False), Risk.code != "")
        .order_by(col(Risk.code))
    ):
        if r.id is not None and r.action_id is not None:
            out.setdefault(r.action_id, []).append(
                RiskField(
                    r.id, r.code, r.title or r.description, r.likelihood, r.impact, r.mitigation
                )
            )
    return out


def apply_form_reviews(session: Session, reply: Reply, *, now: datetime) -> list[RiskChange]:
    """Apply the risk reviews in a stored form post (``reply.raw``, the fields as posted) to
    the open risks linked to the action it answered. Does not commit."""
    try:
        fields = json.loads(reply.raw or "{}")
    except ValueError:
        return []
    if not isinstance(fields, dict) or not any(FIELD.match(str(k)) for k in fields):
        return []
    action = session.exec(
        select(Action).where(Action.plan_id == reply.plan_id, Action.ref == fields.get("action"))
    ).first()
    if action is None or action.id is None:
        return []
    linked = risks_for_actions(session, [action.id]).get(action.id, [])
    reviews, errors = read_review_fields({str(k): str(v) for k, v in fields.items()}, linked)
    if errors:
        return []  # the form refuses such a post before it is stored
    scoring = scoring_of(session, reply.plan_id) if reply.plan_id else None
    changes = []
    for risk_id, review in reviews.items():
        risk = session.get(Risk, risk_id)
        if risk is None:
            continue
        change = review_risk(
            session,
            risk,
            review,
            now=now,
            today=now.astimezone(LONDON).date(),
            channel=reply.channel,
            person_id=reply.person_id,
            source=f"reply {reply.id}",
            reply_id=reply.id,
            scoring=scoring,
        )
        if change is not None:
            changes.append(change)
    return changes
