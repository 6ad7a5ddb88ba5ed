"""Who did what: the requester of each migration, drain, plan and event.

Revision ID: 0004_policy
Revises: 0004_observability
Create Date: 2026-11-29

The user (id and name), project (id and name) and request ids (this API's request_id, and
the caller's global_request_id) of the request each row was written for; null for rows the
services write on their own (recovery after a restart) and for rows from before.
"""

import sqlalchemy as sa
from alembic import op

revision = '0004_policy'
down_revision = '0004_observability'
branch_labels = None
depends_on = None

TABLES = ('migrations', 'migration_events', 'drains', 'plans')
COLUMNS = (('user_id', 255), ('user_name', 255), ('project_id', 255), ('project_name', 255),
           ('request_id', 64), ('global_request_id', 64))


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name, length in COLUMNS:
                batch.add_column(sa.Column(name, sa.String(length)))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name, _length in reversed(COLUMNS):
                batch.drop_column(name)
