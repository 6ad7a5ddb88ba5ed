"""Initial schema: hosts, instances, migrations, migration_events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand against migrator.db.models; types are spelled out here (not imported from
the models) so that this script keeps creating the same schema when the models move on.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# utf8mb4_bin: compare names and uuids case-sensitively, as PostgreSQL and SQLite do.
TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}


def _dt():
    # Microseconds on MariaDB/MySQL too (plain DATETIME drops them); naive UTC everywhere.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'hosts',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('address', sa.String(255)),
        sa.Column('hypervisor_uri', sa.String(255)),
        sa.Column('virt_type', sa.String(32), nullable=False),
        sa.Column('hypervisor_version', sa.Integer, nullable=False),
        sa.Column('cpu_model', sa.String(255)),
        sa.Column('memory_mb', sa.Integer, nullable=False),
        sa.Column('memory_mb_used', sa.Integer, nullable=False),
        sa.Column('vcpus', sa.Integer, nullable=False),
        sa.Column('vcpus_used', sa.Integer, nullable=False),
        sa.Column('disk_gb', sa.Integer, nullable=False),
        sa.Column('disk_gb_used', sa.Integer, nullable=False),
        sa.Column('reserved_memory_mb', sa.Integer, nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('status_reason', sa.Text),
        sa.Column('last_heartbeat', _dt(), nullable=False),
        sa.Column('created_at', _dt(), nullable=False),
        sa.Column('updated_at', _dt(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_hosts'),
        sa.UniqueConstraint('name', name='uq_hosts_name'),
        **TABLE_ARGS,
    )
    op.create_table(
        'instances',
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('host', sa.String(255)),
        sa.Column('power_state', sa.String(16), nullable=False),
        sa.Column('memory_mb', sa.Integer, nullable=False),
        sa.Column('vcpus', sa.Integer, nullable=False),
        sa.Column('disk_gb', sa.Integer, nullable=False),
        sa.Column('migration_id', sa.String(36)),
        sa.Column('created_at', _dt(), nullable=False),
        sa.Column('updated_at', _dt(), nullable=False),
        sa.PrimaryKeyConstraint('uuid', name='pk_instances'),
        **TABLE_ARGS,
    )
    op.create_index('ix_instances_host', 'instances', ['host'])
    op.create_index('ix_instances_name', 'instances', ['name'])
    op.create_table(
        'migrations',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('instance_name', sa.String(255)),
        sa.Column('type', sa.String(8), nullable=False),
        sa.Column('block_migration', sa.Boolean),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('source_host', sa.String(255), nullable=False),
        sa.Column('target_host', sa.String(255)),
        sa.Column('requested_target', sa.String(255)),
        sa.Column('conductor', sa.String(255)),
        sa.Column('error', sa.Text),
        sa.Column('progress', sa.Double, nullable=False),
        sa.Column('memory_total', sa.BigInteger),
        sa.Column('memory_processed', sa.BigInteger),
        sa.Column('memory_remaining', sa.BigInteger),
        sa.Column('disk_total', sa.BigInteger),
        sa.Column('disk_processed', sa.BigInteger),
        sa.Column('disk_remaining', sa.BigInteger),
        sa.Column('dirty_rate', sa.BigInteger),
        sa.Column('iteration', sa.Integer),
        sa.Column('downtime_ms', sa.Integer),
        sa.Column('eta_seconds', sa.Double),
        sa.Column('created_at', _dt(), nullable=False),
        sa.Column('updated_at', _dt(), nullable=False),
        sa.Column('started_at', _dt()),
        sa.Column('finished_at', _dt()),
        sa.PrimaryKeyConstraint('id', name='pk_migrations'),
        **TABLE_ARGS,
    )
    op.create_index('ix_migrations_instance_uuid', 'migrations', ['instance_uuid'])
    op.create_index('ix_migrations_status', 'migrations', ['status'])
    op.create_index('ix_migrations_created_at_id', 'migrations', ['created_at', 'id'])
    op.create_table(
        'migration_events',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('migration_id', sa.String(36), nullable=False),
        sa.Column('time', _dt(), nullable=False),
        sa.Column('from_state', sa.String(16)),
        sa.Column('to_state', sa.String(16), nullable=False),
        sa.Column('detail', sa.Text),
        sa.PrimaryKeyConstraint('id', name='pk_migration_events'),
        sa.ForeignKeyConstraint(['migration_id'], ['migrations.id'], ondelete='CASCADE',
                                name='fk_migration_events_migration_id_migrations'),
        **TABLE_ARGS,
    )
    op.create_index('ix_migration_events_migration_id', 'migration_events', ['migration_id'])


def downgrade():
    op.drop_table('migration_events')
    op.drop_table('migrations')
    op.drop_table('instances')
    op.drop_table('hosts')
