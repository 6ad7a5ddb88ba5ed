"""Drain jobs: drains and drain_items.

Revision ID: 0002_drain
Revises: 0001
Create Date: 2026-11-26

Written by hand against migrator.db.drain_models (types spelled out, as in 0001).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002_drain'
down_revision = '0001'
branch_labels = None
depends_on = None

TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}


def _dt():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'drains',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('active_host', sa.String(255)),
        sa.Column('mode', sa.String(16), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('max_parallel', sa.Integer, nullable=False),
        sa.Column('target_hosts', sa.Text),
        sa.Column('origin_id', sa.String(36)),
        sa.Column('conductor', sa.String(255)),
        sa.Column('reason', sa.Text),
        sa.Column('created_at', _dt(), nullable=False),
        sa.Column('updated_at', _dt(), nullable=False),
        sa.Column('finished_at', _dt()),
        sa.PrimaryKeyConstraint('id', name='pk_drains'),
        sa.UniqueConstraint('active_host', name='uq_drains_active_host'),
        **TABLE_ARGS,
    )
    op.create_index('ix_drains_host_created_at', 'drains', ['host', 'created_at'])
    op.create_table(
        'drain_items',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('drain_id', sa.String(36), nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('instance_name', sa.String(255)),
        sa.Column('source_host', sa.String(255), nullable=False),
        sa.Column('target_host', sa.String(255)),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('migration_id', sa.String(36)),
        sa.Column('migration_type', sa.String(8)),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('reason', sa.Text),
        sa.Column('created_at', _dt(), nullable=False),
        sa.Column('updated_at', _dt(), nullable=False),
        sa.Column('started_at', _dt()),
        sa.Column('finished_at', _dt()),
        sa.PrimaryKeyConstraint('id', name='pk_drain_items'),
        sa.UniqueConstraint('drain_id', 'instance_uuid', name='uq_drain_items_drain_id'),
        sa.ForeignKeyConstraint(['drain_id'], ['drains.id'], ondelete='CASCADE',
                                name='fk_drain_items_drain_id_drains'),
        **TABLE_ARGS,
    )


def downgrade():
    op.drop_table('drain_items')
    op.drop_table('drains')
