"""initial: the directory, webhook, calls, opt-out, snapshot, carrier-route and Kakao tables

Revision ID: d4353be77fe1
Revises:
Create Date: 2026-11-24 12:30:06.080460+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders SQLModel's AutoString as sqlmodel.sql.sqltypes.AutoString)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = 'd4353be77fe1'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('call_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('pbx_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('call_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('extension', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('caller_e164', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('callee_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('callee_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('callee_key_version', sa.Integer(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('setup_received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lettering', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('elapsed_ms', sa.Integer(), nullable=True),
    sa.Column('final_outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('final_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('fallback', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('display_result', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('answered', sa.Boolean(), nullable=True),
    sa.Column('talk_seconds', sa.Integer(), nullable=True),
    sa.Column('end_cause', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_record')),
    sa.UniqueConstraint('pbx_id', 'call_id', name=op.f('uq_call_record_pbx_id_call_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_call_record_public_id'))
    )
    with op.batch_alter_table('call_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_record_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_record_callee_hash'), ['callee_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_record_created_at'), ['created_at'], unique=False)

    op.create_table('carrier_route',
    sa.Column('callee_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('learned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('callee_hash', name=op.f('pk_carrier_route'))
    )
    with op.batch_alter_table('carrier_route', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carrier_route_expires_at'), ['expires_at'], unique=False)

    op.create_table('directory_agency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('default_guidance', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('fallback_unsupported', sa.Boolean(), nullable=False),
    sa.Column('fallback_no_subscriber', sa.Boolean(), nullable=False),
    sa.Column('fallback_carrier_failure', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_agency')),
    sa.UniqueConstraint('code', name=op.f('uq_directory_agency_code'))
    )
    op.create_table('optout_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('callee_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('from_scope', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('to_scope', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('admin_id', sa.Integer(), nullable=True),
    sa.Column('ip_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('user_agent_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_optout_history'))
    )
    with op.batch_alter_table('optout_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_optout_history_callee_hash'), ['callee_hash'], unique=False)

    op.create_table('optout_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('callee_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_optout_state')),
    sa.UniqueConstraint('callee_hash', 'agency_id', name=op.f('uq_optout_state_callee_hash_agency_id'))
    )
    with op.batch_alter_table('optout_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_optout_state_callee_hash'), ['callee_hash'], unique=False)

    op.create_table('snapshot_version',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_snapshot_version'))
    )
    op.create_table('webhook_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pbx_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('call_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('pbx_id', 'dedupe_key', name=op.f('uq_webhook_delivery_pbx_id_dedupe_key'))
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_delivery_received_at'), ['received_at'], unique=False)

    op.create_table('call_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_record_id', sa.Integer(), nullable=False),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('provider_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('report_result', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('report_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_record_id'], ['call_record.id'], name=op.f('fk_call_attempt_call_record_id_call_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_attempt'))
    )
    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_attempt_call_record_id'), ['call_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_attempt_provider_ref'), ['provider_ref'], unique=False)

    op.create_table('directory_department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('parent_unit', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('guidance', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['directory_agency.id'], name=op.f('fk_directory_department_agency_id_directory_agency')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_department')),
    sa.UniqueConstraint('code', name=op.f('uq_directory_department_code'))
    )
    with op.batch_alter_table('directory_department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directory_department_agency_id'), ['agency_id'], unique=False)

    op.create_table('kakao_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_record_id', sa.Integer(), nullable=True),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('recipient_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('recipient_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('variables', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_record_id'], ['call_record.id'], name=op.f('fk_kakao_message_call_record_id_call_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kakao_message')),
    sa.UniqueConstraint('call_record_id', name=op.f('uq_kakao_message_call_record_id')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_kakao_message_idempotency_key'))
    )
    with op.batch_alter_table('kakao_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kakao_message_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kakao_message_recipient_hash'), ['recipient_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_kakao_message_status'), ['status'], unique=False)

    op.create_table('webhook_pbx',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('auth_mode', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('allowed_nets', sa.Text(), nullable=False),
    sa.Column('hold_ms', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['directory_agency.id'], name=op.f('fk_webhook_pbx_agency_id_directory_agency')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_pbx'))
    )
    with op.batch_alter_table('webhook_pbx', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_pbx_agency_id'), ['agency_id'], unique=False)

    op.create_table('directory_extension',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('extension', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('team_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('caller_number', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['directory_agency.id'], name=op.f('fk_directory_extension_agency_id_directory_agency')),
    sa.ForeignKeyConstraint(['department_id'], ['directory_department.id'], name=op.f('fk_directory_extension_department_id_directory_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_extension')),
    sa.UniqueConstraint('agency_id', 'extension', name=op.f('uq_directory_extension_agency_id_extension'))
    )
    with op.batch_alter_table('directory_extension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directory_extension_department_id'), ['department_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('directory_extension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_extension_department_id'))

    op.drop_table('directory_extension')
    with op.batch_alter_table('webhook_pbx', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_pbx_agency_id'))

    op.drop_table('webhook_pbx')
    with op.batch_alter_table('kakao_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kakao_message_status'))
        batch_op.drop_index(batch_op.f('ix_kakao_message_recipient_hash'))
        batch_op.drop_index(batch_op.f('ix_kakao_message_agency_id'))

    op.drop_table('kakao_message')
    with op.batch_alter_table('directory_department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_department_agency_id'))

    op.drop_table('directory_department')
    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_attempt_provider_ref'))
        batch_op.drop_index(batch_op.f('ix_call_attempt_call_record_id'))

    op.drop_table('call_attempt')
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_received_at'))

    op.drop_table('webhook_delivery')
    op.drop_table('snapshot_version')
    with op.batch_alter_table('optout_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_optout_state_callee_hash'))

    op.drop_table('optout_state')
    with op.batch_alter_table('optout_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_optout_history_callee_hash'))

    op.drop_table('optout_history')
    op.drop_table('directory_agency')
    with op.batch_alter_table('carrier_route', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carrier_route_expires_at'))

    op.drop_table('carrier_route')
    with op.batch_alter_table('call_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_record_created_at'))
        batch_op.drop_index(batch_op.f('ix_call_record_callee_hash'))
        batch_op.drop_index(batch_op.f('ix_call_record_agency_id'))

    op.drop_table('call_record')
