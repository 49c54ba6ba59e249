"""Migration 0014: each imported row's raw cells are kept once (in ``imported_row``), and nothing
an action held is lost on the way up or back down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session

from tests.stores import store_at
from tests.test_store import _insert, command_downgrade
from workflows.plan.merge import latest_cells
from workflows.store.db import upgrade

OLD = {"Ref": "2.5", "Completion date": "March 2024"}
NEW = {"Ref": "2.5", "Completion date": "June 2024", "Progress": "ä – “x”"}


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store at 0013."""
    with store_at(request.param, tmp_path, "0013") as engine:
        yield engine


def _fill(engine: Engine, *, stray: bool = False) -> None:
    """Two imports of action 2.5 and an action the board set, as 0013 kept them (the action's
    cells repeating its latest imported row); ``stray`` adds cells no imported row keeps."""
    with engine.begin() as conn:
        _insert(conn, "plan", code="p", title="P")
        _insert(conn, "area", plan_id=1, number=2)
        _insert(conn, "action", plan_id=1, area_id=1, ref="2.5", raw_cells=json.dumps(NEW))
        set_by = json.dumps({"set by": "SIB:2025-08-19"})
        _insert(conn, "action", plan_id=1, area_id=1, ref="2.20", raw_cells=set_by)
        cells = json.dumps({"Ref": "2.6"}) if stray else "{}"
        _insert(conn, "action", plan_id=1, area_id=1, ref="2.6", raw_cells=cells)
        for run, cells_then in ((1, OLD), (2, NEW)):
            _insert(conn, "import_run", plan_id=1, source_name=f"v{run}.xlsx", source_sha256="0")
            _insert(
                conn,
                "imported_row",
                import_run_id=run,
                action_id=1,
                row_number=19,
                cells=json.dumps(cells_then),
            )
        _insert(
            conn,
            "decision",
            plan_id=1,
            meeting_key="SIB:2025-08-19",
            position=1,
            text="Publish it",
            action_id=2,
        )


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _raw_cells(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(text("select ref, raw_cells from action order by id")).all()
    return {ref: json.loads(raw) if isinstance(raw, str) else raw for ref, raw in rows}


def test_it_keeps_each_actions_cells_once_and_gives_them_back_on_downgrade(
    old_store: Engine,
) -> None:
    _fill(old_store)
    upgrade(old_store)
    assert "raw_cells" not in _columns(old_store, "action")
    with Session(old_store) as s:
        # the latest import's row, not the first; the board's action was read from no row
        assert latest_cells(s, 1) == {1: NEW}
    command_downgrade(old_store, "0013")
    assert _raw_cells(old_store) == {"2.5": NEW, "2.20": {"set by": "SIB:2025-08-19"}, "2.6": {}}


def test_it_refuses_to_drop_cells_no_imported_row_keeps(old_store: Engine) -> None:
    _fill(old_store, stray=True)
    with pytest.raises(RuntimeError) as raised:
        upgrade(old_store)
    assert "1 actions hold raw cells that no imported row keeps (action ids 3)" in str(raised.value)
    assert "Import their plan again" in str(raised.value)
    assert "raw_cells" in _columns(old_store, "action")  # nothing was changed
    assert _raw_cells(old_store)["2.6"] == {"Ref": "2.6"}
