"""The dashboard's rollup of call records: call_day, call_hour, call_campaign_day and call_rollup_mark

Revision ID: 7c2e9a4d1b60
Revises: 7c2e9a4b1d60
Create Date: 2026-12-03 17:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (SQLModel's AutoString)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "7c2e9a4d1b60"
down_revision: str | Sequence[str] | None = "7c2e9a4b1d60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SCOPE = ["agency_id", "whole_agency", "department_id", "day"]


def upgrade() -> None:
    op.create_table(
        "call_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("whole_agency", sa.Boolean(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("carrier", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("lettering", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("final_outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("arm", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("talk_seconds", sa.Integer(), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.Column("ended_answered", sa.Integer(), nullable=False),
        sa.Column("ended_talk_seconds", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_day")),
    )
    with op.batch_alter_table("call_day", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_day_day"), ["day"], unique=False)
        batch_op.create_index("ix_call_day_agency_id_whole_agency_department_id_day", _SCOPE, unique=False)
    op.create_table(
        "call_hour",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("whole_agency", sa.Boolean(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("talk_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_hour")),
    )
    with op.batch_alter_table("call_hour", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_hour_day"), ["day"], unique=False)
        batch_op.create_index("ix_call_hour_agency_id_whole_agency_department_id_day", _SCOPE, unique=False)
    op.create_table(
        "call_campaign_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("whole_agency", sa.Boolean(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_campaign_day")),
    )
    with op.batch_alter_table("call_campaign_day", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_campaign_day_day"), ["day"], unique=False)
        batch_op.create_index("ix_call_campaign_day_agency_id_whole_agency_department_id_day", _SCOPE, unique=False)
    op.create_table(
        "call_rollup_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_rollup_mark")),
    )


def downgrade() -> None:
    op.drop_table("call_rollup_mark")
    with op.batch_alter_table("call_campaign_day", schema=None) as batch_op:
        batch_op.drop_index("ix_call_campaign_day_agency_id_whole_agency_department_id_day")
        batch_op.drop_index(batch_op.f("ix_call_campaign_day_day"))
    op.drop_table("call_campaign_day")
    with op.batch_alter_table("call_hour", schema=None) as batch_op:
        batch_op.drop_index("ix_call_hour_agency_id_whole_agency_department_id_day")
        batch_op.drop_index(batch_op.f("ix_call_hour_day"))
    op.drop_table("call_hour")
    with op.batch_alter_table("call_day", schema=None) as batch_op:
        batch_op.drop_index("ix_call_day_agency_id_whole_agency_department_id_day")
        batch_op.drop_index(batch_op.f("ix_call_day_day"))
    op.drop_table("call_day")
