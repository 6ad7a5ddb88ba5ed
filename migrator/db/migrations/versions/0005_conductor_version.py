"""Conductors record the migrator version they run (GET /v1/conductors and
migrator-manage status show it).

Revision ID: 0005_conductor_version
Revises: 0004_policy
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_conductor_version'
down_revision = '0004_policy'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conductors') as batch:
        batch.add_column(sa.Column('version', sa.String(64)))


def downgrade():
    with op.batch_alter_table('conductors') as batch:
        batch.drop_column('version')
