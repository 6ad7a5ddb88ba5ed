"""Hosts record the migrator version of their agent (migrator-manage status shows it).

Revision ID: 0004_observability
Revises: 0004_faults_conductor
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = '0004_observability'
down_revision = '0004_faults_conductor'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('agent_version', sa.String(64)))


def downgrade():
    with op.batch_alter_table('hosts') as batch:
        batch.drop_column('agent_version')
