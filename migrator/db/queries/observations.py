"""Observations of completed live migrations, per guest (a mixin of db.api.Database)."""

import sqlalchemy as sa

from migrator.db import observation_models as om
from migrator.db.models import utcnow


class ObservationQueries:
    def observation_create(self, values):
        """Record what one completed migration showed; returns the row."""
        unknown = set(values) - om.OBSERVATION_FIELDS
        if unknown:
            raise ValueError(f"observation_create does not take {', '.join(sorted(unknown))}")
        row = {'time': utcnow(), **values}
        with self._write() as conn:
            new_id = conn.execute(sa.insert(om.migration_observations).values(row)
                                  ).inserted_primary_key[0]
            return dict(conn.execute(sa.select(om.migration_observations).where(
                om.migration_observations.c.id == new_id)).first()._mapping)

    def observation_list(self, instance_uuid, limit=20):
        """The guest's observations, newest first."""
        o = om.migration_observations.c
        query = (sa.select(om.migration_observations).where(o.instance_uuid == instance_uuid)
                 .order_by(o.id.desc()).limit(int(limit)))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def observation_overheads(self, source_host=None, target_host=None, limit=10):
        """The residual overheads (seconds) of the last `limit` observed migrations that have
        one, newest first: of the source -> target pair when both are given, else of any."""
        return self._recent('overhead_seconds', source_host, target_host, limit)

    def observation_effective_rates(self, source_host=None, target_host=None,
                                    bandwidth_mib=None, limit=10):
        """The effective rates (bytes/s) of the last `limit` observed migrations that have one
        and ran under the cap bandwidth_mib (None: uncapped), newest first: of the source ->
        target pair when both are given, else of any."""
        o = om.migration_observations.c
        cap = (o.bandwidth_mib == int(bandwidth_mib)) if bandwidth_mib else \
            o.bandwidth_mib.is_(None)
        return self._recent('effective_rate', source_host, target_host, limit, cap)

    def _recent(self, column, source_host, target_host, limit, *where):
        """The column's values of the last `limit` observations that have one, newest first,
        of the source -> target pair when both are given."""
        o = om.migration_observations.c
        query = sa.select(o[column]).where(o[column].is_not(None), *where)
        if source_host is not None and target_host is not None:
            query = query.where(o.source_host == source_host, o.target_host == target_host)
        query = query.order_by(o.id.desc()).limit(int(limit))
        with self._read() as conn:
            return [row[0] for row in conn.execute(query)]
