"""invitations

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 14:25:00

The record of every calendar invitation, update and cancellation sent to a meeting's invitees.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflows.store.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = workflows.store.types.UTCDateTime
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("meeting_key", text(length=64), nullable=False),
        sa.Column("uid", text(length=255), nullable=False),
        sa.Column("email", text(length=320), nullable=False),
        sa.Column("name", text(length=200), nullable=False),
        sa.Column("role", text(length=200), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("method", text(length=16), nullable=False),
        sa.Column("why", text(length=16), nullable=False),
        sa.Column("starts_at", when(timezone=True), nullable=False),
        sa.Column("ends_at", when(timezone=True), nullable=False),
        sa.Column("location", text(length=300), nullable=False),
        sa.Column("delivery_key", text(length=255), nullable=False),
        sa.Column("created_at", when(timezone=True), nullable=False),
        sa.Column("response", text(length=16), nullable=False),
        sa.Column("responded_at", when(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "uid", "email", "sequence"),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_invitation_meeting_key"), ["meeting_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_meeting_key"))
        batch_op.drop_index(batch_op.f("ix_invitation_plan_id"))
    op.drop_table("invitation")
