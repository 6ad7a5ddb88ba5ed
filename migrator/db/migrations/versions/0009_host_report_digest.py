"""What the DB holds of each host's last report, on the host's row: the digest of the
report last written in full, the agent's time of the newest report it stands for, when its
guests' rows were written and how many the host had then. Any conductor can then tell an
unchanged report from the row alone and write it as a heartbeat; before, only the conductor
that wrote the report knew (from its memory), so after a restart, and with two conductors
taking turns on one host, unchanged reports were written in full.

Revision ID: 0009_host_report_digest
Revises: 0008_observation_effective_rate
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0009_host_report_digest'
down_revision = '0008_observation_effective_rate'
branch_labels = None
depends_on = None


def _datetime():
    # Microseconds on MariaDB/MySQL too (plain DATETIME drops them): the heartbeat compares
    # this with the guests' rows' updated_at.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    # Batch mode: SQLite alters a table by copying it. All NULL: every host's next report is
    # written in full once, as after a conductor restart before.
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('report_digest', sa.String(32)))
        batch.add_column(sa.Column('report_digest_at', _datetime()))
        batch.add_column(sa.Column('report_synced_at', _datetime()))
        batch.add_column(sa.Column('report_instances', sa.Integer))


def downgrade():
    with op.batch_alter_table('hosts') as batch:
        batch.drop_column('report_instances')
        batch.drop_column('report_synced_at')
        batch.drop_column('report_digest_at')
        batch.drop_column('report_digest')
