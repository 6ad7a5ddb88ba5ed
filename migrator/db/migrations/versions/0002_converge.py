"""Live-migration monitoring and convergence: more progress columns, the effective
convergence settings of a migration, and its progress samples.

Revision ID: 0002_converge
Revises: 0001
Create Date: 2026-11-26

Types are spelled out here, as in 0001, so the script keeps creating the same schema when
the models move on.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002_converge'
down_revision = '0002_drain'
branch_labels = None
depends_on = None

TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}

# Progress figures a migration row carries beyond 0001's, and each sample carries too.
_NEW_PROGRESS = (
    ('memory_progress', sa.Double), ('disk_progress', sa.Double),
    ('data_total', sa.BigInteger), ('data_processed', sa.BigInteger),
    ('data_remaining', sa.BigInteger), ('transfer_rate', sa.BigInteger),
    ('downtime_limit_ms', sa.Integer),
)


def _dt():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    with op.batch_alter_table('migrations') as batch:
        for name, type_ in _NEW_PROGRESS:
            batch.add_column(sa.Column(name, type_))
        # JSON text: the convergence settings the migration runs with.
        batch.add_column(sa.Column('convergence', sa.Text))
    op.create_table(
        'migration_samples',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('migration_id', sa.String(36), nullable=False),
        sa.Column('time', _dt(), nullable=False),
        sa.Column('elapsed_ms', sa.BigInteger),
        sa.Column('progress', sa.Double),
        sa.Column('memory_progress', sa.Double),
        sa.Column('disk_progress', sa.Double),
        sa.Column('memory_total', sa.BigInteger),
        sa.Column('memory_processed', sa.BigInteger),
        sa.Column('memory_remaining', sa.BigInteger),
        sa.Column('disk_total', sa.BigInteger),
        sa.Column('disk_processed', sa.BigInteger),
        sa.Column('disk_remaining', sa.BigInteger),
        sa.Column('data_total', sa.BigInteger),
        sa.Column('data_processed', sa.BigInteger),
        sa.Column('data_remaining', sa.BigInteger),
        sa.Column('dirty_rate', sa.BigInteger),
        sa.Column('transfer_rate', sa.BigInteger),
        sa.Column('iteration', sa.Integer),
        sa.Column('downtime_ms', sa.Integer),
        sa.Column('downtime_limit_ms', sa.Integer),
        sa.Column('eta_seconds', sa.Double),
        sa.PrimaryKeyConstraint('id', name='pk_migration_samples'),
        sa.ForeignKeyConstraint(['migration_id'], ['migrations.id'], ondelete='CASCADE',
                                name='fk_migration_samples_migration_id_migrations'),
        **TABLE_ARGS,
    )
    op.create_index('ix_migration_samples_migration_id_id', 'migration_samples',
                    ['migration_id', 'id'])


def downgrade():
    op.drop_table('migration_samples')
    with op.batch_alter_table('migrations') as batch:
        batch.drop_column('convergence')
        for name, _type in reversed(_NEW_PROGRESS):
            batch.drop_column(name)
