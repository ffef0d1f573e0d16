"""Partial index of calls without a final outcome (the dispatch.settle_interrupted job)

Revision ID: 4e8b2f6a9c13
Revises: 7c1e5a9d2b40
Create Date: 2026-12-02 15:15:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "4e8b2f6a9c13"
down_revision: str | Sequence[str] | None = "7c1e5a9d2b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_call_record_open_setups",
        "call_record",
        ["setup_received_at"],
        unique=False,
        sqlite_where=sa.text("final_outcome IS NULL"),
        postgresql_where=sa.text("final_outcome IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_call_record_open_setups", table_name="call_record")
