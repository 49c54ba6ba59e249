"""graph calendar events

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:30:00

How each invitation went (``via``: ``email``, or ``graph`` for the meeting's one calendar event in
the shared mailbox) and, for Graph, the event's ``id`` and when its attendees' answers were last
read from it (issue 17). Rows already recorded went by email.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import workflows.store.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = AutoString
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("via", text(length=16), nullable=False, server_default="email")
        )
        batch_op.add_column(
            sa.Column("graph_event_id", text(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "graph_checked_at",
                workflows.store.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_column("graph_checked_at")
        batch_op.drop_column("graph_event_id")
        batch_op.drop_column("via")
