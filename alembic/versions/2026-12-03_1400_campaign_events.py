"""Campaign history: what happened to a campaign, by whom and when

Revision ID: 5b7d0c3e8f21
Revises: 9a3d6c1f7e25
Create Date: 2026-12-03 14:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (SQLModel's AutoString)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "5b7d0c3e8f21"
down_revision: str | Sequence[str] | None = "9a3d6c1f7e25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_campaign_event_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_campaign_event_actor_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_event")),
    )
    with op.batch_alter_table("campaign_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_event_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_event_campaign_id"))
    op.drop_table("campaign_event")
