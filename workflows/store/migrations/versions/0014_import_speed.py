"""import speed

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:30:00

Each imported row's raw cells are kept once (issue 20): ``action.raw_cells`` is dropped, because
it only repeated the cells of the action's latest ``imported_row`` (every import's rows are kept
there, "nothing is lost"), and writing the same text twice was a large part of an import's
time. A re-import now reads each action's latest row, found by the new index
``ix_imported_row_action (action_id, id)``. An action the board set held ``{"set by": <meeting
key>}``, which ``decision`` (its ``action_id`` and ``meeting_key``) already keeps.

Before dropping, the upgrade checks that every action's cells are kept elsewhere, so nothing is
lost; if one is not, it stops and names the fix (nothing is changed). The downgrade adds the
column back, filled from the latest imported rows and the board's decisions.

Every query an import or re-import runs was checked (EXPLAIN QUERY PLAN on SQLite, with several
plans in the store): each is filtered by its plan and answered from an index.
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LATEST_CELLS = sa.text(
    "SELECT r.action_id, r.cells FROM imported_row r WHERE r.id IN "
    "(SELECT max(id) FROM imported_row WHERE action_id IS NOT NULL GROUP BY action_id)"
)
_SET_BY = sa.text(
    "SELECT action_id, meeting_key FROM decision WHERE action_id IS NOT NULL ORDER BY id"
)


def _loaded(value: Any) -> Any:
    """A JSON column's value as read (PostgreSQL's driver decodes it, SQLite's does not)."""
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    bind = op.get_bind()
    latest = {a: _loaded(c) for a, c in bind.execute(_LATEST_CELLS)}
    set_by: dict[int, set[str]] = {}
    for action_id, key in bind.execute(_SET_BY):
        set_by.setdefault(action_id, set()).add(key)
    lost = []
    for action_id, raw in bind.execute(sa.text("SELECT id, raw_cells FROM action ORDER BY id")):
        cells = _loaded(raw) or {}
        if not cells or cells == latest.get(action_id):
            continue
        if set(cells) == {"set by"} and cells["set by"] in set_by.get(action_id, set()):
            continue
        lost.append(action_id)
    if lost:
        raise RuntimeError(
            f"{len(lost)} actions hold raw cells that no imported row keeps (action ids "
            f"{', '.join(map(str, lost[:10]))}); nothing was changed. Import their plan again "
            "(its rows then keep every action's cells) and run `chaser db upgrade` again"
        )
    op.create_index("ix_imported_row_action", "imported_row", ["action_id", "id"], unique=False)
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.drop_column("raw_cells")


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("raw_cells", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    cells: dict[int, Any] = {}
    for action_id, key in bind.execute(_SET_BY):
        cells[action_id] = {"set by": key}
    for action_id, raw in bind.execute(_LATEST_CELLS):
        cells[action_id] = _loaded(raw)
    action = sa.table("action", sa.column("id", sa.Integer), sa.column("raw_cells", sa.JSON))
    fill = action.update().where(action.c.id == sa.bindparam("action_id"))
    if cells:
        bind.execute(
            fill.values(raw_cells=sa.bindparam("cells")),
            [{"action_id": a, "cells": c} for a, c in cells.items()],
        )
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.alter_column("raw_cells", server_default=None)
    op.drop_index("ix_imported_row_action", table_name="imported_row")
