"""Concurrency limits: a migration starts only with a slot of its source host and of the
cluster; without one it waits as `queued` and starts when a slot frees.

Taking a slot and moving the migration to `scheduling` is one compare-and-swap transaction
(Database.slot_acquire), so with several conductors each queued migration is started by
exactly one of them and the limits hold. Slots are given back by the transition that ends a
migration, whatever its kind. Whoever ends a migration then looks at the queue at once
(start_next); a timer looks every [scheduler] queue_poll_interval seconds as well, for slots
freed by a conductor that died.

Order: highest priority first, oldest first within a priority. A migration whose source
host is at its limit does not hold up one from another host; within one source host the
order is strict.
"""

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import context, exceptions, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

QUEUE_SCAN = 200  # queued migrations looked at per pass


class MigrationQueue:
    def __init__(self, db, conductor_name):
        self.db = db
        self.conductor_name = conductor_name

    def _acquire(self, migration_id, from_state):
        sched = CONF.scheduler
        return self.db.slot_acquire(
            migration_id, [from_state], sched.max_outbound_per_host,
            sched.max_migrations_in_cluster,
            detail=f'taken by conductor {self.conductor_name}',
            values={'conductor': self.conductor_name})

    def admit(self, migration_id):
        """An accepted migration: its slot taken and the migration returned (in
        `scheduling`, ours to run), or None when it now waits in the queue (or another
        conductor has it)."""
        try:
            migration, why = self._acquire(migration_id, states.ACCEPTED)
        except exceptions.InvalidStateTransition as exc:
            LOG.info('Migration %s is not ours to start: %s', migration_id, exc)
            return None
        if migration is not None:
            return migration
        try:
            self.db.migration_transition(migration_id, [states.ACCEPTED], states.QUEUED,
                                         detail=f"waiting for a slot: {why['message']}")
        except exceptions.InvalidStateTransition as exc:
            LOG.info('Migration %s moved on before it could be queued: %s', migration_id, exc)
        return None

    def start_next(self, launch):
        """Start queued migrations while slots are free; launch(migration) runs each one.
        Returns how many were started here."""
        started = 0
        full_sources = set()
        for queued in self.db.migration_list_queued(limit=QUEUE_SCAN):
            if queued['source_host'] in full_sources:
                continue
            # Its start is still done for whoever asked for it (events, log lines).
            with context.acting_for(context.from_record(queued)):
                try:
                    migration, why = self._acquire(queued['id'], states.QUEUED)
                except (exceptions.InvalidStateTransition, exceptions.MigrationNotFound):
                    continue  # another conductor started it, or it was aborted
                if migration is None:
                    if why['limit'] == 'cluster':
                        break
                    full_sources.add(queued['source_host'])
                    continue
                LOG.info('Migration %s leaves the queue', queued['id'])
            launch(migration)
            started += 1
        return started
