"""The effective rate of each observed live migration (the bytes of its passes per second of
its job), so that the convergence forecast learns what a bandwidth cap really gives a host
pair instead of taking the cap at its word.

Revision ID: 0008_observation_effective_rate
Revises: 0007_observation_overhead
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_observation_effective_rate'
down_revision = '0007_observation_overhead'
branch_labels = None
depends_on = None


def upgrade():
    # Batch mode: SQLite alters a table by copying it.
    with op.batch_alter_table('migration_observations') as batch:
        batch.add_column(sa.Column('effective_rate', sa.BigInteger))


def downgrade():
    with op.batch_alter_table('migration_observations') as batch:
        batch.drop_column('effective_rate')
