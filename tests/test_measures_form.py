"""Figures and risk reviews through the real reply form: the lead is asked for this period's
figure of each measure their action evidences, and reviews the register risks linked to it."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from tests.measures_helpers import register, scorecard
from tests.test_web_form import World, _person_id, world  # noqa: F401
from workflows.store.measures_models import RiskChange
from workflows.store.models import Measure, MeasureReading, Reply, Risk


def test_it_asks_for_this_periods_figure_and_keeps_it_with_who_and_which_reply(
    world: World,  # noqa: F811
) -> None:
    assert "6.10" in world.refs
    scorecard(world.engine)
    page = world.client.get(world.url)
    assert "Figure for Aug 2025: EHCP 20-week timeliness" in page.text
    with Session(world.engine) as s:
        m1 = s.exec(select(Measure).where(Measure.code == "M1")).one()
    field = f"measure-{m1.id}"
    over = world.post("6.10", {"status": "Amber", "narrative": "More EPs.", field: "104"})
    assert over.status_code == 400
    assert "EHCP 20-week timeliness (new EHCPs issued within 20 weeks) must be a percentage" in (
        over.text
    )
    saved = world.post("6.10", {"status": "Amber", "narrative": "More EPs.", field: "46%"})
    assert saved.status_code == 303
    with Session(world.engine) as s:
        got = s.exec(
            select(MeasureReading)
            .where(MeasureReading.measure_id == m1.id)
            .order_by(col(MeasureReading.id).desc())
        ).first()
        reply = s.exec(select(Reply).order_by(col(Reply.id).desc())).first()
    assert got is not None and reply is not None
    assert (got.period_end, got.value, got.channel) == (date(2025, 8, 31), 46, "form")
    assert (got.person_id, got.reply_id) == (_person_id(world.engine, "AP"), reply.id)


def test_it_lets_the_lead_review_a_linked_risk_on_the_form(world: World) -> None:  # noqa: F811
    register(world.engine)
    with Session(world.engine) as s:
        r2 = s.exec(select(Risk).where(Risk.code == "R2")).one()
    assert r2.action_refs[0] in world.refs
    ref = r2.action_refs[0]
    page = world.client.get(world.url)
    assert "Review risk R2: Requests for EHC needs assessment exceed the forecast" in page.text
    assert "Currently likelihood 4 × impact 3 = 12" in page.text
    bad = world.post(
        ref, {"status": "Amber", "narrative": "Demand up.", f"risk-{r2.id}-likelihood": "7"}
    )
    assert bad.status_code == 400
    assert "Likelihood of risk R2 must be a whole number from 1 (rare) to 5 (almost certain)" in (
        bad.text
    )
    ok = world.post(
        ref,
        {
            "status": "Amber",
            "narrative": "Demand up.",
            f"risk-{r2.id}-likelihood": "5",
            f"risk-{r2.id}-impact": "3",
            f"risk-{r2.id}-mitigation": "Extra caseworkers from October",
        },
    )
    assert ok.status_code == 303
    with Session(world.engine) as s:
        risk = s.get(Risk, r2.id)
        change = s.exec(select(RiskChange).order_by(col(RiskChange.id).desc())).first()
    assert risk is not None and change is not None
    assert (risk.likelihood, risk.impact, risk.mitigation) == (
        5,
        3,
        "Extra caseworkers from October",
    )
    assert (change.kind, change.channel, change.score_before, change.score_after) == (
        "review",
        "form",
        12,
        15,
    )
    assert change.person_id == _person_id(world.engine, "AP")
