"""Rebalance plans: plans and plan_moves.

Revision ID: 0002_plans
Revises: 0002_drain
Create Date: 2026-11-26

Types are spelled out here (not imported from the models), as in 0001.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002_plans'
down_revision = '0002_converge'
branch_labels = None
depends_on = None

TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}


def _dt():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'plans',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('goal', sa.String(16), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('max_moves', sa.Integer),
        sa.Column('min_gain', sa.Double, nullable=False),
        sa.Column('score_before', sa.Double, nullable=False),
        sa.Column('score_after', sa.Double, nullable=False),
        sa.Column('memory_spread_before', sa.Double, nullable=False),
        sa.Column('memory_spread_after', sa.Double, nullable=False),
        sa.Column('vcpu_spread_before', sa.Double, nullable=False),
        sa.Column('vcpu_spread_after', sa.Double, nullable=False),
        sa.Column('predicted_seconds', sa.Double, nullable=False),
        sa.Column('jobsets', sa.Integer, nullable=False),
        sa.Column('stop_reason', sa.Text),
        sa.Column('conductor', sa.String(255)),
        sa.Column('error', sa.Text),
        sa.Column('created_at', _dt(), nullable=False),
        sa.Column('updated_at', _dt(), nullable=False),
        sa.Column('started_at', _dt()),
        sa.Column('finished_at', _dt()),
        sa.PrimaryKeyConstraint('id', name='pk_plans'),
        **TABLE_ARGS,
    )
    op.create_index('ix_plans_created_at_id', 'plans', ['created_at', 'id'])
    op.create_table(
        'plan_moves',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('plan_id', sa.String(36), nullable=False),
        sa.Column('seq', sa.Integer, nullable=False),
        sa.Column('jobset', sa.Integer, nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('instance_name', sa.String(255)),
        sa.Column('source_host', sa.String(255), nullable=False),
        sa.Column('target_host', sa.String(255), nullable=False),
        sa.Column('memory_mb', sa.Integer, nullable=False),
        sa.Column('vcpus', sa.Integer, nullable=False),
        sa.Column('disk_gb', sa.Integer, nullable=False),
        sa.Column('gain', sa.Double, nullable=False),
        sa.Column('score_after', sa.Double, nullable=False),
        sa.Column('predicted_seconds', sa.Double, nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('migration_id', sa.String(36)),
        sa.Column('reason', sa.Text),
        sa.Column('started_at', _dt()),
        sa.Column('finished_at', _dt()),
        sa.PrimaryKeyConstraint('id', name='pk_plan_moves'),
        sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ondelete='CASCADE',
                                name='fk_plan_moves_plan_id_plans'),
        **TABLE_ARGS,
    )
    op.create_index('ix_plan_moves_plan_id', 'plan_moves', ['plan_id'])


def downgrade():
    op.drop_table('plan_moves')
    op.drop_table('plans')
