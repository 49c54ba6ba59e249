"""The risk register: 5×5 scoring with configurable bands, the register import (merging, every
change in history), owners' reviews by email, and the new / escalated / overdue-for-review /
closed lists."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chaser.cli import cli
from tests.conftest import PEOPLE_CSV, PLAN_XLSX, ROOT
from tests.measures_helpers import PLAN, REGISTER, at, register, reply_from, with_plan, write_csv
from workflows.risks.email import apply_emailed_reviews, extract_reviews
from workflows.risks.mapping import RegisterMapping
from workflows.risks.scoring import RatingProblem, RiskFacts, RiskScoring, check_rating, classify
from workflows.risks.store import RiskReview, register_lines, review_risk, risk_history
from workflows.store.measures_models import RiskChange, RiskScale
from workflows.store.models import Person, Plan, Risk

HEADER = [
    "Risk ref",
    "Risk",
    "Cause",
    "Effect",
    "Risk owner",
    "Linked actions",
    "Likelihood",
    "Impact",
    "Score",
    "Mitigation",
    "Target score",
    "Review date",
    "Status",
]


def _row(**changes: object) -> list[object]:
    base: dict[str, object] = {
        "Risk ref": "R1",
        "Risk": "EP capacity",
        "Cause": "Vacancies",
        "Effect": "Late EHCPs",
        "Risk owner": "AG",
        "Linked actions": "6.10",
        "Likelihood": 4,
        "Impact": 4,
        "Score": 16,
        "Mitigation": "Locum EPs",
        "Target score": 8,
        "Review date": "30/09/2025",
        "Status": "Open",
    }
    base.update(changes)
    return [base[h] for h in HEADER]


def test_it_checks_likelihood_and_impact_are_on_the_five_by_five_scale() -> None:
    assert check_rating(4, field="likelihood") == 4
    assert check_rating("5", field="impact") == 5
    seven = check_rating(7, field="likelihood", ref="R3")
    assert isinstance(seven, RatingProblem)
    assert seven.message == (
        "risk R3: likelihood '7' is not on the 5×5 scale; write a whole number from 1 (rare) "
        "to 5 (almost certain)"
    )
    assert isinstance(check_rating("high", field="impact"), RatingProblem)
    assert isinstance(check_rating(2.5, field="impact"), RatingProblem)


def test_it_bands_scores_as_the_plan_configures() -> None:
    default = RiskScoring()
    assert [default.band(s).name for s in (1, 4, 8, 12, 15, 25)] == [  # type: ignore[union-attr]
        "Low",
        "Medium",
        "High",
        "High",
        "Very high",
        "Very high",
    ]
    own = RiskScoring.model_validate(
        {
            "bands": [
                {"name": "Red", "min": 12},
                {"name": "Amber", "min": 5},
                {"name": "Green", "min": 1},
            ],
            "escalate_at": 12,
        }
    )
    assert [own.band(s).name for s in (4, 5, 12)] == ["Green", "Amber", "Red"]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="the lowest band must start at score 1"):
        RiskScoring.model_validate({"bands": [{"name": "Red", "min": 10}]})


def test_it_lists_new_escalated_overdue_and_closed_risks() -> None:
    since, today = at(2025, 8, 19), date(2025, 9, 26)
    scoring = RiskScoring()

    def facts(**kw: object) -> RiskFacts:
        base: dict[str, object] = dict(
            created_at=at(2025, 1, 1),
            score=12,
            score_at_since=12,
            closed=False,
            closed_at=None,
            review_date=date(2025, 12, 1),
        )
        base.update(kw)
        return RiskFacts(**base)  # type: ignore[arg-type]

    assert classify(facts(), since=since, today=today, scoring=scoring) == ()
    assert classify(facts(score=16), since=since, today=today, scoring=scoring) == ("escalated",)
    # rose, but stayed below the threshold: not escalated
    assert classify(facts(score_at_since=6), since=since, today=today, scoring=scoring) == ()
    # added since the last meeting already high: new, not escalated
    assert classify(
        facts(created_at=at(2025, 9, 1), score=20, score_at_since=None),
        since=since,
        today=today,
        scoring=scoring,
    ) == ("new",)
    assert classify(
        facts(review_date=date(2025, 9, 1)), since=since, today=today, scoring=scoring
    ) == ("overdue_for_review",)
    assert classify(
        facts(closed=True, closed_at=at(2025, 9, 2), review_date=date(2025, 9, 1)),
        since=since,
        today=today,
        scoring=scoring,
    ) == ("closed",)


def test_it_imports_the_plymouth_register_with_its_scoring(engine: Engine) -> None:
    with_plan(engine)
    outcome = register(engine)
    assert outcome.errors == [] and outcome.warnings == []
    assert outcome.counts == {"risks": 6, "created": 6, "updated": 0, "unchanged": 0}
    with Session(engine) as s:
        r3 = s.exec(select(Risk).where(Risk.code == "R3")).one()
        owner = s.get(Person, r3.owner_id)
        assert owner is not None and owner.code == "FO"
        assert (r3.likelihood, r3.impact, r3.target_score) == (3, 4, 8)
        assert r3.review_date == date(2025, 9, 30) and r3.status == "open"
        assert r3.action_refs == ["7.9", "7.11"] and r3.action_id is not None
        r6 = s.exec(select(Risk).where(Risk.code == "R6")).one()
        assert r6.closed and r6.status == "closed"
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        scale = s.get(RiskScale, plan.id)
        assert scale is not None and scale.escalate_at == 15
        history = risk_history(s, r3.id or 0)
        assert [(h.kind, h.given_by, h.score_after) for h in history] == [
            ("created", "Morwenna Tregear", 12)
        ]
        assert plan.id is not None
        lines = register_lines(s, plan.id, since=at(2026, 11, 1), today=date(2025, 9, 20))
    assert [x.code for x in lines] == ["R1", "R2", "R3", "R5", "R4", "R6"]  # by score, closed last
    assert lines[0].band == "Very high" and lines[0].score == 16
    assert "overdue_for_review" in next(x for x in lines if x.code == "R5").labels


def test_it_keeps_every_change_of_a_reimported_register_with_who_and_when(
    engine: Engine, tmp_path: Path
) -> None:
    with_plan(engine)
    assert register(engine, write_csv(tmp_path / "a.csv", HEADER, [_row()]), now=at(2025, 8, 1)).ok
    later = at(2025, 9, 1)
    outcome = register(
        engine,
        write_csv(tmp_path / "b.csv", HEADER, [_row(Likelihood=5, Mitigation="Agency EPs")]),
        now=later,
    )
    assert outcome.counts["updated"] == 1
    again = register(engine, tmp_path / "b.csv", now=at(2025, 9, 2))
    assert again.counts["unchanged"] == 1
    with Session(engine) as s:
        r1 = s.exec(select(Risk).where(Risk.code == "R1")).one()
        history = risk_history(s, r1.id or 0)
    assert [(h.kind, h.recorded_at, h.score_before, h.score_after) for h in history] == [
        ("created", at(2025, 8, 1), None, 16),
        ("import", later, 16, 20),
    ]
    assert history[1].changes == {
        "likelihood": [4, 5],
        "mitigation": ["Locum EPs", "Agency EPs"],
    }
    assert history[1].given_by == "Morwenna Tregear" and history[1].source == "b.csv row 3"


def test_it_refuses_a_register_with_a_likelihood_of_seven_naming_the_cell(
    engine: Engine, tmp_path: Path
) -> None:
    with_plan(engine)
    bad = write_csv(
        tmp_path / "bad.csv",
        HEADER,
        [_row(Likelihood=7), _row(**{"Risk ref": "R2", "Status": "Parked"})],
    )
    outcome = register(engine, bad)
    assert [(e.kind, e.row, e.column, e.header, e.value) for e in outcome.errors] == [
        ("not_a_rating", 3, "G", "Likelihood", "7"),
        ("unknown_status", 4, "M", "Status", "parked"),
    ]
    assert "likelihood '7' is not on the 5×5 scale; write a whole number from 1 (rare) to 5" in (
        outcome.errors[0].message
    )
    with Session(engine) as s:
        assert s.exec(select(Risk)).all() == []


def test_it_reads_risk_reviews_written_in_an_email() -> None:
    found = extract_reviews(
        "Hi,\nRisk R3: likelihood now 4, mitigation: two extra clinics a week from October\n"
        "risk r5 - impact is 2; next review 31 October 2025\nRisk R6: closed\n"
        "Risk R2: likelihood 7\n> Risk R1: likelihood 1\n"
    )
    assert [f.code for f in found] == ["R3", "R5", "R6", "R2"]
    r3, r5, r6, r2 = found
    assert r3.review == RiskReview(
        likelihood=4, mitigation="two extra clinics a week from October", note="reviewed by email"
    )
    assert r5.review is not None and r5.review.impact == 2
    assert r5.review.review_date == date(2025, 10, 31)
    assert r6.review is not None and r6.review.close
    assert r2.review is None and r2.problems == (
        "risk R2: likelihood '7' is not on the 5×5 scale; write a whole number from 1 (rare) to "
        "5 (almost certain)",
    )


def test_it_applies_an_emailed_review_so_the_risk_is_escalated(engine: Engine) -> None:
    with_plan(engine)
    register(engine, now=at(2025, 7, 1))
    reply = reply_from(engine, "FO", at=at(2025, 9, 3))
    sender, reply_id = reply.person_id, reply.id
    with Session(engine) as s:
        s.add(reply)
        results = apply_emailed_reviews(
            s,
            reply,
            "Risk R3: likelihood now 4, mitigation: extra clinics\nRisk R9: impact 2",
            now=at(2025, 9, 3),
        )
        s.commit()
        assert [(r.code, r.kept) for r in results] == [("R3", True), ("R9", False)]
        assert "there is no risk R9 in this plan's register" in results[1].problems[0]
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        assert plan.id is not None
        lines = {
            x.code: x
            for x in register_lines(s, plan.id, since=at(2025, 8, 19), today=date(2025, 9, 26))
        }
        change = s.exec(select(RiskChange).order_by(col(RiskChange.id).desc())).first()
    r3 = lines["R3"]
    assert (r3.score, r3.score_at_since, r3.band) == (16, 12, "Very high")
    assert r3.labels == ("escalated",) and r3.changes_since == 1
    assert r3.review_date == date(2025, 9, 3) + timedelta(days=91)
    assert change is not None
    assert (change.person_id, change.reply_id, change.channel) == (sender, reply_id, "email")
    assert change.changes["likelihood"] == [3, 4]


def test_it_records_a_review_that_closes_a_risk(engine: Engine) -> None:
    with_plan(engine)
    register(engine, now=at(2025, 7, 1))
    with Session(engine) as s:
        r4 = s.exec(select(Risk).where(Risk.code == "R4")).one()
        review_risk(
            s,
            r4,
            RiskReview(close=True, note="PPCV attendance back to full"),
            now=at(2025, 9, 10),
            today=date(2025, 9, 10),
            channel="form",
            given_by="Jonah Brimblecombe",
        )
        s.commit()
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        assert plan.id is not None
        lines = {
            x.code: x
            for x in register_lines(s, plan.id, since=at(2025, 8, 19), today=date(2025, 9, 26))
        }
        last = risk_history(s, r4.id or 0)[-1]
    assert lines["R4"].labels == ("closed",) and lines["R4"].status == "closed"
    assert last.kind == "closed" and last.changes["note"] == ["", "PPCV attendance back to full"]


def test_the_register_mapping_rejects_an_unknown_field() -> None:
    with pytest.raises(ValueError, match="unknown field 'probability'"):
        RegisterMapping.model_validate(
            {
                "name": "x",
                "plan": {"code": "p"},
                "header": {"contains": ["Risk"]},
                "columns": {"title": "Risk", "probability": "P"},
            }
        )


def test_it_imports_and_lists_the_register_from_the_command_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> tuple[int, str, str]:
        r = CliRunner().invoke(cli, ["--db", db, "--config", str(ROOT / "config"), *args])
        return r.exit_code, r.stdout, r.stderr

    run("db", "upgrade")
    run("people", "import", str(PEOPLE_CSV))
    run("plan", "import", str(PLAN_XLSX))
    code, out, _ = run("risks", "import", str(REGISTER))
    assert code == 0 and "6 risks, 6 created" in out
    code, out, _ = run("risks", "list", "--on", "2025-09-20", "--only", "overdue_for_review")
    assert code == 0
    assert out.splitlines() == [
        "R5     9 High: Speech and language therapist posts stay unfilled — Tobias Carnsew, "
        "review 15 Aug 2025, open [new] [overdue for review]"
    ]
    code, out, _ = run("risks", "list", "--json")
    assert [r["code"] for r in json.loads(out)][:2] == ["R1", "R2"]
    bad = tmp_path / "bad.csv"
    write_csv(bad, HEADER, [_row(Likelihood=7)])
    code, _, err = run("risks", "import", str(bad))
    assert code == 1 and "likelihood '7' is not on the 5×5 scale" in err
