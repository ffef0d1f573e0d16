"""Rate-limit counters shared by every worker (login, /verify); a console session's last request

Revision ID: 7c2e9a4b1d36
Revises: 7c2e9a4d1b60
Create Date: 2026-12-03 18:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (SQLModel's AutoString)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "7c2e9a4b1d36"
down_revision: str | Sequence[str] | None = "7c2e9a4d1b60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ratelimit_bucket",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_ratelimit_bucket")),
    )
    with op.batch_alter_table("ratelimit_bucket", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ratelimit_bucket_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("ratelimit_bucket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ratelimit_bucket_expires_at"))
    op.drop_table("ratelimit_bucket")
