"""Counts for monitoring (a mixin of db.api.Database)."""

import sqlalchemy as sa

from migrator.common import states
from migrator.db.models import migrations


class StatsQueries:
    def migration_counts_unfinished(self):
        """{(type, status): count} of the migrations not in a final state."""
        c = migrations.c
        query = (sa.select(c.type, c.status, sa.func.count())
                 .where(c.status.not_in(sorted(states.TERMINAL)))
                 .group_by(c.type, c.status))
        with self._read() as conn:
            return {(kind, status): count for kind, status, count in conn.execute(query)}
