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
    cells: dict[str, Any] = {"Ref": "1.1", "Due": "2024-03-31", "Count": 3, "Note": "ä – “x”"}
    return [
        {
            "plan_id": plan_id,
            "ref": f"1.{i}",
            "title": f"Action {i}" if i % 3 else "",
            "start_date": date(2024, 1 + i % 12, 1) if i % 2 else None,
            "start_precision": "month" if i % 2 else None,
            "ref_generated": bool(i % 2),
            "raw_cells": cells if i % 4 else {**cells, "Ref": f"1.{i}"},
            "created_at": NOW,
            "updated_at": NOW + timedelta(seconds=i),
        }
        for i in range(1, 40)
    ]


def _stored(s: Session, plan_id: int) -> list[tuple[Any, ...]]:
    columns = [c for c in ACTIONS.columns if c.key not in ("id", "plan_id")]
    query = select(*columns).where(ACTIONS.c.plan_id == plan_id).order_by(ACTIONS.c.ref)
    return [tuple(row) for row in s.execute(query)]


def test_it_stores_the_same_rows_as_sqlalchemys_own_insert(engine: Engine) -> None:
    with Session(engine) as s:
        ours, _ = _plan_and_run(s, "ours")
        theirs, _ = _plan_and_run(s, "theirs")
        insert_many(s.connection(), ACTIONS, _actions(ours))
        s.connection().execute(ACTIONS.insert(), _actions(theirs))
        assert _stored(s, ours) == _stored(s, theirs)
        # Defaults the rows leave out are filled in as the model says.
        query = select(ACTIONS).where(ACTIONS.c.plan_id == ours, ACTIONS.c.ref == "1.2")
        action = s.execute(query).one()
        assert (action.due_kind, action.status_label, action.withdrawn) == ("empty", "", False)
        assert action.raw_cells["Note"] == "ä – “x”"
        assert action.updated_at == NOW + timedelta(seconds=2)


def test_it_writes_one_rows_cells_to_two_tables_alike(engine: Engine) -> None:
    with Session(engine) as s:
        plan_id, run_id = _plan_and_run(s, "plan")
        memo: dict[Any, Any] = {}
        rows = _actions(plan_id)
        insert_many(s.connection(), ACTIONS, rows, memo)
        query = select(ACTIONS.c.ref, ACTIONS.c.id).where(ACTIONS.c.plan_id == plan_id)
        ids = {ref: action_id for ref, action_id in s.execute(query)}
        imported = [
            {
                "import_run_id": run_id,
                "action_id": ids[row["ref"]],
                "row_number": n,
                "cells": row["raw_cells"],
            }
            for n, row in enumerate(rows, start=3)
        ]
        insert_many(s.connection(), IMPORTED, imported, memo)
        kept_query = select(IMPORTED.c.action_id, IMPORTED.c.cells).where(
            IMPORTED.c.import_run_id == run_id
        )
        kept = {action_id: row_cells for action_id, row_cells in s.execute(kept_query)}
        cells_query = select(ACTIONS.c.id, ACTIONS.c.raw_cells).where(ACTIONS.c.plan_id == plan_id)
        cells = {action_id: row_cells for action_id, row_cells in s.execute(cells_query)}
        assert len(kept) == len(rows)
        assert kept == cells
        assert len({c["Ref"] for c in kept.values()}) > 1


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
