"""An administrator's reset of a stuck migration (a mixin of db.api.Database).

For the case no conductor will settle by itself (its job is gone, the hypervisors were
fixed by hand): the migration is put in `error` or `failed` whatever state it is in, with
the administrator's reason recorded as its event, and gives back its instance lock, slots
and claims in the same transaction, as any migration that ends does. Bookkeeping only: no
host is touched, so whoever resets a migration first makes sure where the guest runs
(`migrator-manage audit`).
"""

import sqlalchemy as sa

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db import engine as db_engine
from migrator.db import requester
from migrator.db.models import migration_events, migrations

RESET_STATES = (states.ERROR, states.FAILED)


class MigrationResetQueries:
    @db_engine.retry_on_deadlock
    def migration_reset_state(self, mig_id, state, reason):
        """Moves a migration that has not ended to `state` (error|failed); returns it.

        Raises Invalid for another state or an empty reason, MigrationNotFound, and
        Conflict for a migration already terminal (nothing is changed then). A compare-and-
        swap on the state read, so a conductor moving the migration at the same moment
        either ends it first (then the reset is refused) or finds it reset (its next
        transition is refused).
        """
        if state not in RESET_STATES:
            raise exceptions.Invalid(
                f"A migration can only be reset to {' or '.join(RESET_STATES)}, not "
                f"{state!r}.")
        reason = (reason or '').strip()
        if not reason:
            raise exceptions.Invalid('A reset needs a reason (it is recorded in the '
                                     "migration's events).")
        c = migrations.c
        with self._write() as conn:
            current = conn.execute(sa.select(c.status).where(c.id == mig_id)
                                   .with_for_update()).scalar()
            if current is None:
                raise exceptions.MigrationNotFound(id=mig_id)
            if current in states.TERMINAL:
                raise exceptions.Conflict(
                    f'Migration {mig_id} has already ended ({current}); only a migration in '
                    'flight can be reset.')
            now = utcnow()
            res = conn.execute(sa.update(migrations).where(c.id == mig_id,
                                                           c.status == current).values(
                status=state, updated_at=now, finished_at=now,
                error=f'reset by an administrator: {reason}'))
            if res.rowcount != 1:   # cannot happen under the row lock; never write blindly
                raise exceptions.InvalidStateTransition(id=mig_id, current=current,
                                                        target=state)
            conn.execute(sa.insert(migration_events).values(
                migration_id=mig_id, time=now, from_state=current, to_state=state,
                detail=f'reset by an administrator (was {current}): {reason}',
                **requester.current()))
            self._release_instance(conn, mig_id, state, now)
            self._release_claim(conn, mig_id)
            return self._migration_get(conn, mig_id)
