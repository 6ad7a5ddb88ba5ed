"""Queries of instances: the hypervisors' word on where each guest runs, and the listings.

A mixin of migrator.db.api.Database (self._read(), self._write()).
"""

import sqlalchemy as sa

from migrator.common import exceptions
from migrator.db import engine as db_engine
from migrator.db import models, paging
from migrator.db.models import hosts, instances, utcnow
from migrator.db.rows import as_dict, naive_utc


class InstanceQueries:

    @db_engine.retry_on_deadlock
    def instance_sync_host(self, host, domains, reported_at=None, digest=None):
        """Make the instances table agree with the domains a host's agent reports.

        The hypervisor is the truth about where a VM runs, except while a migration holds
        the instance: then only that migration's end moves it. reported_at is when the
        agent looked: a report older than a row's last change (a migration that completed
        while the report was on the bus) neither moves nor removes that instance.

        While a migration holds an instance, another host's word on it is not written at all:
        that is the migration's target, whose domain is not the guest yet (libvirt shows it
        'paused' while it starts up, before its pause reason says "migration"), and copying
        it made a guest that moved read 'paused' on its new host. A report older than the
        newest one applied to this host (hosts.usage_reported_at; reports of one host can be
        handled out of order, by several threads or conductors) writes nothing either: the
        newer report's sync says more, and an older one written after it put the guests'
        rows back to what the agent saw before, with a later updated_at than the newer
        report's sync. The host's row is locked first, so that check and the writes are one
        step against the newer report's host_report.

        digest: the report's (migrator.conductor.reports.digest). When the report was
        taken whole -- its host_report applied (it is the newest report of the host) and
        every domain it lists written: none incoming, held by a migration elsewhere, or
        newer elsewhere -- the host row records that the DB holds it: report_digest,
        report_digest_at, report_synced_at, report_instances, read by host_heartbeats.

        Returns {'host', 'removed', 'synced_at' (the updated_at of the rows written),
        'count' (the instances on host now), 'complete' (the report was taken whole),
        'held' (its digest was recorded)}.
        """
        now = utcnow()
        reported_at = naive_utc(reported_at or now)
        reported, active, inactive = set(), [], []
        # Sorted, so concurrent syncs lock rows in one order and do not deadlock.
        for dom in sorted(domains, key=lambda d: d['uuid']):
            reported.add(dom['uuid'])
            if dom.get('incoming'):
                continue  # a paused migration target: the migration decides, not the sync
            is_active = bool(dom.get('active'))
            row = {'uuid': dom['uuid'], 'name': dom.get('name') or dom['uuid'], 'host': host,
                   'power_state': dom.get('power_state') or
                   ('running' if is_active else 'shutoff'),
                   'cpu_model': dom.get('cpu_model'),
                   'created_at': now, 'updated_at': now}
            row.update({k: int(dom.get(k) or 0) for k in models.INSTANCE_SIZES})
            (active if is_active else inactive).append(row)
        tbl = instances.c
        copied = (('name', 'power_state', 'cpu_model') + models.INSTANCE_SIZES
                  + ('updated_at',))

        def active_set(new):
            out = {k: new[k] for k in copied}
            out['host'] = sa.case((tbl.migration_id.is_(None), new.host), else_=tbl.host)
            return out

        def inactive_set(new):
            # A shut-off definition left on another host must not steal the instance.
            mine = sa.or_(tbl.host.is_(None), tbl.host == new.host)
            return {k: sa.case((mine, new[k]), else_=tbl[k]) for k in copied + ('host',)}

        complete = len(active) + len(inactive) == len(reported)     # none incoming
        with self._write() as conn:
            applied = conn.execute(sa.select(hosts.c.usage_reported_at)
                                   .where(hosts.c.name == host).with_for_update()).scalar()
            if applied is not None and applied > reported_at:
                return {'host': host, 'removed': [], 'synced_at': now, 'count': None,
                        'complete': False, 'held': False}
            if reported:
                not_ours = {u for (u,) in conn.execute(
                    sa.select(tbl.uuid).where(
                        tbl.uuid.in_(reported), tbl.host != host,
                        sa.or_(tbl.updated_at > reported_at, tbl.migration_id.is_not(None))))}
                if not_ours:
                    complete = False
                active = [r for r in active if r['uuid'] not in not_ours]
                inactive = [r for r in inactive if r['uuid'] not in not_ours]
            if active:
                conn.execute(db_engine.upsert(self.engine, instances, ['uuid'], active_set),
                             active)
            if inactive:
                conn.execute(db_engine.upsert(self.engine, instances, ['uuid'], inactive_set),
                             inactive)
            free_here = sa.and_(tbl.host == host, tbl.migration_id.is_(None),
                                tbl.updated_at <= reported_at)
            known = conn.execute(sa.select(tbl.uuid).where(free_here).with_for_update())
            removed = sorted(u for (u,) in known if u not in reported)
            if removed:
                conn.execute(sa.delete(instances).where(free_here, tbl.uuid.in_(removed)))
            # What the DB holds for this host now, for the conductor's heartbeats (a later
            # change of these rows, or one more or fewer, makes its next report a full one).
            count = conn.execute(sa.select(sa.func.count()).where(tbl.host == host)).scalar()
            held = False
            if complete and digest is not None:
                # Only while this report is still the newest applied to the row (the row is
                # locked since the check above; its host_report cleared the old digest).
                held = conn.execute(sa.update(hosts).where(
                    hosts.c.name == host, hosts.c.usage_reported_at == reported_at,
                ).values(report_digest=digest, report_digest_at=reported_at,
                         report_synced_at=now, report_instances=count)).rowcount == 1
        return {'host': host, 'removed': removed, 'synced_at': now, 'count': count,
                'complete': complete, 'held': held}

    def instance_get(self, ident):
        """By UUID, else by name; a name shared by several instances is refused."""
        with self._read() as conn:
            row = conn.execute(sa.select(instances).where(instances.c.uuid == ident)).first()
            if row is not None:
                return as_dict(row)
            rows = conn.execute(sa.select(instances).where(instances.c.name == ident)
                                .order_by(instances.c.uuid)).all()
        if not rows:
            raise exceptions.InstanceNotFound(ident=ident)
        if len(rows) > 1:
            raise exceptions.Conflict(
                f"Several instances are named '{ident}' "
                f"({', '.join(r.uuid for r in rows)}); use the UUID.")
        return as_dict(rows[0])

    def instance_list(self, host=None, limit=None, marker=None):
        """By name, then UUID; `marker` is the UUID of the last one of the previous page."""
        order = [(instances.c.name, False), (instances.c.uuid, False)]
        query = paging.ordered(sa.select(instances), order, limit)
        if host is not None:
            query = query.where(instances.c.host == host)
        with self._read() as conn:
            if marker is not None:
                query = paging.after_marker(conn, query, instances, 'uuid', marker, order,
                                            'instance UUID')
            return [as_dict(r) for r in conn.execute(query)]

    def instance_set_host(self, uuid, host):
        with self._write() as conn:
            res = conn.execute(sa.update(instances).where(instances.c.uuid == uuid)
                               .values(host=host, updated_at=utcnow()))
            if res.rowcount == 0:
                raise exceptions.InstanceNotFound(ident=uuid)
            return as_dict(conn.execute(
                sa.select(instances).where(instances.c.uuid == uuid)).first())
