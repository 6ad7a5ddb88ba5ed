"""Conductor incarnations, owner generations, and claims the agent's usage already counts.

Revision ID: 0004_faults_conductor
Revises: 0003_landed
Create Date: 2026-11-29

- conductors: one row per conductor name ([DEFAULT] host) with the incarnation that runs
  under it now and that incarnation's heartbeat; a conductor whose heartbeat is older than
  [conductor] takeover_after is dead, and live conductors adopt its work.
- migrations, drains, plans: `generation`, bumped by every take-over (and every start), so
  that a transition of an owner that lost the work is a compare-and-swap that fails.
- scheduler_claims.counted: the target's agent counted the guest of this (in-flight)
  migration in its reported usage (the paused incoming domain is an active domain), so the
  claim is not counted in the host's claimed_* columns at the same time.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0004_faults_conductor'
down_revision = '0003_landed'
branch_labels = None
depends_on = None

TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}


def _dt():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'conductors',
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('incarnation', sa.String(36), nullable=False),
        sa.Column('machine', sa.String(255), nullable=True),
        sa.Column('pid', sa.Integer(), nullable=True),
        sa.Column('started_at', _dt(), nullable=False),
        sa.Column('heartbeat_at', _dt(), nullable=False),
        sa.Column('stopped_at', _dt(), nullable=True),
        sa.PrimaryKeyConstraint('name', name='pk_conductors'),
        **TABLE_ARGS,
    )
    for table in ('migrations', 'drains', 'plans'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('generation', sa.Integer(), nullable=False,
                                       server_default='0'))
    with op.batch_alter_table('scheduler_claims') as batch:
        batch.add_column(sa.Column('counted', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('scheduler_claims') as batch:
        batch.drop_column('counted')
    for table in ('plans', 'drains', 'migrations'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('generation')
    op.drop_table('conductors')
