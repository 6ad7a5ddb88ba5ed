"""Scheduler: capacity claims, migration slots, server groups, priorities, CPU models.

Revision ID: 0002_sched
Revises: 0002_drain
Create Date: 2026-11-26

hosts gain the totals of what is claimed on them (claimed_*) and how many migrations leave
and enter them now (outbound_/inbound_migrations): the claim is a compare-and-swap UPDATE
of these columns, so several conductors never overcommit a host. scheduler_counters holds
one row, the cluster-wide count of migrations holding a slot. scheduler_claims says what
each migration holds, so the terminal transition releases exactly that.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002_sched'
down_revision = '0002_plans'
branch_labels = None
depends_on = None

TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}


def _dt():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    with op.batch_alter_table('hosts') as batch:
        for column in ('claimed_memory_mb', 'claimed_vcpus', 'claimed_disk_gb',
                       'outbound_migrations', 'inbound_migrations'):
            batch.add_column(sa.Column(column, sa.Integer, nullable=False,
                                       server_default='0'))
        batch.add_column(sa.Column('cpu_models', sa.Text))
    op.create_index('ix_hosts_updated_at', 'hosts', ['updated_at'])
    with op.batch_alter_table('instances') as batch:
        batch.add_column(sa.Column('cpu_model', sa.String(255)))
    with op.batch_alter_table('migrations') as batch:
        batch.add_column(sa.Column('priority', sa.Integer, nullable=False, server_default='0'))
    op.create_table(
        'scheduler_counters',
        sa.Column('id', sa.Integer, nullable=False, autoincrement=False),
        sa.Column('active_migrations', sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_scheduler_counters'),
        **TABLE_ARGS,
    )
    op.bulk_insert(sa.table('scheduler_counters', sa.column('id', sa.Integer),
                            sa.column('active_migrations', sa.Integer)),
                   [{'id': 1, 'active_migrations': 0}])
    op.create_table(
        'scheduler_claims',
        sa.Column('migration_id', sa.String(36), nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('source_host', sa.String(255), nullable=False),
        sa.Column('target_host', sa.String(255)),
        sa.Column('memory_mb', sa.Integer, nullable=False),
        sa.Column('vcpus', sa.Integer, nullable=False),
        sa.Column('disk_gb', sa.Integer, nullable=False),
        sa.Column('holds_slot', sa.Boolean, nullable=False),
        sa.Column('created_at', _dt(), nullable=False),
        sa.PrimaryKeyConstraint('migration_id', name='pk_scheduler_claims'),
        **TABLE_ARGS,
    )
    op.create_index('ix_scheduler_claims_instance_uuid', 'scheduler_claims',
                    ['instance_uuid'])
    op.create_table(
        'server_groups',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('policy', sa.String(16), nullable=False),
        sa.Column('created_at', _dt(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_server_groups'),
        sa.UniqueConstraint('name', name='uq_server_groups_name'),
        **TABLE_ARGS,
    )
    op.create_table(
        'server_group_members',
        sa.Column('group_id', sa.String(36), nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('created_at', _dt(), nullable=False),
        # An instance belongs to one group at most, as in Nova.
        sa.PrimaryKeyConstraint('instance_uuid', name='pk_server_group_members'),
        sa.ForeignKeyConstraint(['group_id'], ['server_groups.id'], ondelete='CASCADE',
                                name='fk_server_group_members_group_id_server_groups'),
        **TABLE_ARGS,
    )
    op.create_index('ix_server_group_members_group_id', 'server_group_members', ['group_id'])


def downgrade():
    op.drop_table('server_group_members')
    op.drop_table('server_groups')
    op.drop_table('scheduler_claims')
    op.drop_table('scheduler_counters')
    with op.batch_alter_table('migrations') as batch:
        batch.drop_column('priority')
    with op.batch_alter_table('instances') as batch:
        batch.drop_column('cpu_model')
    op.drop_index('ix_hosts_updated_at', 'hosts')
    with op.batch_alter_table('hosts') as batch:
        for column in ('claimed_memory_mb', 'claimed_vcpus', 'claimed_disk_gb',
                       'outbound_migrations', 'inbound_migrations', 'cpu_models'):
            batch.drop_column(column)
