"""A migration task: one class per kind of migration, with execute and rollback.

execute() walks the migration through the state machine; any exception from it hands over
to rollback(), whose job is to leave the guest running on the source and nothing of it on
the target, and to end the migration `failed` — or `error` when we cannot tell where the
guest runs.
"""

from oslo_log import log as logging

from migrator.common import exceptions, states

LOG = logging.getLogger(__name__)


class MigrationTask:
    def __init__(self, ctxt, db, compute_api, migration):
        self.ctxt = ctxt
        self.db = db
        self.compute_api = compute_api
        self.migration = migration
        self.state = migration['status']

    @property
    def id(self):
        return self.migration['id']

    def transition(self, to_state, detail=None, values=None):
        self.migration = self.db.migration_transition(self.id, [self.state], to_state,
                                                      detail=detail, values=values)
        LOG.info('Migration %s: %s -> %s%s', self.id, self.state, to_state,
                 f' ({detail})' if detail else '')
        self.state = to_state

    def run(self):
        try:
            self.execute()
        except exceptions.InvalidStateTransition as exc:
            # Someone else moved the migration on (another conductor, an operator): it is
            # theirs now; doing anything more here would fight them.
            LOG.warning('Migration %s: stopped driving it: %s', self.id, exc)
        except Exception as exc:
            if isinstance(exc, exceptions.MigratorException):
                LOG.warning('Migration %s failed: %s', self.id, exc)
            else:
                LOG.exception('Migration %s failed unexpectedly', self.id)
            try:
                self.rollback(exc)
            except Exception:
                LOG.exception('Migration %s: rollback failed', self.id)
                self._give_up('rollback failed; check where the instance runs')

    def execute(self):
        raise NotImplementedError

    def rollback(self, exc):
        raise NotImplementedError

    def _give_up(self, detail):
        """Ends the migration in `error`, whatever state it is in."""
        current = self.db.migration_get(self.id)['status']
        if current in states.TERMINAL:
            return
        try:
            self.db.migration_transition(self.id, [current], states.ERROR, detail=detail,
                                         values={'error': detail})
        except exceptions.InvalidStateTransition:
            LOG.exception('Migration %s: could not record the error state', self.id)
