"""The import's bulk insert stores exactly what SQLAlchemy's own insert stores, on each store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from workflows.plan.bulk import insert_many
from workflows.store.models import Action, ImportedRow, ImportRun, Plan, StatusChange

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ACTIONS: Any = Action.__table__  # type: ignore[attr-defined]
IMPORTED: Any = ImportedRow.__table__  # type: ignore[attr-defined]
CHANGES: Any = StatusChange.__table__  # type: ignore[attr-defined]


def _plan_and_run(s: Session, code: str) -> tuple[int, int]:
    plan = Plan(code=code, title=code, created_at=NOW)
    s.add(plan)
    s.flush()
    assert plan.id is not None
    run = ImportRun(plan_id=plan.id, source_name="p.xlsx", source_sha256="0" * 64, imported_at=NOW)
    s.add(run)
    s.flush()
    assert run.id is not None
    return plan.id, run.id


def _actions(plan_id: int) -> list[dict[str, Any]]:
    return [
        {
            "plan_id": plan_id,
            "ref": f"1.{i}",
            "title": f"Action {i}" if i % 3 else "ä – “x”",
            "start_date": date(2024, 1 + i % 12, 1) if i % 2 else None,
            "start_precision": "month" if i % 2 else None,
            "ref_generated": bool(i % 2),
            "created_at": NOW,
            "updated_at": NOW + timedelta(seconds=i),
        }
        for i in range(1, 40)
    ]


def _imported(run_id: int, action_ids: list[int]) -> list[dict[str, Any]]:
    """Rows whose cells are sometimes one and the same dict (a memo keyed by identity must
    never take one row's cells for another's)."""
    shared: dict[str, Any] = {"Ref": "1.1", "Due": "2024-03-31", "Count": 3, "Note": "ä – “x”"}
    return [
        {
            "import_run_id": run_id,
            "action_id": action_id,
            "row_number": n,
            "cells": shared if n % 4 else {**shared, "Ref": f"1.{n}"},
        }
        for n, action_id in enumerate(action_ids, start=3)
    ]


def _stored(s: Session, plan_id: int) -> list[tuple[Any, ...]]:
    columns = [c for c in ACTIONS.columns if c.key not in ("id", "plan_id")]
    query = select(*columns).where(ACTIONS.c.plan_id == plan_id).order_by(ACTIONS.c.ref)
    return [tuple(row) for row in s.execute(query)]


def _ids(s: Session, plan_id: int) -> list[int]:
    query = select(ACTIONS.c.id).where(ACTIONS.c.plan_id == plan_id).order_by(ACTIONS.c.ref)
    return list(s.execute(query).scalars())


def test_it_stores_the_same_rows_as_sqlalchemys_own_insert(engine: Engine) -> None:
    with Session(engine) as s:
        ours, _ = _plan_and_run(s, "ours")
        theirs, _ = _plan_and_run(s, "theirs")
        insert_many(s.connection(), ACTIONS, _actions(ours))
        s.connection().execute(ACTIONS.insert(), _actions(theirs))
        assert _stored(s, ours) == _stored(s, theirs)
        # Defaults the rows leave out are filled in as the model says.
        query = select(ACTIONS).where(ACTIONS.c.plan_id == ours, ACTIONS.c.ref == "1.3")
        action = s.execute(query).one()
        assert (action.due_kind, action.status_label, action.withdrawn) == ("empty", "", False)
        assert action.title == "ä – “x”"
        assert action.updated_at == NOW + timedelta(seconds=3)


def test_it_stores_each_rows_cells_as_sqlalchemys_own_insert(engine: Engine) -> None:
    with Session(engine) as s:
        ours, our_run = _plan_and_run(s, "ours")
        theirs, their_run = _plan_and_run(s, "theirs")
        insert_many(s.connection(), ACTIONS, _actions(ours))
        insert_many(s.connection(), ACTIONS, _actions(theirs))
        memo: dict[Any, Any] = {}
        # Twice through one memo: the second run's dicts are new objects.
        insert_many(s.connection(), IMPORTED, _imported(our_run, _ids(s, ours)), memo)
        s.connection().execute(IMPORTED.insert(), _imported(their_run, _ids(s, theirs)))
        query = select(IMPORTED.c.import_run_id, IMPORTED.c.row_number, IMPORTED.c.cells)
        kept: dict[int, list[tuple[int, Any]]] = {our_run: [], their_run: []}
        for run_id, number, cells in s.execute(query.order_by(IMPORTED.c.id)):
            kept[run_id].append((number, cells))
        assert kept[our_run] == kept[their_run]
        assert len({c["Ref"] for _, c in kept[our_run]}) > 1
        assert kept[our_run][0][1]["Note"] == "ä – “x”"


def test_it_keeps_every_column_and_the_order_of_rows_with_different_columns(
    engine: Engine,
) -> None:
    with Session(engine) as s:
        plan_id, _ = _plan_and_run(s, "plan")
        insert_many(s.connection(), ACTIONS, _actions(plan_id)[:2])
        action_id = s.execute(select(ACTIONS.c.id).where(ACTIONS.c.plan_id == plan_id)).scalar()
        common = {"action_id": action_id, "recorded_at": NOW, "channel": "import"}
        changes: list[dict[str, Any]] = [
            {**common, "kind": "created"},
            {**common, "kind": "status", "note": "second"},
            {**common, "kind": "status", "note": "third"},
            {**common, "kind": "forecast"},
        ]
        insert_many(s.connection(), CHANGES, changes)
        found = s.execute(select(CHANGES.c.kind, CHANGES.c.note).order_by(CHANGES.c.id)).all()
        assert [tuple(row) for row in found] == [
            ("created", ""),
            ("status", "second"),
            ("status", "third"),
            ("forecast", ""),
        ]
