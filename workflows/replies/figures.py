"""Figures, risk reviews and milestones written in an emailed reply, kept with the reply.

A lead may write "EHCP 20-week timeliness: 61%", "Risk R3: likelihood now 4, mitigation: …" or
"milestone 2 done" in a reply, beside or instead of their actions' updates.
:func:`apply_figures_and_reviews` keeps them through :mod:`workflows.measures.email`,
:mod:`workflows.risks.email` and :mod:`workflows.board.milestones` (each records the reply's
sender and channel) and writes in ``reply.parsed`` what was kept and what was not, and why
(``figures``, ``risk_reviews``, ``milestones``). Intake calls it for a trusted sender; the
review queue calls it when the secretary applies a reply that was not trusted. Nothing here
commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from workflows.board.milestones import apply_milestones_done, milestones_done_in
from workflows.measures.email import apply_emailed_figures
from workflows.risks.email import apply_emailed_reviews
from workflows.store.models import Reply

__all__ = ["apply_figures_and_reviews", "figures_and_reviews_pending"]


def figures_and_reviews_pending(reply: Reply) -> bool:
    """Whether the reply's figures and risk reviews have not been looked for yet."""
    return "figures" not in (reply.parsed or {})


def apply_figures_and_reviews(
    session: Session, reply: Reply, *, now: datetime, refs_asked: Sequence[str] = ()
) -> int:
    """Keep the figures, risk reviews and milestones done of ``reply``'s text (a milestone with
    no ref is the one action asked about, ``refs_asked``); returns how many were kept. Looks
    only once per reply (a second call keeps nothing more)."""
    parsed: dict[str, Any] = dict(reply.parsed or {})
    if not figures_and_reviews_pending(reply) or reply.plan_id is None:
        return 0
    text = str(parsed.get("body") or "")
    figures = apply_emailed_figures(session, reply, text, now=now)
    reviews = apply_emailed_reviews(session, reply, text, now=now)
    parsed["figures"] = [
        {"code": f.code, "line": f.line[:300], "kept": f.kept, "problem": f.problem}
        for f in figures
    ]
    parsed["risk_reviews"] = [
        {"code": r.code, "line": r.line[:300], "kept": r.kept, "problems": list(r.problems)}
        for r in reviews
    ]
    done = milestones_done_in(text, refs_asked)
    changes, problems = (
        apply_milestones_done(session, reply, done, refs_asked=refs_asked, now=now)
        if done
        else ([], [])
    )
    parsed["milestones"] = {
        "said_done": [{"number": d.position, "ref": d.ref} for d in done],
        "marked": len(changes),
        "problems": problems,
    }
    reply.parsed = parsed  # a new dict, so the JSON column is written
    return sum(f.kept for f in figures) + sum(r.kept for r in reviews) + len(changes)
