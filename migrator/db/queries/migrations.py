"""Queries of migrations: creation, the state machine, the listings and counts.

A mixin of migrator.db.api.Database (self._read(), self._write(); the scheduling queries
give back a migration's claims when a transition ends it). Every state change is a
compare-and-swap on the migration's current state.
"""

import uuid as uuidlib

import sqlalchemy as sa

from migrator.common import aborts, exceptions, states
from migrator.db import engine as db_engine
from migrator.db import models, requester
from migrator.db.models import instances, migration_events, migrations, utcnow
from migrator.db.observers import observed
from migrator.db.rows import as_dict, check_fields


class MigrationQueries:

    @db_engine.retry_on_deadlock
    @observed('migration')
    def migration_create(self, values, detail='requested'):
        """Lock the instance and record a new migration in state `accepted`.

        `values`: instance_uuid and type (live|cold) are required; instance_name and
        source_host default to the instance's; id defaults to a new UUID.
        """
        check_fields(values, models.CREATE_FIELDS, 'migration_create')
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
        return {**as_dict(row), 'events': [as_dict(e) for e in events]}

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
            return [as_dict(r) for r in conn.execute(query)]

    def migration_list_unfinished(self, conductor=None):
        """Migrations not in a terminal state, oldest first (crash recovery)."""
        c = migrations.c
        query = (sa.select(migrations).where(c.status.not_in(states.TERMINAL))
                 .order_by(c.created_at, c.id))
        if conductor is not None:
            query = query.where(c.conductor == conductor)
        with self._read() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    @observed('migration')
    @db_engine.retry_on_deadlock
    def migration_transition(self, mig_id, from_states, to_state, detail=None, values=None,
                             owner=None):
        """CAS the migration from one of `from_states` to `to_state`, log it, return it.

        owner: (conductor, generation) of the conductor driving it: the CAS then also needs
        the migration to be still that conductor's at that generation, and raises
        WorkTakenOver when another conductor has taken it over (migrator.db.queries.conductors).

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
        check_fields(values, models.TRANSITION_FIELDS, 'migration_transition')
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

    def migration_cancel_unstarted(self, mig_id, reason):
        """`accepted`/`queued` -> cancelling -> cancelled, each step a compare-and-swap.

        The first step races the conductor that would take the migration (accepted ->
        scheduling): exactly one of them wins. Raises InvalidStateTransition when the
        migration is no longer unstarted (the caller then asks the conductor that has it).
        """
        migration = self.migration_get(mig_id)
        detail = f'{reason}; nothing had started'
        self.migration_transition(mig_id, sorted(aborts.UNSTARTED), states.CANCELLING,
                                  detail=detail, values={'error': f'aborted: {reason}'})
        # Nothing else moves a migration that no conductor took out of `cancelling`.
        return self.migration_transition(
            mig_id, [states.CANCELLING], states.CANCELLED,
            detail=f"aborted before it started; the instance stays on "
                   f"{migration['source_host']}")

    def migration_counts_unfinished(self):
        """{(type, status): count} of the migrations not in a final state."""
        c = migrations.c
        query = (sa.select(c.type, c.status, sa.func.count())
                 .where(c.status.not_in(sorted(states.TERMINAL)))
                 .group_by(c.type, c.status))
        with self._read() as conn:
            return {(kind, status): count for kind, status, count in conn.execute(query)}
