"""measures and risks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:40:00

Issue 16: impact measures (code, targets, trajectory thresholds, owner, evidenced actions,
source, period range; readings say who gave them and where from) and the risk register (code,
title, cause and effect, target score, review date, status; every change in ``risk_change``;
each plan's scoring bands in ``risk_scale``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflows.store.types

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = workflows.store.types.UTCDateTime


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'risk_scale',
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('bands', sa.JSON(), nullable=False),
        sa.Column('escalate_at', sa.Integer(), nullable=False),
        sa.Column('updated_at', _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id']),
        sa.PrimaryKeyConstraint('plan_id'),
    )
    op.create_table(
        'risk_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('risk_id', sa.Integer(), nullable=False),
        sa.Column('recorded_at', _UTC(timezone=True), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('given_by', _text(200), nullable=False),
        sa.Column('channel', _text(16), nullable=False),
        sa.Column('kind', _text(16), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('score_before', sa.Integer(), nullable=True),
        sa.Column('score_after', sa.Integer(), nullable=True),
        sa.Column('reply_id', sa.Integer(), nullable=True),
        sa.Column('source', _text(200), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.ForeignKeyConstraint(['reply_id'], ['reply.id']),
        sa.ForeignKeyConstraint(['risk_id'], ['risk.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('risk_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_change_risk_id'), ['risk_id'], unique=False)

    with op.batch_alter_table('measure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', _text(32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('baseline_period', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('targets', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(
            sa.Column('amber_within', sa.Float(), nullable=False, server_default='15')
        )
        batch_op.add_column(
            sa.Column('frequency', _text(16), nullable=False, server_default='month')
        )
        batch_op.add_column(sa.Column('first_period', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('last_period', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('owner_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('action_refs', sa.JSON(), nullable=False, server_default='[]')
        )
        batch_op.add_column(sa.Column('source', _text(500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('created_at', _UTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', _UTC(timezone=True), nullable=True))
        batch_op.create_index('ix_measure_plan_code', ['plan_id', 'code'], unique=False)
        batch_op.create_foreign_key('fk_measure_owner_id_person', 'person', ['owner_id'], ['id'])

    with op.batch_alter_table('measure_reading', schema=None) as batch_op:
        batch_op.add_column(sa.Column('given_by', _text(200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('source', _text(200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('reply_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_measure_reading_reply_id_reply', 'reply', ['reply_id'], ['id']
        )

    with op.batch_alter_table('risk', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', _text(32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('title', _text(500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('cause', _text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('effect', _text(), nullable=False, server_default=''))
        batch_op.add_column(
            sa.Column('action_refs', sa.JSON(), nullable=False, server_default='[]')
        )
        batch_op.add_column(sa.Column('target_score', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('review_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('status', _text(16), nullable=False, server_default='open'))
        batch_op.add_column(sa.Column('closed_at', _UTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('source', _text(200), nullable=False, server_default=''))
        batch_op.create_index('ix_risk_plan_code', ['plan_id', 'code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_plan_code')
        for name in ('source', 'closed_at', 'status', 'review_date', 'target_score',
                     'action_refs', 'effect', 'cause', 'title', 'code'):  # fmt: skip
            batch_op.drop_column(name)

    with op.batch_alter_table('measure_reading', schema=None) as batch_op:
        batch_op.drop_constraint('fk_measure_reading_reply_id_reply', type_='foreignkey')
        for name in ('reply_id', 'source', 'given_by'):
            batch_op.drop_column(name)

    with op.batch_alter_table('measure', schema=None) as batch_op:
        batch_op.drop_constraint('fk_measure_owner_id_person', type_='foreignkey')
        batch_op.drop_index('ix_measure_plan_code')
        for name in ('updated_at', 'created_at', 'source', 'action_refs', 'owner_id',
                     'last_period', 'first_period', 'frequency', 'amber_within', 'targets',
                     'baseline_period', 'code'):  # fmt: skip
            batch_op.drop_column(name)

    with op.batch_alter_table('risk_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_change_risk_id'))
    op.drop_table('risk_change')
    op.drop_table('risk_scale')
