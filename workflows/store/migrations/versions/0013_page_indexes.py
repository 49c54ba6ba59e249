"""page indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 16:30:00

The indexes the secretary's pages query by (issue 20), so each page costs the same at 50,000
actions as at 500: the plan page's order by area and its status counts and filter
(``action``), an action's messages by person and the plan's escalations and a meeting's chase
(``delivery``), the review queue and the replies to a request (``reply``), and the changes
since a meeting's requests went out (``status_change``).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("action", "ix_action_plan_area_position", ["plan_id", "area_id", "position"]),
    # covers the counts by area and status (an index-only GROUP BY)
    (
        "action",
        "ix_action_plan_status",
        ["plan_id", "area_id", "withdrawn", "status", "status_label"],
    ),
    # covers the lead filter's choices (the leads of actions not withdrawn)
    ("action", "ix_action_plan_lead_withdrawn", ["plan_id", "accountable_id", "withdrawn"]),
    ("delivery", "ix_delivery_plan_person", ["plan_id", "person_code"]),
    ("delivery", "ix_delivery_plan_kind", ["plan_id", "kind"]),
    ("delivery", "ix_delivery_plan_meeting", ["plan_id", "meeting_key"]),
    ("reply", "ix_reply_verdict_plan", ["verdict", "plan_id"]),
    ("reply", "ix_reply_delivery", ["delivery_id"]),
    ("status_change", "ix_status_change_recorded_at", ["recorded_at"]),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
