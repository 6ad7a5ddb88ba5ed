"""A plan cut short by max_moves says so, and what gain was left.

Revision ID: 0005_plan_remaining
Revises: 0005_conductor_version
Create Date: 2026-12-06

truncated: the search stopped at max_moves with moves still worth making; remaining_gain and
remaining_moves: the score those moves would still take off, and how many they are (null for
a plan that was not cut, and for plans from before).
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_plan_remaining'
down_revision = '0005_conductor_version'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('plans') as batch:
        batch.add_column(sa.Column('truncated', sa.Boolean))
        batch.add_column(sa.Column('remaining_gain', sa.Double))
        batch.add_column(sa.Column('remaining_moves', sa.Integer))


def downgrade():
    with op.batch_alter_table('plans') as batch:
        batch.drop_column('remaining_moves')
        batch.drop_column('remaining_gain')
        batch.drop_column('truncated')
