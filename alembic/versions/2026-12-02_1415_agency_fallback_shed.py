"""Agency policy: AlimTalk for setups shed at the admission limit (off by default)

Revision ID: 7c1e5a9d2b40
Revises: 3da323a283fe
Create Date: 2026-12-02 14:15:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "7c1e5a9d2b40"
down_revision: str | Sequence[str] | None = "3da323a283fe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory_agency", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fallback_shed", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("directory_agency", schema=None) as batch_op:
        batch_op.drop_column("fallback_shed")
