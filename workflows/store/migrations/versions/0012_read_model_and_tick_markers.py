"""read model and tick markers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:30:00

The flags the pages show, kept per action and refreshed per change (``action_flags``, with
``read_model_state`` and ``read_model_dirty``), and the tick's markers of windows already
chased (``tick_marker``), and the indexes that find a plan's outbox rows by state and its last change (issue 20).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflows.store.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = workflows.store.types.UTCDateTime
    op.create_table(
        "action_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("ref", text(length=32), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["action.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "action_id"),
    )
    with op.batch_alter_table("action_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_flags_action_id"), ["action_id"], unique=False)
        batch_op.create_index("ix_action_flags_plan_flagged", ["plan_id", "flagged"], unique=False)
        batch_op.create_index("ix_action_flags_plan_ref", ["plan_id", "ref"], unique=False)
    op.create_table(
        "read_model_state",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("meeting_key", text(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", when(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("plan_id"),
    )
    op.create_table(
        "read_model_dirty",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("read_model_dirty", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_read_model_dirty_plan_id"), ["plan_id"], unique=False)
    op.create_table(
        "tick_marker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("signature", text(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("at", when(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "signature"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        # with updated_at, so a plan's dead letters in order are read off it, not off every row
        batch_op.create_index(
            "ix_delivery_plan_state", ["plan_id", "state", "updated_at"], unique=False
        )
        batch_op.create_index("ix_delivery_plan_updated", ["plan_id", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_plan_updated")
        batch_op.drop_index("ix_delivery_plan_state")
    op.drop_table("tick_marker")
    with op.batch_alter_table("read_model_dirty", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_read_model_dirty_plan_id"))
    op.drop_table("read_model_dirty")
    op.drop_table("read_model_state")
    with op.batch_alter_table("action_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_action_flags_plan_ref")
        batch_op.drop_index("ix_action_flags_plan_flagged")
        batch_op.drop_index(batch_op.f("ix_action_flags_action_id"))
    op.drop_table("action_flags")
