"""Queries of drain jobs (mixed into migrator.db.api.Database).

As everywhere in the DB API: one transaction per method, plain dicts out, every state change
a compare-and-swap whose row count says who won.
"""

import json
import uuid as uuidlib

import sqlalchemy as sa

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db import drain_models as dm
from migrator.db import engine as db_engine
from migrator.db import paging, requester
from migrator.db.models import hosts, migrations
from migrator.db.observers import observed

# Columns of the migration shown next to each item, so one read shows the drain's progress.
_MIGRATION_COLUMNS = ('status', 'progress', 'error', 'eta_seconds', 'target_host')


def _drain_dict(row):
    record = dict(row._mapping)
    record['target_hosts'] = (json.loads(record['target_hosts'])
                              if record.get('target_hosts') else None)
    return record


class DrainQueries:
    """Needs self._write(), self._read() and self.engine (Database provides them)."""

    @observed('drain')
    @db_engine.retry_on_deadlock
    def drain_create(self, values, items=(), host_status=None):
        """Record a new job in state `accepted`, with its items (pending), atomically.

        values: kind, host, mode, max_parallel; optional id, target_hosts (list), origin_id,
        reason. host_status: (status, reason) written to the host in the same transaction
        (a drain puts its host in maintenance). Raises DrainInProgress when the host already
        has an unfinished job.
        """
        now = utcnow()
        row = {'id': values.get('id') or str(uuidlib.uuid4()), 'kind': values['kind'],
               'host': values['host'], 'active_host': values['host'],
               'mode': values['mode'], 'status': states.DRAIN_ACCEPTED,
               'max_parallel': int(values['max_parallel']),
               'target_hosts': (json.dumps(values['target_hosts'])
                                if values.get('target_hosts') else None),
               'origin_id': values.get('origin_id'), 'reason': values.get('reason'),
               'created_at': now, 'updated_at': now, **requester.current()}
        try:
            with self._write() as conn:
                conn.execute(sa.insert(dm.drains).values(row))
                if items:
                    conn.execute(sa.insert(dm.drain_items),
                                 [self._item_row(row['id'], item, now) for item in items])
                if host_status is not None:
                    status, reason = host_status
                    res = conn.execute(sa.update(hosts).where(hosts.c.name == row['host'])
                                       .values(status=status, status_reason=reason,
                                               updated_at=now))
                    if res.rowcount == 0:
                        raise exceptions.HostNotFound(name=row['host'])
        except sa.exc.IntegrityError:
            active = self.drain_active(row['host'])
            if active is None:  # it ended in between: let the caller try again
                raise exceptions.Conflict(
                    f"Host '{row['host']}' had a drain job ending just now; try again."
                ) from None
            raise exceptions.DrainInProgress(host=row['host'], kind=active['kind'],
                                             id=active['id'], status=active['status']) from None
        return self.drain_get(row['id'])

    @staticmethod
    def _item_row(drain_id, item, now):
        return {'drain_id': drain_id, 'instance_uuid': item['instance_uuid'],
                'instance_name': item.get('instance_name'),
                'source_host': item['source_host'], 'target_host': item.get('target_host'),
                'status': states.DRAIN_ITEM_PENDING, 'attempts': 0, 'created_at': now,
                'updated_at': now}

    def drain_items_add(self, drain_id, items):
        """Add pending items (a conductor fills a drain's list when it starts it)."""
        if not items:
            return
        now = utcnow()
        with self._write() as conn:
            conn.execute(sa.insert(dm.drain_items),
                         [self._item_row(drain_id, item, now) for item in items])

    def _drain_get(self, conn, drain_id):
        row = conn.execute(sa.select(dm.drains).where(dm.drains.c.id == drain_id)).first()
        if row is None:
            raise exceptions.DrainNotFound(id=drain_id)
        record = _drain_dict(row)
        i, m = dm.drain_items.c, migrations.c
        query = (sa.select(dm.drain_items,
                           *[m[c].label(f'migration_{c}') for c in _MIGRATION_COLUMNS])
                 .select_from(dm.drain_items.outerjoin(migrations, m.id == i.migration_id))
                 .where(i.drain_id == drain_id).order_by(i.id))
        record['items'] = [dict(r._mapping) for r in conn.execute(query)]
        return record

    def drain_get(self, drain_id):
        """The job with its items; each item carries its current migration's status,
        progress, error and eta_seconds as migration_<column>."""
        with self._read() as conn:
            return self._drain_get(conn, drain_id)

    def drain_latest(self, host, kind=None):
        """The newest job of a host (of one kind, if given), or None."""
        c = dm.drains.c
        query = sa.select(c.id).where(c.host == host)
        if kind is not None:
            query = query.where(c.kind == kind)
        query = query.order_by(c.created_at.desc(), c.id.desc()).limit(1)
        with self._read() as conn:
            found = conn.execute(query).scalar()
            return self._drain_get(conn, found) if found else None

    def drain_list(self, host=None, limit=50, marker=None):
        """Jobs newest first (of one host, if given), each with its items; `marker` is the
        id of the last job of the previous page."""
        c = dm.drains.c
        order = [(c.created_at, True), (c.id, True)]
        query = paging.ordered(sa.select(c.id), order, limit)
        if host is not None:
            query = query.where(c.host == host)
        with self._read() as conn:
            if marker is not None:
                query = paging.after_marker(conn, query, dm.drains, 'id', marker, order,
                                            'drain id')
            return [self._drain_get(conn, i) for (i,) in conn.execute(query).all()]

    def drain_active(self, host):
        """The host's unfinished job, or None."""
        with self._read() as conn:
            found = conn.execute(sa.select(dm.drains.c.id)
                                 .where(dm.drains.c.active_host == host)).scalar()
            return self._drain_get(conn, found) if found else None

    @observed('drain')
    @db_engine.retry_on_deadlock
    def drain_transition(self, drain_id, from_states, to_state, values=None, conductor=None,
                         generation=None):
        """CAS the job from one of from_states to to_state; returns it.

        conductor (and generation): when given, only if the job is still that conductor's
        (at that generation): a conductor that lost it to a take-over must not move it on.
        Naming a conductor in values takes the job: its generation is bumped
        (migrator.db.queries.conductors). Entering a terminal state sets finished_at and frees the
        host for the next job.
        """
        values = dict(values or {})
        unknown = set(values) - dm.DRAIN_WRITABLE
        if unknown:
            raise ValueError(f"drain_transition does not take {', '.join(sorted(unknown))}")
        c = dm.drains.c
        now = utcnow()
        changes = {**values, 'status': to_state, 'updated_at': now}
        if 'conductor' in values:
            changes['generation'] = c.generation + 1
        if to_state in states.DRAIN_TERMINAL:
            changes.update(finished_at=now, active_host=None)
        cond = [c.id == drain_id, c.status.in_(list(from_states))]
        if conductor is not None:
            cond.append(c.conductor == conductor)
        if generation is not None:
            cond.append(c.generation == generation)
        with self._write() as conn:
            res = conn.execute(sa.update(dm.drains).where(*cond).values(changes))
            if res.rowcount == 0:
                current = conn.execute(sa.select(c.status).where(c.id == drain_id)).scalar()
                if current is None:
                    raise exceptions.DrainNotFound(id=drain_id)
                raise exceptions.InvalidDrainTransition(id=drain_id, current=current,
                                                        target=to_state)
            return self._drain_get(conn, drain_id)

    @db_engine.retry_on_deadlock
    def drain_item_update(self, item_id, from_states, values):
        """CAS one item from one of from_states, writing values; True when it happened."""
        values = dict(values)
        unknown = set(values) - dm.ITEM_WRITABLE
        if unknown:
            raise ValueError(f"drain_item_update does not take {', '.join(sorted(unknown))}")
        c = dm.drain_items.c
        now = utcnow()
        values['updated_at'] = now
        if values.get('status') in states.DRAIN_ITEM_TERMINAL:
            values.setdefault('finished_at', now)
        with self._write() as conn:
            res = conn.execute(sa.update(dm.drain_items).where(
                c.id == item_id, c.status.in_(list(from_states))).values(values))
            return res.rowcount == 1

    @db_engine.retry_on_deadlock
    def drain_cancel(self, drain_id, reason):
        """Cancel what has not started: an `accepted` job ends `cancelled` at once; a running
        one becomes `cancelling` (its conductor ends it once the migrations it started have
        ended) and its pending items `cancelled`. Returns the job; a finished one raises
        InvalidDrainTransition."""
        c, i = dm.drains.c, dm.drain_items.c
        now = utcnow()
        with self._write() as conn:
            res = conn.execute(sa.update(dm.drains).where(
                c.id == drain_id, c.status == states.DRAIN_ACCEPTED).values(
                    status=states.DRAIN_CANCELLED, reason=reason, updated_at=now, finished_at=now,
                    active_host=None))
            if res.rowcount == 0:
                res = conn.execute(sa.update(dm.drains).where(
                    c.id == drain_id, c.status == states.DRAIN_RUNNING).values(
                        status=states.DRAIN_CANCELLING, reason=reason))
            if res.rowcount == 0:
                current = conn.execute(sa.select(c.status).where(c.id == drain_id)).scalar()
                if current is None:
                    raise exceptions.DrainNotFound(id=drain_id)
                if current != states.DRAIN_CANCELLING:
                    raise exceptions.InvalidDrainTransition(id=drain_id, current=current,
                                                            target=states.DRAIN_CANCELLED)
            conn.execute(sa.update(dm.drain_items).where(
                i.drain_id == drain_id, i.status == states.DRAIN_ITEM_PENDING).values(
                    status=states.DRAIN_ITEM_CANCELLED, reason=reason, updated_at=now,
                    finished_at=now))
            return self._drain_get(conn, drain_id)
