"""Initial schema: records and lines, reference data, cursors, items, decisions, outbox, audit, sync log,
connections. Reviewed after autogeneration against app.storage.schema.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 04:43:48.190612
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('who', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('item_kind', sa.String(length=16), nullable=False),
    sa.Column('item_key', sa.String(length=255), nullable=False),
    sa.Column('before', sa.Text(), nullable=False),
    sa.Column('after', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit'))
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_item_key'), ['item_key'], unique=False)

    op.create_table('connections',
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('connection_id', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('auth', sa.String(length=40), nullable=False),
    sa.Column('identity_url', sa.Text(), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('tenant_name', sa.String(length=255), nullable=False),
    sa.Column('has_secret', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('system', name=op.f('pk_connections'))
    )
    op.create_table('cursors',
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('stream', sa.String(length=40), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('system', 'stream', name=op.f('pk_cursors'))
    )
    op.create_table('decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('resolution', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('who', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions'))
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_kind_key'), ['kind', 'key'], unique=False)

    op.create_table('pushes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('item_kind', sa.String(length=16), nullable=False),
    sa.Column('item_key', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('result_remote_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pushes')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_pushes_idempotency_key'))
    )
    with op.batch_alter_table('pushes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pushes_item_kind_item_key'), ['item_kind', 'item_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_pushes_state'), ['state'], unique=False)

    op.create_table('records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('stream', sa.String(length=40), nullable=False),
    sa.Column('remote_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=100), nullable=True),
    sa.Column('invoice_number', sa.String(length=100), nullable=True),
    sa.Column('number_key', sa.String(length=100), nullable=True),
    sa.Column('invoice_id', sa.String(length=64), nullable=True),
    sa.Column('contact', sa.String(length=255), nullable=True),
    sa.Column('contact_id', sa.String(length=64), nullable=True),
    sa.Column('doc_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('po_number', sa.String(length=255), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('net_minor', sa.BigInteger(), nullable=True),
    sa.Column('tax_minor', sa.BigInteger(), nullable=True),
    sa.Column('total_minor', sa.BigInteger(), nullable=True),
    sa.Column('paid_minor', sa.BigInteger(), nullable=True),
    sa.Column('due_minor', sa.BigInteger(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('remaining_minor', sa.BigInteger(), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=True),
    sa.Column('method', sa.String(length=100), nullable=True),
    sa.Column('direction', sa.String(length=16), nullable=True),
    sa.Column('credit_note_id', sa.String(length=64), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('invalid_reason', sa.Text(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_records')),
    sa.UniqueConstraint('system', 'kind', 'remote_id', name=op.f('uq_records_system_kind_remote_id'))
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_records_number_key'), ['number_key'], unique=False)

    op.create_table('reference_data',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('stream', sa.String(length=40), nullable=False),
    sa.Column('ref_key', sa.String(length=200), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_data')),
    sa.UniqueConstraint('system', 'stream', 'ref_key', name=op.f('uq_reference_data_system_stream_ref_key'))
    )
    op.create_table('sync_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=True),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('errors', sa.Text(), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('budget', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    op.create_table('system_state',
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('last_full_at', sa.DateTime(), nullable=True),
    sa.Column('full_pending', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('system', name=op.f('pk_system_state'))
    )
    op.create_table('items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('invoice_key', sa.String(length=100), nullable=False),
    sa.Column('invoice', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=True),
    sa.Column('contact', sa.String(length=255), nullable=False),
    sa.Column('doc_date', sa.Date(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=False),
    sa.Column('accessplanit_id', sa.String(length=64), nullable=True),
    sa.Column('xero_id', sa.String(length=64), nullable=True),
    sa.Column('source_record_id', sa.Integer(), nullable=True),
    sa.Column('ledger_record_id', sa.Integer(), nullable=True),
    sa.Column('invalid_record_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['invalid_record_id'], ['records.id'], name=op.f('fk_items_invalid_record_id_records'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ledger_record_id'], ['records.id'], name=op.f('fk_items_ledger_record_id_records'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_record_id'], ['records.id'], name=op.f('fk_items_source_record_id_records'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_items_kind_key'))
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_items_invoice_key'), ['invoice_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_period_status'), ['period', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_status'), ['status'], unique=False)

    op.create_table('record_lines',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('net_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.String(length=40), nullable=False),
    sa.Column('unit_amount', sa.String(length=40), nullable=True),
    sa.Column('account_code', sa.String(length=40), nullable=True),
    sa.Column('tax_type', sa.String(length=60), nullable=True),
    sa.Column('line_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_record_lines_record_id_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_lines')),
    sa.UniqueConstraint('record_id', 'position', name=op.f('uq_record_lines_record_id_position'))
    )
    op.create_table('sync_stream_stats',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('stream', sa.String(length=40), nullable=False),
    sa.Column('fetched', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['sync_runs.id'], name=op.f('fk_sync_stream_stats_run_id_sync_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_stream_stats'))
    )
    with op.batch_alter_table('sync_stream_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_stream_stats_run_id'), ['run_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('sync_stream_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_stream_stats_run_id'))

    op.drop_table('sync_stream_stats')
    op.drop_table('record_lines')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_status'))
        batch_op.drop_index(batch_op.f('ix_items_period_status'))
        batch_op.drop_index(batch_op.f('ix_items_invoice_key'))

    op.drop_table('items')
    op.drop_table('system_state')
    op.drop_table('sync_runs')
    op.drop_table('reference_data')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_records_number_key'))

    op.drop_table('records')
    with op.batch_alter_table('pushes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pushes_state'))
        batch_op.drop_index(batch_op.f('ix_pushes_item_kind_item_key'))

    op.drop_table('pushes')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_kind_key'))

    op.drop_table('decisions')
    op.drop_table('cursors')
    op.drop_table('connections')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_item_key'))

    op.drop_table('audit')
    
