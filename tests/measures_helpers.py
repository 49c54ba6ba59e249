"""Shared by the measures and risks tests: the Plymouth plan, people, scorecard and register in
a store."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from chaser.importing import import_people, import_plan
from chaser.measures_import import Outcome, import_register, import_scorecard
from tests.conftest import MAPPING, NOW, PEOPLE_CSV, PLAN_XLSX, ROOT
from workflows.measures.mapping import load_scorecard_mapping
from workflows.plan.mapping import load_mapping
from workflows.risks.mapping import load_register_mapping
from workflows.store.models import Person, Plan, Reply

SAMPLES = ROOT / "chaser" / "samples" / "plymouth_measures"
SCORECARD = SAMPLES / "plymouth_scorecard_2025.xlsx"
READINGS = SAMPLES / "plymouth_readings_aug_2025.csv"
REGISTER = SAMPLES / "plymouth_risk_register_2025.xlsx"
SCORECARD_MAPPING = ROOT / "config" / "mappings" / "scorecards" / "plymouth.yaml"
REGISTER_MAPPING = ROOT / "config" / "mappings" / "risks" / "plymouth.yaml"
PLAN = "plymouth-send-2023"

SCORECARD_HEADER = [
    "Ref",
    "Measure",
    "Unit",
    "Good is",
    "Baseline",
    "Baseline period",
    "Trajectory",
    "Target",
    "Target date",
    "Amber within %",
    "Frequency",
    "From",
    "To",
    "Owner",
    "Actions evidenced",
    "Source",
    "Apr 2025",
    "May 2025",
]


def with_plan(engine: Engine) -> None:
    import_people(engine, PEOPLE_CSV, now=NOW)
    outcome = import_plan(engine, PLAN_XLSX, mapping=load_mapping(MAPPING), now=NOW)
    assert outcome.errors == []


def scorecard(engine: Engine, path: Path = SCORECARD, *, now: datetime = NOW) -> Outcome:
    return import_scorecard(
        engine,
        path,
        mapping=load_scorecard_mapping(SCORECARD_MAPPING),
        now=now,
        given_by="Morwenna Tregear",
    )


def register(engine: Engine, path: Path = REGISTER, *, now: datetime = NOW) -> Outcome:
    return import_register(
        engine,
        path,
        mapping=load_register_mapping(REGISTER_MAPPING),
        now=now,
        given_by="Morwenna Tregear",
    )


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Scorecard (title row)"])
        w.writerow(header)
        w.writerows(rows)
    return path


def measure_row(**changes: object) -> list[object]:
    base: dict[str, object] = {
        "Ref": "M1",
        "Measure": "EHCP 20-week timeliness (new EHCPs issued within 20 weeks)",
        "Unit": "%",
        "Good is": "Higher",
        "Baseline": 38.5,
        "Baseline period": "Mar 2024",
        "Trajectory": "Sep 2025: 60; Mar 2026: 75",
        "Target": 75,
        "Target date": "Mar 2026",
        "Amber within %": 15,
        "Frequency": "Monthly",
        "From": "Apr 2024",
        "To": "Mar 2027",
        "Owner": "AP",
        "Actions evidenced": "6.10, 6.11",
        "Source": "SEN2",
        "Apr 2025": 49,
        "May 2025": 53,
    }
    base.update(changes)
    return [base[h] for h in SCORECARD_HEADER]


def reply_from(engine: Engine, code: str, *, channel: str = "email", at: datetime = NOW) -> Reply:
    with Session(engine) as s:
        plan = s.exec(select(Plan).where(Plan.code == PLAN)).one()
        person = s.exec(select(Person).where(Person.code == code)).one()
        reply = Reply(
            plan_id=plan.id,
            channel=channel,
            received_at=at,
            sender="x@example.org",
            person_id=person.id,
            verdict="applied",
        )
        s.add(reply)
        s.commit()
        s.refresh(reply)
        return reply


def at(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)
