"""Queries of hosts: their agents' reports, their status, the listings.

A mixin of migrator.db.api.Database (self._read(), self._write(); the scheduling queries'
claim bookkeeping, which a report settles).
"""

import json

import sqlalchemy as sa

from migrator.common import exceptions
from migrator.db import engine as db_engine
from migrator.db import models, paging
from migrator.db.models import hosts, instances, scheduler_claims, utcnow
from migrator.db.rows import as_dict, naive_utc


class HostQueries:

    @db_engine.retry_on_deadlock
    def host_report(self, name, values, reported_at=None, active_uuids=(), alive_after=None):
        """Insert or update a host from its agent's report; status is the operator's alone.

        Keys of `values` outside models.HOST_REPORT_FIELDS are ignored, so that an agent newer than
        this schema can still report. reported_at is when the agent gathered the report (its
        clock; now when None): a report older than the newest one applied is dropped, since
        the two conductors can deliver an agent's reports out of order. active_uuids are the
        instances the report counts as running here; the claims of completed migrations on
        this host are given back once a report counts their guest (see
        SchedulingQueries._release_landed_claims).

        alive_after: when the report is older than the one applied, it refreshes the host's
        heartbeat only if that heartbeat is at or after alive_after (the host counts as up).
        A host marked down (host_mark_down) by a newer report, or whose heartbeats stopped,
        is not revived by a report from before: with two conductors, one's queued heartbeat
        could otherwise bring a host up again right after the other marked it down while its
        libvirtd was away.
        """
        now = utcnow()
        reported_at = naive_utc(reported_at) if reported_at is not None else now
        fields = {k: v for k, v in values.items() if k in models.HOST_REPORT_FIELDS}
        if isinstance(fields.get('cpu_models'), (list, tuple)):
            fields['cpu_models'] = json.dumps(sorted(fields['cpu_models']))
        # The digest of what the DB holds is unknown until this report's instance sync
        # says it took the whole report (instance_sync_host stores it then): meanwhile no
        # heartbeat may take the old one for what the row says.
        fields.update(last_heartbeat=now, updated_at=now, usage_reported_at=reported_at,
                      report_digest=None)
        h = hosts.c
        with self._write() as conn:
            # UPDATE first: an upsert on every heartbeat would burn an id (sequence value)
            # each time, and heartbeats come often.
            res = conn.execute(sa.update(hosts).where(
                h.name == name,
                sa.or_(h.usage_reported_at.is_(None), h.usage_reported_at < reported_at),
            ).values(fields))
            if res.rowcount == 0:
                if conn.execute(sa.select(h.id).where(h.name == name)).first() is not None:
                    # A newer report is applied already: this one only says the agent lives
                    # (so an agent whose clock stepped back is not taken for dead), unless
                    # the host counts as down (see alive_after).
                    alive = h.name == name
                    if alive_after is not None:
                        alive = sa.and_(alive, h.last_heartbeat >= naive_utc(alive_after))
                    conn.execute(sa.update(hosts).where(alive).values(
                        last_heartbeat=now, updated_at=now))
                    return as_dict(conn.execute(sa.select(hosts).where(h.name == name)).first())
                row = {**models.HOST_DEFAULTS, **fields, 'name': name, 'created_at': now}
                stmt = db_engine.upsert(self.engine, hosts, ['name'],
                                        lambda new: {k: new[k] for k in fields})
                conn.execute(stmt, row)
            self._release_landed_claims(conn, name, reported_at, active_uuids)
            self._count_claims(conn, name, active_uuids)
            return as_dict(conn.execute(sa.select(hosts).where(h.name == name)).first())

    @db_engine.retry_on_deadlock
    def host_heartbeats(self, beats, now=None):
        """The heartbeats of hosts whose reports change nothing, in one transaction.

        beats: (name, digest, reported_at, fresh_after) each. A host's heartbeat is applied
        only when the DB holds what that report says, which the row itself tells, whichever
        conductor wrote it: the report last written in full had this digest
        (hosts.report_digest, NULL while a full write is under way or when the DB took a
        report only in part) and nothing but such reports' writes and heartbeats moved the
        row's usage_reported_at since (report_digest_at: a down mark, or a conductor of an
        older release that knows nothing of the digest, leaves it behind), no newer report
        was applied, no guest row of the host changed
        and none came or went since that write (report_synced_at, report_instances), it was
        written at or after fresh_after (a full write is due now and then, whatever the
        digest), and no claim of a migration targets the host (a report settles those, so it
        must be written in full). Returns (the time set as last_heartbeat and updated_at,
        the names heartbeated); the caller writes the others' reports in full.
        """
        now = now or utcnow()
        h = hosts.c
        stmt = sa.update(hosts).where(
            h.name == sa.bindparam('b_name'),
            h.report_digest == sa.bindparam('b_digest'),
            h.usage_reported_at == h.report_digest_at,
            h.usage_reported_at < sa.bindparam('b_reported'),
            h.report_synced_at >= sa.bindparam('b_fresh'),
            ~sa.exists().where(scheduler_claims.c.target_host == h.name),
            ~sa.exists().where(instances.c.host == h.name,
                               instances.c.updated_at > h.report_synced_at),
            sa.select(sa.func.count()).where(instances.c.host == h.name).scalar_subquery()
            == h.report_instances,
        ).values(last_heartbeat=sa.bindparam('b_now'), updated_at=sa.bindparam('b_now'),
                 usage_reported_at=sa.bindparam('b_reported'),
                 report_digest_at=sa.bindparam('b_reported'))
        params = [{'b_name': name, 'b_digest': digest, 'b_reported': naive_utc(reported_at),
                   'b_fresh': naive_utc(fresh_after), 'b_now': now}
                  for name, digest, reported_at, fresh_after in beats]
        if not params:
            return now, set()
        names = [p['b_name'] for p in params]
        with self._write() as conn:
            res = conn.execute(stmt, params)
            if res.rowcount == len(params):
                return now, set(names)
            # Some did not match: the rows now stamped with this flush's time are ours.
            done = set(conn.execute(sa.select(h.name).where(
                h.name.in_(names), h.updated_at == now)).scalars())
        return now, done

    @db_engine.retry_on_deadlock
    def host_mark_down(self, name, reported_at, down_since):
        """The host's agent lost its hypervisor at reported_at: its heartbeat is set back to
        down_since (which the caller puts beyond the down time) so it counts as down at
        once. Only when no newer report was applied; returns the row, or None when nothing
        changed (no such host, or a newer report)."""
        reported_at = naive_utc(reported_at)
        h = hosts.c
        with self._write() as conn:
            res = conn.execute(sa.update(hosts).where(
                h.name == name,
                sa.or_(h.usage_reported_at.is_(None), h.usage_reported_at < reported_at),
            ).values(last_heartbeat=naive_utc(down_since), updated_at=utcnow(),
                     usage_reported_at=reported_at))
            if res.rowcount == 0:
                return None
            return as_dict(conn.execute(sa.select(hosts).where(h.name == name)).first())

    def host_get(self, name):
        with self._read() as conn:
            row = conn.execute(sa.select(hosts).where(hosts.c.name == name)).first()
        if row is None:
            raise exceptions.HostNotFound(name=name)
        return as_dict(row)

    def host_list(self, limit=None, marker=None):
        """By name; `marker` is the name of the last host of the previous page."""
        order = [(hosts.c.name, False)]
        query = paging.ordered(sa.select(hosts), order, limit)
        with self._read() as conn:
            if marker is not None:
                query = paging.after_marker(conn, query, hosts, 'name', marker, order,
                                            'host name')
            return [as_dict(r) for r in conn.execute(query)]

    def instance_counts(self, host_names):
        """{host: number of instances} of the hosts named."""
        c = instances.c
        with self._read() as conn:
            return dict(conn.execute(sa.select(c.host, sa.func.count()).where(
                c.host.in_(list(host_names))).group_by(c.host)).all())

    def host_set_status(self, name, status, reason=None):
        if status not in models.HOST_STATUSES:
            raise exceptions.Invalid(
                f"Host status '{status}' is not one of {', '.join(models.HOST_STATUSES)}.")
        with self._write() as conn:
            res = conn.execute(sa.update(hosts).where(hosts.c.name == name).values(
                status=status, status_reason=reason, updated_at=utcnow()))
            if res.rowcount == 0:
                raise exceptions.HostNotFound(name=name)
            return as_dict(conn.execute(sa.select(hosts).where(hosts.c.name == name)).first())

    def host_list_changed(self, since=None):
        """Hosts whose row changed at or after `since` (all hosts when None): the
        conductor's cache reads only what changed, by the indexed updated_at."""
        query = sa.select(hosts)
        if since is not None:
            query = query.where(hosts.c.updated_at >= since)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
