"""Progress of running migrations: the figures on the migration row and the samples kept
for its history. A mixin of migrator.db.api.Database."""

import sqlalchemy as sa

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db import models, requester
from migrator.db.models import migration_events, migration_samples, migrations


class MigrationProgressQueries:
    def migration_update_progress(self, mig_id, values, sample=False):
        """Record a progress report; percentages never go backwards.

        With sample=True the report is also kept as a row of migration_samples (with the
        percentages as stored, so the history rises as the migration's figures do).
        Returns False (and changes nothing) when the migration already ended: a report that
        arrives late must not overwrite the final figures.
        """
        values = dict(values)
        elapsed_ms = values.pop('elapsed_ms', None)
        models_fields = models.PROGRESS_FIELDS
        unknown = set(values) - models_fields
        if unknown:
            raise ValueError(f"migration_update_progress does not take "
                             f"{', '.join(sorted(unknown))}")
        c = migrations.c
        changes = {k: v for k, v in values.items() if k not in models.PERCENT_FIELDS}
        for field in models.PERCENT_FIELDS:
            if values.get(field) is None:
                continue
            pct = min(100.0, max(0.0, float(values[field])))
            column = c[field]
            changes[field] = sa.case((sa.or_(column.is_(None), column < pct), pct),
                                     else_=column)
        now = utcnow()
        changes['updated_at'] = now
        with self._write() as conn:
            res = conn.execute(sa.update(migrations).where(
                c.id == mig_id, c.status.not_in(states.TERMINAL)).values(changes))
            if not res.rowcount:
                if conn.execute(sa.select(c.id).where(c.id == mig_id)).first() is None:
                    raise exceptions.MigrationNotFound(id=mig_id)
                return False
            if sample:
                stored = conn.execute(sa.select(*(c[f] for f in models.PERCENT_FIELDS))
                                      .where(c.id == mig_id)).first()
                row = {**values, **stored._mapping, 'migration_id': mig_id, 'time': now,
                       'elapsed_ms': elapsed_ms}
                conn.execute(sa.insert(migration_samples).values(row))
            return True

    def migration_note(self, mig_id, detail):
        """An event in the migration's history that changes no state (from = to = its status
        now), e.g. the conductor's diagnosis that it stopped converging. False when the
        migration already ended."""
        c = migrations.c
        with self._write() as conn:
            row = conn.execute(sa.select(c.status).where(c.id == mig_id)).first()
            if row is None:
                raise exceptions.MigrationNotFound(id=mig_id)
            if row.status in states.TERMINAL:
                return False
            conn.execute(sa.insert(migration_events).values(
                migration_id=mig_id, time=utcnow(), from_state=row.status,
                to_state=row.status, detail=detail, **requester.current()))
            return True

    def migration_sample_list(self, mig_id, limit=None, marker=None, first=None):
        """Samples oldest first. marker: only those after the sample of that id; limit: the
        newest `limit` of them; first: the oldest `first` of them (a page). MigrationNotFound
        when the migration does not exist."""
        s = migration_samples.c
        query = sa.select(migration_samples).where(s.migration_id == mig_id)
        if marker is not None:
            query = query.where(s.id > int(marker))
        if limit is not None:
            query = query.order_by(s.id.desc()).limit(int(limit))
        else:
            query = query.order_by(s.id)
            if first is not None:
                query = query.limit(int(first))
        with self._read() as conn:
            if conn.execute(sa.select(migrations.c.id)
                            .where(migrations.c.id == mig_id)).first() is None:
                raise exceptions.MigrationNotFound(id=mig_id)
            rows = [dict(r._mapping) for r in conn.execute(query)]
        if limit is not None:
            rows.reverse()
        return rows

    def migration_sample_count(self, mig_id):
        s = migration_samples.c
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(migration_samples)
                                .where(s.migration_id == mig_id)).scalar()
