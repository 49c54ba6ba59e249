"""people by partnership

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:26:01.213103
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflows.store.types


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # People belong to a partnership's directory: codes are unique within it, not in the store.
    # Existing rows join the default directory (""), which every plan without one shares.
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'partnership',
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default='',
            )
        )
        batch_op.drop_index(batch_op.f('ix_person_code'))
        batch_op.create_index(batch_op.f('ix_person_code'), ['code'], unique=False)
        batch_op.create_unique_constraint('uq_person_partnership_code', ['partnership', 'code'])

    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'partnership',
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default='',
            )
        )

    # Outbox keys name their plan now ("plymouth-send-2023/request:AP:SIB:2025-09-30"): two
    # plans may both have a lead "AP" and a group "SIB". Keys already in the outbox are
    # rewritten the same way, so nothing already sent is sent again after the upgrade.
    op.execute(
        "UPDATE delivery SET key = "
        "(SELECT plan.code FROM plan WHERE plan.id = delivery.plan_id) || '/' || key "
        "WHERE plan_id IS NOT NULL AND key NOT LIKE '%/%'"
    )


def downgrade() -> None:
    find = "instr(key, '/')" if op.get_bind().dialect.name == "sqlite" else "strpos(key, '/')"
    op.execute(
        f"UPDATE delivery SET key = substr(key, {find} + 1) "
        f"WHERE plan_id IS NOT NULL AND {find} > 0"
    )
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_column('partnership')

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_constraint('uq_person_partnership_code', type_='unique')
        batch_op.drop_index(batch_op.f('ix_person_code'))
        batch_op.create_index(batch_op.f('ix_person_code'), ['code'], unique=True)
        batch_op.drop_column('partnership')
