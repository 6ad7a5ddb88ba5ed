"""What each completed live migration of a guest showed (its dirty rate, passes, duration,
downtime), so that the convergence forecast of its next migration learns from it.

Revision ID: 0006_migration_observations
Revises: 0005_plan_remaining
Create Date: 2026-12-06

Types are spelled out here, as in 0001, so the script keeps creating the same schema when
the models move on.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0006_migration_observations'
down_revision = '0005_plan_remaining'
branch_labels = None
depends_on = None

TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}


def upgrade():
    op.create_table(
        'migration_observations',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('migration_id', sa.String(36), nullable=False),
        sa.Column('time', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb'),
                  nullable=False),
        sa.Column('source_host', sa.String(255)),
        sa.Column('target_host', sa.String(255)),
        sa.Column('memory_bytes', sa.BigInteger),
        sa.Column('dirty_rate', sa.BigInteger),
        sa.Column('transfer_rate', sa.BigInteger),
        sa.Column('working_set_bytes', sa.BigInteger),
        sa.Column('iterations', sa.Integer),
        sa.Column('duration_seconds', sa.Double),
        sa.Column('downtime_ms', sa.Integer),
        sa.Column('bandwidth_mib', sa.Integer),
        sa.PrimaryKeyConstraint('id', name='pk_migration_observations'),
        **TABLE_ARGS,
    )
    op.create_index('ix_migration_observations_instance_uuid_id', 'migration_observations',
                    ['instance_uuid', 'id'])


def downgrade():
    op.drop_table('migration_observations')
