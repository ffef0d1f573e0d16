"""PBX secret rotation: the previous secret or token digest, accepted until previous_until

Revision ID: 7c2e9a4b1d60
Revises: 5b7d0c3e8f21
Create Date: 2026-12-03 15:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (SQLModel's AutoString)
from alembic import op


# revision identifiers, used by Alembic.
revision: str = "7c2e9a4b1d60"
down_revision: str | Sequence[str] | None = "5b7d0c3e8f21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_pbx", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("previous_secret_key_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("previous_token_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_pbx", schema=None) as batch_op:
        batch_op.drop_column("previous_until")
        batch_op.drop_column("previous_token_sha256")
        batch_op.drop_column("previous_secret_key_version")
        batch_op.drop_column("previous_secret_sealed")
