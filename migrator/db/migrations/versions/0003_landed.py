"""Claims outlive the migration until the target's agent counts the guest.

Revision ID: 0003_landed
Revises: 0002_sched
Create Date: 2026-11-26

A completed migration's claim on its target is kept, marked landed_at, until a report from
the target's agent counts the guest in its usage; hosts remember the agent's time of the
newest report applied (usage_reported_at), so an older report delivered late (the two
conductors take reports off one queue) never overwrites a newer one.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0003_landed'
down_revision = '0002_sched'
branch_labels = None
depends_on = None


def _dt():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('usage_reported_at', _dt()))
    with op.batch_alter_table('scheduler_claims') as batch:
        batch.add_column(sa.Column('landed_at', _dt()))


def downgrade():
    with op.batch_alter_table('scheduler_claims') as batch:
        batch.drop_column('landed_at')
    with op.batch_alter_table('hosts') as batch:
        batch.drop_column('usage_reported_at')
