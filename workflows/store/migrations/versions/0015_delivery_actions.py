"""delivery actions

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 20:00:00

Each action a message asked about gets a row of ``delivery_action`` (issue 20), so an action's
page finds every message about it through one index (``ix_delivery_action_plan_ref``), whoever
it went to. The page had looked only among the messages about the action's present lead and
those who had updated it, so a request to a lead the action had before, who never answered, was
missing from it. Each row also says whose action it was when the message asked
(``lead_code``), which an escalation about several leads' actions did not keep. The upgrade
fills the table from every message's ``action_refs`` (the lead: the message's own, none for an
escalation); the downgrade drops it (``action_refs`` still holds the same refs).
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The longest ref the store keeps (``action.ref``), and the longest person's code
#: (``person.code``).
_REF_LENGTH = 32
_CODE_LENGTH = 32


def _loaded(value: Any) -> Any:
    """A JSON column's value as read (PostgreSQL's driver decodes it, SQLite's does not)."""
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    links = op.create_table(
        "delivery_action",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=_REF_LENGTH), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("lead_code", sa.String(length=_CODE_LENGTH), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("delivery_id", "ref"),
    )
    op.create_index(
        "ix_delivery_action_plan_ref", "delivery_action", ["plan_id", "ref"], unique=False
    )
    bind = op.get_bind()
    found = bind.execute(
        sa.text(
            "SELECT id, plan_id, kind, person_code, action_refs FROM delivery "
            "WHERE plan_id IS NOT NULL ORDER BY id"
        )
    )
    batch: list[dict[str, Any]] = []
    for delivery_id, plan_id, kind, person_code, refs in found.all():
        # a message to one lead was about that lead's actions; an escalation's were several
        # leads' and which was whose was not kept
        lead = "" if kind == "escalation" else person_code or ""
        for ref in dict.fromkeys(_loaded(refs) or ()):
            if isinstance(ref, str) and ref and len(ref) <= _REF_LENGTH:
                batch.append(
                    {"delivery_id": delivery_id, "ref": ref, "plan_id": plan_id, "lead_code": lead}
                )
        if len(batch) >= 5000:
            op.bulk_insert(links, batch)
            batch = []
    if batch:
        op.bulk_insert(links, batch)


def downgrade() -> None:
    op.drop_index("ix_delivery_action_plan_ref", table_name="delivery_action")
    op.drop_table("delivery_action")
