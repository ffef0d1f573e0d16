"""Holdout arms (agency and department shares, the agency's salt, each call's arm) and promo freezes

Revision ID: 9a3d6c1f7e25
Revises: 4e8b2f6a9c13
Create Date: 2026-12-03 13:30:00+00:00
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "9a3d6c1f7e25"
down_revision: str | Sequence[str] | None = "4e8b2f6a9c13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory_agency", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holdout_bp", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("identity_only_bp", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("holdout_salt", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    # Every existing agency gets a random salt of its own (new ones get theirs when created).
    agency = sa.table("directory_agency", sa.column("id", sa.Integer()), sa.column("holdout_salt", sa.String()))
    conn = op.get_bind()
    for (agency_id,) in conn.execute(sa.select(agency.c.id)).all():
        conn.execute(
            agency.update().where(agency.c.id == agency_id).values(holdout_salt=secrets.token_hex(16))
        )
    with op.batch_alter_table("directory_agency", schema=None) as batch_op:
        batch_op.alter_column(
            "holdout_salt", existing_type=sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False
        )

    with op.batch_alter_table("directory_department", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holdout_bp", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("identity_only_bp", sa.Integer(), nullable=True))

    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "arm", sqlmodel.sql.sqltypes.AutoString(length=16), server_default="lettered", nullable=False
            )
        )

    op.create_table(
        "directory_freeze",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("election_day", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["directory_agency.id"], name=op.f("fk_directory_freeze_agency_id_directory_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_freeze")),
    )
    with op.batch_alter_table("directory_freeze", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_directory_freeze_agency_id"), ["agency_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("directory_freeze", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_freeze_agency_id"))
    op.drop_table("directory_freeze")
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.drop_column("arm")
    with op.batch_alter_table("directory_department", schema=None) as batch_op:
        batch_op.drop_column("identity_only_bp")
        batch_op.drop_column("holdout_bp")
    with op.batch_alter_table("directory_agency", schema=None) as batch_op:
        batch_op.drop_column("holdout_salt")
        batch_op.drop_column("identity_only_bp")
        batch_op.drop_column("holdout_bp")
