"""The query API of the migrator database.

Every method runs in one transaction of its own and returns plain dicts (datetimes as naive
UTC `datetime`), never ORM objects. Several conductors write at once, so every state change
is a compare-and-swap (UPDATE ... WHERE <expected state>) whose row count decides who won;
nothing is read, changed in Python and written back.

Caller mistakes (unknown column names in `values`, empty state lists) raise ValueError;
conditions a user can cause raise migrator.common.exceptions.
"""

import datetime
import json
import os
import threading
import uuid as uuidlib

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.conf import CONF
from migrator.db import engine as db_engine
from migrator.db import models, paging, progress, requester
from migrator.db import plans as db_plans
from migrator.db.audit import AuditQueries
from migrator.db.drains import DrainQueries
from migrator.db.migration_abort import MigrationAbortMixin
from migrator.db.models import hosts, instances, migration_events, migrations
from migrator.db.observers import ObserversMixin, observed
from migrator.db.ownership import OwnershipQueries
from migrator.db.reset_state import MigrationResetMixin
from migrator.db.scheduler_api import SchedulerQueries
from migrator.db.server_groups_api import ServerGroupQueries
from migrator.db.stats import StatsQueries

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'migrations')


def _dict(row):
    return dict(row._mapping) if row is not None else None


def _check_fields(values, allowed, what):
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"{what} does not take {', '.join(sorted(unknown))}")


class Database(AuditQueries, DrainQueries, MigrationAbortMixin, MigrationResetMixin,
               progress.ProgressQueries, db_plans.PlansMixin, SchedulerQueries,
               ServerGroupQueries, OwnershipQueries, ObserversMixin, StatsQueries):
    """One database, by SQLAlchemy URL. Thread-safe; one per process is enough."""

    def __init__(self, url):
        self.url = url
        self.engine = db_engine.create_engine(url)

    def dispose(self):
        self.engine.dispose()

    def _write(self):
        return db_engine.write_transaction(self.engine)

    def _read(self):
        return db_engine.read_transaction(self.engine)

    # -- schema -----------------------------------------------------------------------------

    def _alembic_config(self):
        cfg = Config()
        cfg.set_main_option('script_location', MIGRATIONS_DIR)
        return cfg

    def sync(self, revision='head'):
        """Upgrade the schema (alembic), safe to run from several processes at once."""
        cfg = self._alembic_config()
        with self._write() as conn, db_engine.schema_lock(conn):
            cfg.attributes['connection'] = conn
            command.upgrade(cfg, revision)

    def version(self):
        """The schema's current alembic revision, or None before the first sync."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head(self):
        """The newest revision this code knows; version() != head() means: run sync."""
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    # -- hosts ------------------------------------------------------------------------------

    @db_engine.retry_on_deadlock
    def host_report(self, name, values, reported_at=None, active_uuids=()):
        """Insert or update a host from its agent's report; status is the operator's alone.

        Keys of `values` outside models.HOST_REPORT_FIELDS are ignored, so that an agent newer than
        this schema can still report. reported_at is when the agent gathered the report (its
        clock; now when None): a report older than the newest one applied is dropped, since
        the two conductors can deliver an agent's reports out of order. active_uuids are the
        instances the report counts as running here; the claims of completed migrations on
        this host are given back once a report counts their guest (see
        SchedulerQueries._release_landed_claims).
        """
        now = utcnow()
        reported_at = _naive_utc(reported_at) if reported_at is not None else now
        fields = {k: v for k, v in values.items() if k in models.HOST_REPORT_FIELDS}
        if isinstance(fields.get('cpu_models'), (list, tuple)):
            fields['cpu_models'] = json.dumps(sorted(fields['cpu_models']))
        fields.update(last_heartbeat=now, updated_at=now, usage_reported_at=reported_at)
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
                    # (so an agent whose clock stepped back is not taken for dead).
                    conn.execute(sa.update(hosts).where(h.name == name).values(
                        last_heartbeat=now, updated_at=now))
                    return _dict(conn.execute(sa.select(hosts).where(h.name == name)).first())
                row = {**models.HOST_DEFAULTS, **fields, 'name': name, 'created_at': now}
                stmt = db_engine.upsert(self.engine, hosts, ['name'],
                                        lambda new: {k: new[k] for k in fields})
                conn.execute(stmt, row)
            self._release_landed_claims(conn, name, reported_at, active_uuids)
            self._count_claims(conn, name, active_uuids)
            return _dict(conn.execute(sa.select(hosts).where(h.name == name)).first())

    @db_engine.retry_on_deadlock
    def host_mark_down(self, name, reported_at, down_since):
        """The host's agent lost its hypervisor at reported_at: its heartbeat is set back to
        down_since (which the caller puts beyond the down time) so it counts as down at
        once. Only when no newer report was applied; returns the row, or None when nothing
        changed (no such host, or a newer report)."""
        reported_at = _naive_utc(reported_at)
        h = hosts.c
        with self._write() as conn:
            res = conn.execute(sa.update(hosts).where(
                h.name == name,
                sa.or_(h.usage_reported_at.is_(None), h.usage_reported_at < reported_at),
            ).values(last_heartbeat=_naive_utc(down_since), updated_at=utcnow(),
                     usage_reported_at=reported_at))
            if res.rowcount == 0:
                return None
            return _dict(conn.execute(sa.select(hosts).where(h.name == name)).first())

    def host_get(self, name):
        with self._read() as conn:
            row = conn.execute(sa.select(hosts).where(hosts.c.name == name)).first()
        if row is None:
            raise exceptions.HostNotFound(name=name)
        return _dict(row)

    def host_list(self, limit=None, marker=None):
        """By name; `marker` is the name of the last host of the previous page."""
        order = [(hosts.c.name, False)]
        query = paging.ordered(sa.select(hosts), order, limit)
        with self._read() as conn:
            if marker is not None:
                query = paging.after_marker(conn, query, hosts, 'name', marker, order,
                                            'host name')
            return [_dict(r) for r in conn.execute(query)]

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
            return _dict(conn.execute(sa.select(hosts).where(hosts.c.name == name)).first())

    # -- instances --------------------------------------------------------------------------

    @db_engine.retry_on_deadlock
    def instance_sync_host(self, host, domains, reported_at=None):
        """Make the instances table agree with the domains a host's agent reports.

        The hypervisor is the truth about where a VM runs, except while a migration holds
        the instance: then only that migration's end moves it. reported_at is when the
        agent looked: a report older than a row's last change (a migration that completed
        while the report was on the bus) neither moves nor removes that instance.
        Returns {'host', 'removed'}.
        """
        now = utcnow()
        reported_at = _naive_utc(reported_at or now)
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

        with self._write() as conn:
            if reported:
                newer_elsewhere = {u for (u,) in conn.execute(
                    sa.select(tbl.uuid).where(tbl.uuid.in_(reported), tbl.host != host,
                                              tbl.updated_at > reported_at))}
                active = [r for r in active if r['uuid'] not in newer_elsewhere]
                inactive = [r for r in inactive if r['uuid'] not in newer_elsewhere]
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
        return {'host': host, 'removed': removed}

    def instance_get(self, ident):
        """By UUID, else by name; a name shared by several instances is refused."""
        with self._read() as conn:
            row = conn.execute(sa.select(instances).where(instances.c.uuid == ident)).first()
            if row is not None:
                return _dict(row)
            rows = conn.execute(sa.select(instances).where(instances.c.name == ident)
                                .order_by(instances.c.uuid)).all()
        if not rows:
            raise exceptions.InstanceNotFound(ident=ident)
        if len(rows) > 1:
            raise exceptions.Conflict(
                f"Several instances are named '{ident}' "
                f"({', '.join(r.uuid for r in rows)}); use the UUID.")
        return _dict(rows[0])

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
            return [_dict(r) for r in conn.execute(query)]

    def instance_set_host(self, uuid, host):
        with self._write() as conn:
            res = conn.execute(sa.update(instances).where(instances.c.uuid == uuid)
                               .values(host=host, updated_at=utcnow()))
            if res.rowcount == 0:
                raise exceptions.InstanceNotFound(ident=uuid)
            return _dict(conn.execute(
                sa.select(instances).where(instances.c.uuid == uuid)).first())

    # -- migrations -------------------------------------------------------------------------

    @db_engine.retry_on_deadlock
    @observed('migration')
    def migration_create(self, values, detail='requested'):
        """Lock the instance and record a new migration in state `accepted`.

        `values`: instance_uuid and type (live|cold) are required; instance_name and
        source_host default to the instance's; id defaults to a new UUID.
        """
        _check_fields(values, models.CREATE_FIELDS, 'migration_create')
        inst_uuid = values.get('instance_uuid')
        if not inst_uuid:
            raise ValueError('migration_create needs instance_uuid')
        if values.get('type') not in models.MIGRATION_TYPES:
            raise exceptions.Invalid(
                f"Migration type '{values.get('type')}' is not one of "
                f"{', '.join(models.MIGRATION_TYPES)}.")
        mig_id = values.get('id') or str(uuidlib.uuid4())
        now = utcnow()
        with self._write() as conn:
            # The lock itself: exactly one concurrent caller sees rowcount 1.
            res = conn.execute(
                sa.update(instances)
                .where(instances.c.uuid == inst_uuid, instances.c.migration_id.is_(None))
                .values(migration_id=mig_id, updated_at=now))
            inst = conn.execute(sa.select(instances).where(instances.c.uuid == inst_uuid)).first()
            if res.rowcount == 0:
                if inst is None:
                    raise exceptions.InstanceNotFound(ident=inst_uuid)
                raise exceptions.MigrationInProgress(instance=inst_uuid,
                                                     migration_id=inst.migration_id)
            row = {'instance_name': inst.name, 'source_host': inst.host,
                   **requester.current(), **values, 'id': mig_id,
                   'status': states.ACCEPTED, 'progress': 0.0,
                   'created_at': now, 'updated_at': now}
            if not row['source_host']:
                raise exceptions.Invalid(
                    f"Instance {inst_uuid} is not known to run on any host, so it cannot be "
                    "migrated; wait for its host's agent to report it.")
            conn.execute(sa.insert(migrations).values(row))
            conn.execute(sa.insert(migration_events).values(
                migration_id=mig_id, time=now, from_state=None, to_state=states.ACCEPTED,
                detail=detail, **requester.current()))
            return self._migration_get(conn, mig_id)

    def _migration_get(self, conn, mig_id):
        row = conn.execute(sa.select(migrations).where(migrations.c.id == mig_id)).first()
        if row is None:
            raise exceptions.MigrationNotFound(id=mig_id)
        ev = migration_events.c
        # Ordered by id, not time: a migration's transitions are serialised by its CAS, so
        # id order is the true order even when conductors' clocks disagree.
        events = conn.execute(sa.select(ev.time, ev.from_state, ev.to_state, ev.detail,
                                        *[ev[f] for f in models.REQUESTER_FIELDS])
                              .where(ev.migration_id == mig_id).order_by(ev.id))
        return {**_dict(row), 'events': [_dict(e) for e in events]}

    def migration_get(self, mig_id):
        with self._read() as conn:
            return self._migration_get(conn, mig_id)

    def migration_list(self, status=None, instance=None, host=None, limit=50, marker=None):
        """Newest first; `marker` is the id of the last row of the previous page."""
        c = migrations.c
        query = sa.select(migrations).order_by(c.created_at.desc(), c.id.desc())
        if status is not None:
            query = query.where(c.status.in_([status] if isinstance(status, str) else status))
        if instance is not None:
            query = query.where(sa.or_(c.instance_uuid == instance, c.instance_name == instance))
        if host is not None:
            query = query.where(sa.or_(c.source_host == host, c.target_host == host))
        if limit is not None:
            if int(limit) < 1:
                raise exceptions.Invalid(f'limit must be a positive integer, not {limit}.')
            query = query.limit(int(limit))
        with self._read() as conn:
            if marker is not None:
                mark = conn.execute(sa.select(c.created_at, c.id).where(c.id == marker)).first()
                if mark is None:
                    raise exceptions.MarkerNotFound(marker=marker)
                query = query.where(sa.or_(
                    c.created_at < mark.created_at,
                    sa.and_(c.created_at == mark.created_at, c.id < mark.id)))
            return [_dict(r) for r in conn.execute(query)]

    def migration_list_unfinished(self, conductor=None):
        """Migrations not in a terminal state, oldest first (crash recovery)."""
        c = migrations.c
        query = (sa.select(migrations).where(c.status.not_in(states.TERMINAL))
                 .order_by(c.created_at, c.id))
        if conductor is not None:
            query = query.where(c.conductor == conductor)
        with self._read() as conn:
            return [_dict(r) for r in conn.execute(query)]

    @observed('migration')
    @db_engine.retry_on_deadlock
    def migration_transition(self, mig_id, from_states, to_state, detail=None, values=None,
                             owner=None):
        """CAS the migration from one of `from_states` to `to_state`, log it, return it.

        owner: (conductor, generation) of the conductor driving it: the CAS then also needs
        the migration to be still that conductor's at that generation, and raises
        WorkTakenOver when another conductor has taken it over (migrator.db.ownership).

        Entering PREPARING sets started_at (once); entering a terminal state sets
        finished_at and releases the instance lock, and COMPLETED also moves the instance
        to target_host and sets progress to 100.
        """
        from_states = tuple(dict.fromkeys([from_states] if isinstance(from_states, str)
                                          else from_states))
        if not from_states:
            raise ValueError('migration_transition needs at least one from-state')
        bad = [s for s in from_states if to_state not in states.ALLOWED.get(s, ())]
        if bad:
            raise exceptions.InvalidStateTransition(id=mig_id, current='/'.join(bad),
                                                    target=to_state)
        values = dict(values or {})
        _check_fields(values, models.TRANSITION_FIELDS, 'migration_transition')
        now = utcnow()
        c = migrations.c
        changes = {**values, 'status': to_state, 'updated_at': now}
        if to_state == states.PREPARING:
            changes['started_at'] = sa.func.coalesce(
                c.started_at, sa.literal(now, models.UTCDateTime()))
        if to_state in states.TERMINAL:
            changes['finished_at'] = now
        if to_state == states.COMPLETED:
            changes.setdefault('progress', 100.0)
        fence = [] if owner is None else [c.conductor == owner[0], c.generation == owner[1]]
        with self._write() as conn:
            # One single-state CAS per candidate, so the event records which one it was.
            from_state = None
            for state in from_states:
                res = conn.execute(sa.update(migrations)
                                   .where(c.id == mig_id, c.status == state, *fence)
                                   .values(changes))
                if res.rowcount:
                    from_state = state
                    break
            if from_state is None:
                current = conn.execute(sa.select(c.status, c.conductor, c.generation)
                                       .where(c.id == mig_id)).first()
                if current is None:
                    raise exceptions.MigrationNotFound(id=mig_id)
                if owner is not None and (current.conductor, current.generation) != \
                        tuple(owner):
                    raise exceptions.WorkTakenOver(id=mig_id, current=current.status,
                                                   target=to_state, conductor=owner[0],
                                                   generation=owner[1])
                raise exceptions.InvalidStateTransition(id=mig_id, current=current.status,
                                                        target=to_state)
            conn.execute(sa.insert(migration_events).values(
                migration_id=mig_id, time=now, from_state=from_state, to_state=to_state,
                detail=detail, **requester.current()))
            if to_state in states.TERMINAL:
                self._release_instance(conn, mig_id, to_state, now)
            if to_state in states.TERMINAL or to_state == states.QUEUED:
                # Every kind of migration gives back its slots and claimed resources here,
                # in the transaction that ends it (or sends it back to the queue); a
                # completed one keeps its target's resources until the target counts them.
                self._release_claim(conn, mig_id, landed=to_state == states.COMPLETED)
            return self._migration_get(conn, mig_id)

    def _release_instance(self, conn, mig_id, to_state, now):
        mig = conn.execute(sa.select(migrations.c.instance_uuid, migrations.c.target_host)
                           .where(migrations.c.id == mig_id)).first()
        inst_values = {'migration_id': None, 'updated_at': now}
        if to_state == states.COMPLETED:
            if not mig.target_host:
                # Rolls the whole transition back: completing without a target would lose
                # track of where the VM runs.
                raise exceptions.Invalid(
                    f'Migration {mig_id} cannot complete without a target_host; pass it in '
                    'values.')
            inst_values['host'] = mig.target_host
        conn.execute(sa.update(instances).where(
            instances.c.uuid == mig.instance_uuid, instances.c.migration_id == mig_id,
        ).values(inst_values))


def _naive_utc(moment):
    """A datetime as the DB keeps it: UTC without tzinfo."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


_DATABASE = None
_DATABASE_LOCK = threading.Lock()


def get_database():
    """The process-wide Database of CONF.database.connection."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = Database(CONF.database.connection)
        return _DATABASE


def set_database(database):
    """Replace the process-wide Database (tests, migrator-all); returns the previous one."""
    global _DATABASE
    with _DATABASE_LOCK:
        previous, _DATABASE = _DATABASE, database
        return previous
