"""What `migrator-manage audit` reads of the DB and the bookkeeping repairs it may make (a
mixin of db.api.Database).

Every repair re-checks, in its own transaction, that what the audit saw still holds, so an
audit racing a conductor never undoes work in progress: a lock or a claim is only given back
when its migration has ended (or does not exist), a host only corrected while no migration
holds the instance, and the counters recounted from the claims under the locks the
scheduler takes them with (the counter row, then the host rows).
"""

import sqlalchemy as sa

from migrator.common import states
from migrator.common.timeutils import utcnow
from migrator.db.models import (
    hosts,
    instances,
    migrations,
    scheduler_claims,
    scheduler_counters,
)
from migrator.db.queries.scheduling import COUNTER_ID

# The host columns the claims account for, and how each is counted from them.
COUNTED = ('claimed_memory_mb', 'claimed_vcpus', 'claimed_disk_gb', 'inbound_migrations',
           'outbound_migrations')


def expected_counts(claims, host_names):
    """{host: {column: value}} and the cluster's slot count, as the claims say they are.
    A claim whose guest the target's applied report counts already (`counted`) holds an
    inbound slot but no claimed resources."""
    counts = {name: dict.fromkeys(COUNTED, 0) for name in host_names}
    active = 0
    for claim in claims:
        if claim['holds_slot']:
            active += 1
            if claim['source_host'] in counts:
                counts[claim['source_host']]['outbound_migrations'] += 1
        target = counts.get(claim['target_host'])
        if target is not None:
            if claim['landed_at'] is None:
                target['inbound_migrations'] += 1
            if claim.get('counted'):
                continue    # the target's reported usage holds the guest already
            target['claimed_memory_mb'] += claim['memory_mb'] or 0
            target['claimed_vcpus'] += claim['vcpus'] or 0
            target['claimed_disk_gb'] += claim['disk_gb'] or 0
    return counts, active


def _ended(status):
    return status is None or status in states.TERMINAL


class AuditQueries:
    """Mixin of Database (self._write(), self._read())."""

    def audit_snapshot(self):
        """The DB's side, read in one transaction: instances, hosts, every claim, the slot
        counter, the unfinished migrations, and the state of every migration a lock or a
        claim names ({id: status}, None when it does not exist)."""
        c = migrations.c
        with self._read() as conn:
            insts = [dict(r._mapping) for r in conn.execute(sa.select(instances))]
            host_rows = [dict(r._mapping) for r in conn.execute(
                sa.select(hosts).order_by(hosts.c.name))]
            claims = [dict(r._mapping) for r in conn.execute(sa.select(scheduler_claims))]
            counter = conn.execute(sa.select(scheduler_counters.c.active_migrations).where(
                scheduler_counters.c.id == COUNTER_ID)).scalar() or 0
            unfinished = [dict(r._mapping) for r in conn.execute(
                sa.select(migrations).where(c.status.not_in(states.TERMINAL)))]
            named = ({i['migration_id'] for i in insts if i['migration_id']}
                     | {k['migration_id'] for k in claims})
            status = dict.fromkeys(named)
            if named:
                status.update({r.id: r.status for r in conn.execute(
                    sa.select(c.id, c.status).where(c.id.in_(sorted(named))))})
        return {'instances': insts, 'hosts': host_rows, 'claims': claims,
                'active_migrations': counter, 'unfinished': unfinished,
                'migration_status': status, 'read_at': utcnow()}

    def audit_set_host(self, uuid, expected_host, host):
        """Record that the instance runs on `host`; only while no migration holds it and
        its row still says expected_host. True when changed."""
        t = instances.c
        with self._write() as conn:
            where = [t.uuid == uuid, t.migration_id.is_(None)]
            where.append(t.host.is_(None) if expected_host is None else t.host == expected_host)
            res = conn.execute(sa.update(instances).where(*where).values(
                host=host, updated_at=utcnow()))
            return res.rowcount == 1

    def audit_clear_lock(self, uuid, mig_id):
        """Free an instance locked by a migration that has ended or does not exist."""
        t = instances.c
        with self._write() as conn:
            status = conn.execute(sa.select(migrations.c.status).where(
                migrations.c.id == mig_id).with_for_update()).scalar()
            if not _ended(status):
                return False
            res = conn.execute(sa.update(instances).where(
                t.uuid == uuid, t.migration_id == mig_id).values(migration_id=None,
                                                                updated_at=utcnow()))
            return res.rowcount == 1

    def audit_drop_claim(self, mig_id, landed_before=None):
        """Delete the claim of a migration that has ended (or does not exist), or a landed
        claim that its target has reported since it landed (landed_before: that report's
        time). The counters are put right by audit_recount afterwards. True when dropped."""
        k = scheduler_claims.c
        with self._write() as conn:
            claim = conn.execute(sa.select(scheduler_claims).where(
                k.migration_id == mig_id).with_for_update()).first()
            if claim is None:
                return False
            status = conn.execute(sa.select(migrations.c.status).where(
                migrations.c.id == mig_id)).scalar()
            stale_landed = (claim.landed_at is not None and landed_before is not None
                            and claim.landed_at <= landed_before)
            if not (stale_landed or (claim.landed_at is None and _ended(status))):
                return False
            conn.execute(sa.delete(scheduler_claims).where(k.migration_id == mig_id))
            return True

    def audit_recount(self):
        """Set the slot counter and every host's claimed resources and migration counts to
        what the claims add up to; returns the changes [(subject, column, was, now)]."""
        changes = []
        h = hosts.c
        with self._write() as conn:
            # The scheduler's lock order: the counter row, then host rows (by name).
            counter = conn.execute(sa.select(scheduler_counters.c.active_migrations).where(
                scheduler_counters.c.id == COUNTER_ID).with_for_update()).scalar()
            rows = conn.execute(sa.select(hosts).order_by(h.name).with_for_update()).all()
            claims = [dict(r._mapping) for r in conn.execute(sa.select(scheduler_claims))]
            counts, active = expected_counts(claims, [r.name for r in rows])
            if counter is not None and counter != active:
                conn.execute(sa.update(scheduler_counters).where(
                    scheduler_counters.c.id == COUNTER_ID).values(active_migrations=active))
                changes.append(('cluster', 'active_migrations', counter, active))
            now = utcnow()
            for row in rows:
                want = counts[row.name]
                wrong = {col: val for col, val in want.items() if getattr(row, col) != val}
                if wrong:
                    conn.execute(sa.update(hosts).where(h.name == row.name).values(
                        **wrong, updated_at=now))
                    changes += [(row.name, col, getattr(row, col), val)
                                for col, val in sorted(wrong.items())]
        return changes
