"""The residual overhead of each observed live migration (its duration minus what its passes
explain), so that the convergence forecast learns the fixed overhead per host pair.

Revision ID: 0007_observation_overhead
Revises: 0006_migration_observations
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = '0007_observation_overhead'
down_revision = '0006_migration_observations'
branch_labels = None
depends_on = None


def upgrade():
    # Batch mode: SQLite alters a table by copying it.
    with op.batch_alter_table('migration_observations') as batch:
        batch.add_column(sa.Column('overhead_seconds', sa.Double))
    # The forecast reads the last few of a source -> target pair.
    op.create_index('ix_migration_observations_hosts_id', 'migration_observations',
                    ['source_host', 'target_host', 'id'])


def downgrade():
    op.drop_index('ix_migration_observations_hosts_id', 'migration_observations')
    with op.batch_alter_table('migration_observations') as batch:
        batch.drop_column('overhead_seconds')
