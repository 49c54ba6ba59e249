"""admin config history

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:40:00

Each save of a configuration file from the admin pages: the previous text, a diff, who, when.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflows.store.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'config_version',
        sa.Column('saved_at', workflows.store.types.UTCDateTime(), nullable=False),
        sa.Column('previous_text', sa.Text(), nullable=False),
        sa.Column('diff', sa.Text(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('file', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('saved_by', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column('sha256_before', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('sha256_after', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('config_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_config_version_plan_code'), ['plan_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('config_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_config_version_plan_code'))
    op.drop_table('config_version')
