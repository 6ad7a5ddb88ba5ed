"""A migration task: one class per kind of migration, with execute and rollback.

execute() walks the migration through the state machine. When it raises, the task undoes
what it did: a failure goes `rolling_back -> failed`, an abort (MigrationAborted, after
request_abort()) goes `cancelling -> cancelled`. Either way the kind's rollback() does the
work — leave the guest running on the source and nothing of it on the target — and says
whether the guest runs on the source afterwards; when it cannot tell, the migration ends
`error` for an operator to look at.

Aborting is cooperative: request_abort() sets a flag that execute() checks between steps
(check_abort()) and calls on_abort(), where a kind stops what is in progress right now (the
libvirt job, a disk copy) so that execute() sees it end.
"""

import threading
import time

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, failpoints, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class MigrationTask:
    def __init__(self, ctxt, db, compute_api, migration):
        self.ctxt = ctxt
        self.db = db
        self.compute_api = compute_api
        self.migration = migration
        self.state = migration['status']
        self.abort_requested = threading.Event()
        self.abort_reason = None
        # Who drives it, as taken from the queue: every transition is a compare-and-swap on
        # it too, so a task whose migration another conductor adopted cannot move it on.
        self.owner = ((migration['conductor'], migration.get('generation', 0))
                      if migration.get('conductor') else None)

    @property
    def id(self):
        return self.migration['id']

    def migration_ended(self):
        """True when the migration is in a final state now (its slots were given back)."""
        try:
            return self.db.migration_get(self.id)['status'] in states.TERMINAL
        except exceptions.MigrationNotFound:
            return True

    def transition(self, to_state, detail=None, values=None):
        self.migration = self.db.migration_transition(self.id, [self.state], to_state,
                                                      detail=detail, values=values,
                                                      owner=self.owner)
        LOG.info('Migration %s: %s -> %s%s', self.id, self.state, to_state,
                 f' ({detail})' if detail else '')
        self.state = to_state
        failpoints.hit(f"conductor.{self.migration['type']}.{to_state}")

    def domain_state(self, host, uuid):
        """What host's agent says of the instance (get_domain_state), or None when it cannot
        tell. Asked again until [conductor] compute_rpc_timeout has passed, each try waiting
        at most [conductor] call_try_timeout: a reply lost in a broker restart would
        otherwise hold a finishing migration for the whole compute_rpc_timeout, and an agent
        that has just restarted answers that its hypervisor is not connected yet for a few
        seconds (the instance is where it was; the agent only cannot tell yet)."""
        deadline = time.monotonic() + CONF.conductor.compute_rpc_timeout
        per_try = min(CONF.conductor.call_try_timeout, CONF.conductor.compute_rpc_timeout)
        while True:
            started = time.monotonic()
            try:
                return self.compute_api.get_domain_state(self.ctxt, host, uuid,
                                                         rpc_timeout=per_try)
            except (messaging.MessagingTimeout, exceptions.HypervisorError) as exc:
                if time.monotonic() + per_try > deadline:
                    LOG.warning('Migration %s: %s did not say where the instance is within '
                                '%s s: %s', self.id, host,
                                CONF.conductor.compute_rpc_timeout, exc)
                    return None
                LOG.info('Migration %s: %s cannot say where the instance is yet (%s); '
                         'asking again', self.id, host, exc)
                # An error comes back at once: the next try waits a little, not a timeout.
                time.sleep(max(0.0, min(1.0, started + 1.0 - time.monotonic())))
            except Exception as exc:
                LOG.warning('Migration %s: cannot ask %s about the instance: %s', self.id,
                            host, exc)
                return None

    # -- abort ------------------------------------------------------------------------------

    def request_abort(self, reason):
        """Ask the running task to stop; returns at once. The task ends `cancelled`."""
        if self.abort_requested.is_set():
            return
        self.abort_reason = reason
        self.abort_requested.set()
        try:
            self.on_abort(reason)
        except Exception:
            LOG.exception('Migration %s: stopping the work in progress failed; the task '
                          'stops at its next step', self.id)

    def check_abort(self):
        if self.abort_requested.is_set():
            raise exceptions.MigrationAborted(reason=self.abort_reason)

    def on_abort(self, reason):
        """Stop what is in progress now (kind-specific); called from another thread."""

    # -- running ----------------------------------------------------------------------------

    def run(self):
        # The requester's context is this thread's (notifications name who asked).
        if hasattr(self.ctxt, 'update_store'):
            self.ctxt.update_store()
        try:
            self.execute()
        except exceptions.InvalidStateTransition as exc:
            # Someone else moved the migration on (another conductor, an operator): it is
            # theirs now; doing anything more here would fight them.
            LOG.warning('Migration %s: stopped driving it: %s', self.id, exc)
        except Exception as exc:
            if self.abort_requested.is_set() and not isinstance(
                    exc, exceptions.MigrationAborted):
                # The abort is why the step failed (a cancelled job, a closed stream).
                exc = exceptions.MigrationAborted(reason=self.abort_reason)
            if isinstance(exc, exceptions.MigratorException):
                LOG.warning('Migration %s: %s', self.id, exc)
            else:
                LOG.exception('Migration %s failed unexpectedly', self.id)
            try:
                self._undo(exc)
            except exceptions.WorkTakenOver as taken:
                LOG.warning('Migration %s: not rolled back here: %s', self.id, taken)
            except Exception:
                LOG.exception('Migration %s: rollback failed', self.id)
                self._give_up('rollback failed; check where the instance runs')

    def _undo(self, exc):
        aborted = isinstance(exc, exceptions.MigrationAborted)
        via, end = ((states.CANCELLING, states.CANCELLED) if aborted
                    else (states.ROLLING_BACK, states.FAILED))
        reason = str(exc)
        current = self.db.migration_get(self.id)['status']
        if current in states.TERMINAL:
            return
        if via not in states.ALLOWED[current]:
            self._give_up(f'{reason}; cannot roll back from {current}')
            return
        self.state = current
        self.transition(via, reason, {'error': reason})
        where = self.rollback(exc)
        if where is None:
            self.transition(end, f"{reason}; the instance runs on the source "
                                 f"{self.migration.get('source_host')}")
        else:
            self.transition(states.ERROR, f'{reason}; {where}')

    def execute(self):
        raise NotImplementedError

    def rollback(self, exc):
        """Undo execute()'s work. Returns None when the guest runs on the source and the
        target holds nothing of it, else a sentence saying what is wrong."""
        raise NotImplementedError

    def _give_up(self, detail):
        """Ends the migration in `error`, whatever state it is in."""
        current = self.db.migration_get(self.id)['status']
        if current in states.TERMINAL:
            return
        try:
            self.db.migration_transition(self.id, [current], states.ERROR, detail=detail,
                                         values={'error': detail}, owner=self.owner)
        except exceptions.InvalidStateTransition:
            LOG.exception('Migration %s: could not record the error state', self.id)
