"""The conductor's DB: steps retried while the database cannot be reached.

A conductor in the middle of a migration must not drop the migration's next transition
because PostgreSQL restarted: each call of the DB API that fails with a connection-class
error (OperationalError, InterfaceError, or a connection the pool found invalidated) is run
again, with backoff up to MAX_DELAY, for up to [conductor] db_retry_limit seconds. This is
safe because each call is one transaction that either committed or rolled back whole, and
every state change is a compare-and-swap that checks its condition again. The one ambiguous
case -- the commit happened but its answer was lost with the connection -- shows as a
transition whose retry finds the migration already in the target state; that counts as done.

Reports and progress samples are not retried: the next one replaces them. The heartbeat is
not either: the watchdog beats again at its next pass, and a conductor that cannot beat for
[conductor] takeover_after is rightly taken for dead (its work is then adopted, and fencing
keeps it from acting on that work when it comes back).
"""

import functools
import time

import sqlalchemy as sa
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

FIRST_DELAY = 0.5
MAX_DELAY = 10.0
NOT_RETRIED = frozenset({'host_report', 'host_heartbeats', 'instance_sync_host',
                         'migration_update_progress',
                         'conductor_heartbeat', 'conductor_stopped'})


def is_unreachable(exc):
    """Whether a DB error means the database could not be reached (not a bad statement)."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


class RetryingDatabase:
    """Wraps a migrator.db.api.Database; attributes other than methods pass through."""

    def __init__(self, db):
        self._db = db

    @property
    def unwrapped(self):
        return self._db

    def __getattr__(self, name):
        attr = getattr(self._db, name)
        if name.startswith('_') or name in NOT_RETRIED or not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            return self._retry(name, attr, args, kwargs)
        return call

    def _retry(self, name, method, args, kwargs):
        deadline = time.monotonic() + CONF.conductor.db_retry_limit
        delay = FIRST_DELAY
        attempt = 0
        while True:
            try:
                return method(*args, **kwargs)
            except exceptions.InvalidStateTransition:
                if attempt and name == 'migration_transition':
                    done = self._already_done(args, kwargs)
                    if done is not None:
                        return done
                raise
            except sa.exc.DBAPIError as exc:
                if not is_unreachable(exc) or time.monotonic() + delay > deadline:
                    raise
                attempt += 1
                LOG.warning('The database cannot be reached (%s: %s); trying %s again in '
                            '%.1fs', type(exc).__name__, str(exc).splitlines()[0], name,
                            delay)
                time.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)

    def _already_done(self, args, kwargs):
        """After a retried transition: the migration when it is in the target state (the
        first try committed, its answer was lost), else None."""
        mig_id = args[0] if args else kwargs.get('mig_id')
        to_state = args[2] if len(args) > 2 else kwargs.get('to_state')
        migration = self._db.migration_get(mig_id)
        return migration if migration['status'] == to_state else None
