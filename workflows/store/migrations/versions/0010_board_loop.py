"""board loop

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:25:00

Every baseline the board agreed for an action, in order; each meeting's attendance; its
decisions and the actions they set (issue 17).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflows.store.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = workflows.store.types.UTCDateTime
    op.create_table(
        "baseline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("due_precision", text(length=16), nullable=True),
        sa.Column("meeting_key", text(length=64), nullable=False),
        sa.Column("reason", text(), nullable=False),
        sa.Column("recorded_by", text(length=320), nullable=False),
        sa.Column("recorded_at", when(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["action_id"], ["action.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("action_id", "position"),
    )
    with op.batch_alter_table("baseline", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_baseline_action_id"), ["action_id"], unique=False)
    op.create_table(
        "meeting_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("meeting_key", text(length=64), nullable=False),
        sa.Column("present", sa.JSON(), nullable=False),
        sa.Column("apologies", sa.JSON(), nullable=False),
        sa.Column("recorded_by", text(length=320), nullable=False),
        sa.Column("recorded_at", when(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "meeting_key"),
    )
    with op.batch_alter_table("meeting_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_record_plan_id"), ["plan_id"], unique=False)
    op.create_table(
        "decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("meeting_key", text(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", text(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", text(length=320), nullable=False),
        sa.Column("recorded_at", when(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["action_id"], ["action.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "meeting_key", "position"),
    )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_decision_meeting_key"), ["meeting_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_meeting_key"))
        batch_op.drop_index(batch_op.f("ix_decision_plan_id"))
    op.drop_table("decision")
    with op.batch_alter_table("meeting_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_record_plan_id"))
    op.drop_table("meeting_record")
    with op.batch_alter_table("baseline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_baseline_action_id"))
    op.drop_table("baseline")
