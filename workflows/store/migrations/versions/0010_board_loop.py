"""board loop

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:25:00

Reserved for issue 17 (decisions, attendance, re-baselining, milestones); empty until that work
lands.
"""

from collections.abc import Sequence

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
