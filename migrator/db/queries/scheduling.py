"""Queries of the scheduler: migration slots (the queue), capacity claims, host refreshes.

Several conductors decide at once, so nothing here is read, decided in Python and written
back. A slot or a claim is one UPDATE whose WHERE clause re-checks the limit or the free
capacity against the row's current values (a compare-and-swap): PostgreSQL and InnoDB
re-evaluate the condition on the newest row version after waiting for its lock, and SQLite
serialises writers, so of two conductors racing for the last room exactly one sees rowcount 1.
Everything a migration holds is written down in scheduler_claims, and the transition that
ends the migration (or sends it back to the queue) gives exactly that back, in its own
transaction (`_release_claim`, called by `Database.migration_transition`), except that a
completed migration's resources on its target stay claimed until the target's agent reports
the guest (`_release_landed_claims`, called by `Database.host_report`).
"""

import datetime

import sqlalchemy as sa

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db import engine as db_engine
from migrator.db import requester
from migrator.db.models import (
    hosts,
    migration_events,
    migrations,
    scheduler_claims,
    scheduler_counters,
)

COUNTER_ID = 1


class _NoSlot(Exception):
    """Rolls the slot transaction back; says which limit is full ('cluster' or 'source')."""

    def __init__(self, limit, message):
        super().__init__(message)
        self.limit = limit


class SchedulingQueries:
    """Mixin of Database (self._write(), self._read(), self._migration_get())."""

    # -- slots: the concurrency limits ------------------------------------------------------

    def _counter_add(self, conn, delta, limit=None):
        c = scheduler_counters.c
        query = sa.update(scheduler_counters).where(c.id == COUNTER_ID)
        if limit is not None:
            query = query.where(c.active_migrations < limit)
        if delta < 0:
            query = query.where(c.active_migrations > 0)
        res = conn.execute(query.values(active_migrations=c.active_migrations + delta))
        if res.rowcount:
            return True
        exists = conn.execute(sa.select(c.id).where(c.id == COUNTER_ID)).first()
        if exists is None:
            # The row is made by the schema migration; a wiped table gets it back here.
            conn.execute(db_engine.upsert(
                self.engine, scheduler_counters, ['id'],
                lambda new: {'active_migrations': scheduler_counters.c.active_migrations}),
                {'id': COUNTER_ID, 'active_migrations': 0})
            return self._counter_add(conn, delta, limit)
        return False

    def scheduler_active_count(self):
        with self._read() as conn:
            return conn.execute(sa.select(scheduler_counters.c.active_migrations).where(
                scheduler_counters.c.id == COUNTER_ID)).scalar() or 0

    @db_engine.retry_on_deadlock
    def slot_acquire(self, mig_id, from_states, outbound_limit, cluster_limit, detail,
                     values=None):
        """Take a slot for the migration and move it to `scheduling`, or take nothing.

        Returns (migration, None) on success, or (None, {'limit': 'cluster'|'source',
        'message': why}) when the cluster or the source host is at its limit. Raises
        InvalidStateTransition when the migration is no longer in one of `from_states`
        (another conductor took it).
        """
        from_states = [from_states] if isinstance(from_states, str) else list(from_states)
        now = utcnow()
        c = migrations.c
        try:
            with self._write() as conn:
                mig = conn.execute(sa.select(c.instance_uuid, c.source_host, c.status)
                                   .where(c.id == mig_id)).first()
                if mig is None:
                    raise exceptions.MigrationNotFound(id=mig_id)
                if mig.status not in from_states:
                    raise exceptions.InvalidStateTransition(
                        id=mig_id, current=mig.status, target=states.SCHEDULING)
                # Lock order everywhere: the counter row, then host rows, then migrations.
                if not self._counter_add(conn, +1, cluster_limit):
                    raise _NoSlot('cluster', f'the cluster runs {cluster_limit} migrations, '
                                  'its limit ([scheduler] max_migrations_in_cluster)')
                h = hosts.c
                res = conn.execute(sa.update(hosts).where(
                    h.name == mig.source_host, h.outbound_migrations < outbound_limit,
                ).values(outbound_migrations=h.outbound_migrations + 1, updated_at=now))
                if res.rowcount == 0 and conn.execute(sa.select(h.id).where(
                        h.name == mig.source_host)).first() is not None:
                    raise _NoSlot('source', f'{mig.source_host} sends {outbound_limit} migrations '
                                  'already, its limit ([scheduler] max_outbound_per_host)')
                changes = {**(values or {}), 'status': states.SCHEDULING, 'updated_at': now}
                if 'conductor' in changes:
                    # Taking it: a new generation (migrator.db.queries.conductors fences with it).
                    changes['generation'] = c.generation + 1
                from_state = None
                for state in from_states:
                    res = conn.execute(sa.update(migrations).where(
                        c.id == mig_id, c.status == state).values(changes))
                    if res.rowcount:
                        from_state = state
                        break
                if from_state is None:
                    current = conn.execute(sa.select(c.status).where(c.id == mig_id)).scalar()
                    raise exceptions.InvalidStateTransition(id=mig_id, current=current,
                                                            target=states.SCHEDULING)
                conn.execute(sa.insert(migration_events).values(
                    migration_id=mig_id, time=now, from_state=from_state,
                    to_state=states.SCHEDULING, detail=detail, **requester.current()))
                conn.execute(sa.delete(scheduler_claims).where(
                    scheduler_claims.c.migration_id == mig_id))
                conn.execute(sa.insert(scheduler_claims).values(
                    migration_id=mig_id, instance_uuid=mig.instance_uuid,
                    source_host=mig.source_host, target_host=None, memory_mb=0, vcpus=0,
                    disk_gb=0, holds_slot=True, created_at=now))
                return self._migration_get(conn, mig_id), None
        except _NoSlot as why:
            return None, {'limit': why.limit, 'message': str(why)}

    def migration_list_queued(self, limit=100):
        """Queued migrations in the order they start: highest priority, then oldest."""
        c = migrations.c
        query = (sa.select(migrations).where(c.status == states.QUEUED)
                 .order_by(c.priority.desc(), c.created_at, c.id).limit(limit))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- claims: the target's resources -----------------------------------------------------

    @db_engine.retry_on_deadlock
    def claim_target(self, mig_id, instance_uuid, source_host, target, resources, limits):
        """Claim `resources` (memory_mb, vcpus, disk_gb) and an inbound slot on `target`.

        `limits`: ram_ratio, cpu_ratio, disk_ratio, reserved_disk_gb, inbound (the
        inbound-migrations limit) and heartbeat_after (a datetime: the host's last heartbeat
        must be newer). True when the claim was taken; False when the host no longer
        qualifies (another conductor took the room first, or the host went down or was
        disabled): the caller refreshes its view of the host and chooses again.
        """
        mem, cpu, disk = (int(resources.get(k) or 0)
                          for k in ('memory_mb', 'vcpus', 'disk_gb'))
        h = hosts.c
        now = utcnow()
        room = sa.and_(
            h.name == target,
            h.status == 'enabled',
            h.last_heartbeat >= limits['heartbeat_after'],
            h.inbound_migrations < limits['inbound'],
            h.memory_mb * limits['ram_ratio'] - h.reserved_memory_mb - h.memory_mb_used
            - h.claimed_memory_mb >= mem,
            h.vcpus * limits['cpu_ratio'] - h.vcpus_used - h.claimed_vcpus >= cpu,
        )
        if disk:
            room = sa.and_(room, h.disk_gb * limits['disk_ratio'] - limits['reserved_disk_gb']
                           - h.disk_gb_used - h.claimed_disk_gb >= disk)
        k = scheduler_claims.c
        with self._write() as conn:
            claim = conn.execute(sa.select(scheduler_claims).where(
                k.migration_id == mig_id).with_for_update()).first()
            if claim is not None and claim.target_host == target:
                return True  # already ours (a re-run after a crash)
            res = conn.execute(sa.update(hosts).where(room).values(
                claimed_memory_mb=h.claimed_memory_mb + mem,
                claimed_vcpus=h.claimed_vcpus + cpu,
                claimed_disk_gb=h.claimed_disk_gb + disk,
                inbound_migrations=h.inbound_migrations + 1,
                updated_at=now))
            if res.rowcount == 0:
                return False
            if claim is not None and claim.target_host is not None:
                self._release_target(conn, claim, now)
            target_values = {'target_host': target, 'memory_mb': mem, 'vcpus': cpu,
                             'disk_gb': disk, 'counted': False}
            if claim is None:
                conn.execute(sa.insert(scheduler_claims).values(
                    migration_id=mig_id, instance_uuid=instance_uuid, source_host=source_host,
                    holds_slot=False, created_at=now, **target_values))
            else:
                conn.execute(sa.update(scheduler_claims).where(
                    k.migration_id == mig_id).values(target_values))
            return True

    def claim_get(self, mig_id):
        with self._read() as conn:
            row = conn.execute(sa.select(scheduler_claims).where(
                scheduler_claims.c.migration_id == mig_id)).first()
        return dict(row._mapping) if row is not None else None

    def claim_targets_of(self, instance_uuids):
        """{instance uuid: target host} of those instances' migrations in flight."""
        if not instance_uuids:
            return {}
        k = scheduler_claims.c
        with self._read() as conn:
            rows = conn.execute(sa.select(k.instance_uuid, k.target_host).where(
                k.instance_uuid.in_(list(instance_uuids)), k.target_host.is_not(None),
                k.landed_at.is_(None)))
            return {r.instance_uuid: r.target_host for r in rows}

    def _release_target(self, conn, claim, now):
        h = hosts.c
        values = {'inbound_migrations': self._minus(conn, h.inbound_migrations, 1),
                  'updated_at': now}
        if not claim.counted:   # a counted claim's resources are in the usage, not here
            values.update(self._unclaim(conn, claim))
        conn.execute(sa.update(hosts).where(h.name == claim.target_host).values(values))

    def _unclaim(self, conn, claim):
        """The hosts columns with the claim's resources taken off claimed_*."""
        h = hosts.c
        return {'claimed_memory_mb': self._minus(conn, h.claimed_memory_mb, claim.memory_mb),
                'claimed_vcpus': self._minus(conn, h.claimed_vcpus, claim.vcpus),
                'claimed_disk_gb': self._minus(conn, h.claimed_disk_gb, claim.disk_gb)}

    @staticmethod
    def _minus(conn, column, amount):
        """column - amount, never below 0 (a hand-edited row must not go negative)."""
        if conn.dialect.name == 'sqlite':
            return sa.func.max(column - amount, 0)
        return sa.func.greatest(column - amount, 0)

    def _release_claim(self, conn, mig_id, landed=False):
        """Give back what the migration holds; in the caller's transaction.

        landed: the migration completed. Its slots and the target's inbound slot are given
        back, but the guest's resources stay claimed on the target (the claim is marked
        landed_at) until a report of the target's agent counts the guest in its usage:
        until then the host row would show the room as free again, and another conductor
        could fill it twice.
        """
        k = scheduler_claims.c
        claim = conn.execute(sa.select(scheduler_claims).where(
            k.migration_id == mig_id).with_for_update()).first()
        if claim is None:
            return
        now = utcnow()
        h = hosts.c
        if claim.holds_slot:
            self._counter_add(conn, -1)
            conn.execute(sa.update(hosts).where(h.name == claim.source_host).values(
                outbound_migrations=self._minus(conn, h.outbound_migrations, 1),
                updated_at=now))
        if landed and claim.target_host is not None:
            conn.execute(sa.update(hosts).where(h.name == claim.target_host).values(
                inbound_migrations=self._minus(conn, h.inbound_migrations, 1),
                updated_at=now))
            if claim.counted:
                # The target's applied report counts the guest already (it was there,
                # incoming, when the agent looked): nothing is left to keep claimed.
                conn.execute(sa.delete(scheduler_claims).where(k.migration_id == mig_id))
                return
            conn.execute(sa.update(scheduler_claims).where(k.migration_id == mig_id).values(
                holds_slot=False, landed_at=now))
            return
        if claim.target_host is not None:
            self._release_target(conn, claim, now)
        conn.execute(sa.delete(scheduler_claims).where(k.migration_id == mig_id))

    def _release_landed_claims(self, conn, host, reported_at, active_uuids):
        """Give back the landed claims on `host` that a report gathered at reported_at (the
        agent's clock) accounts for: those whose guest it counts as running here, and those
        that landed before it was gathered (a guest gone since is rightly not counted)."""
        k = scheduler_claims.c
        accounted = k.landed_at <= reported_at
        if active_uuids:
            accounted = sa.or_(accounted, k.instance_uuid.in_(list(active_uuids)))
        landed = conn.execute(sa.select(scheduler_claims).where(
            k.target_host == host, k.landed_at.is_not(None), accounted).with_for_update())
        now = utcnow()
        for claim in landed.fetchall():
            h = hosts.c
            if not claim.counted:
                conn.execute(sa.update(hosts).where(h.name == host).values(
                    **self._unclaim(conn, claim), updated_at=now))
            conn.execute(sa.delete(scheduler_claims).where(
                k.migration_id == claim.migration_id))

    def _count_claims(self, conn, host, active_uuids):
        """After a report's usage of `host` was applied: the claims of migrations in flight
        to it whose guest the report counts (libvirt's paused incoming domain is an active
        domain, and the agent sums every active domain into its usage) leave claimed_*,
        and those it stopped counting come back, so the host's usage plus its claims count
        each guest exactly once. Without this a full host looked over-full for as long as
        guests were arriving (issue 11: a return of every drained guest refused by
        VcpuFilter after most had moved back)."""
        k = scheduler_claims.c
        active = set(active_uuids or ())
        claims = conn.execute(sa.select(scheduler_claims).where(
            k.target_host == host, k.landed_at.is_(None)).with_for_update()).fetchall()
        h = hosts.c
        for claim in claims:
            counted = claim.instance_uuid in active
            if counted == bool(claim.counted):
                continue
            if counted:
                change = self._unclaim(conn, claim)
            else:
                change = {'claimed_memory_mb': h.claimed_memory_mb + claim.memory_mb,
                          'claimed_vcpus': h.claimed_vcpus + claim.vcpus,
                          'claimed_disk_gb': h.claimed_disk_gb + claim.disk_gb}
            conn.execute(sa.update(hosts).where(h.name == host).values(change))
            conn.execute(sa.update(scheduler_claims).where(
                k.migration_id == claim.migration_id).values(counted=counted))

    def claim_list(self):
        """The claims of migrations in flight (not those landed, waiting for a report)."""
        k = scheduler_claims.c
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(scheduler_claims).where(k.landed_at.is_(None))
                .order_by(k.created_at))]


def heartbeat_cutoff(service_down_time):
    return utcnow() - datetime.timedelta(seconds=service_down_time)
