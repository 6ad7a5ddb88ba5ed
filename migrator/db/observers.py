"""Observers of committed changes (a mixin of db.api.Database).

The services watch what the database records, whoever recorded it (a task, the recovery,
the API, another code path added later), to send notifications and count metrics: an
observer is called after the change is committed, with what changed. A compare-and-swap
that lost (the record was not in the expected state) is reported as a conflict. The DB
knows nothing of what observers do; an observer that fails is logged and ignored.
"""

import functools
import logging

from migrator.common import exceptions

LOG = logging.getLogger(__name__)

_CONFLICTS = (exceptions.InvalidStateTransition, exceptions.InvalidDrainTransition,
              exceptions.InvalidPlanTransition)


class Change:
    """resource: 'migration', 'drain' or 'plan'; action: the DB method ('migration_create',
    'migration_transition', ...); record: the row after the change (None for a conflict)."""

    def __init__(self, resource, action, record=None, conflict=False):
        self.resource = resource
        self.action = action
        self.record = record
        self.conflict = conflict

    def __repr__(self):
        return f'Change({self.resource}, {self.action}, conflict={self.conflict})'


def observed(resource):
    """Decorates a Database method whose result is the changed record."""
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                record = method(self, *args, **kwargs)
            except _CONFLICTS:
                self.emit_change(Change(resource, method.__name__, conflict=True))
                raise
            self.emit_change(Change(resource, method.__name__, record))
            return record
        return wrapper
    return decorate


class ObserversMixin:
    def add_observer(self, observer, key=None):
        """observer(change) after each committed change; `key` makes adding idempotent
        (migrator-all's services share one Database)."""
        observers = self.__dict__.setdefault('_observers', {})
        observers[key if key is not None else id(observer)] = observer

    def add_write_listener(self, listener, key=None):
        """listener() after each committed write transaction of this Database, whatever it
        wrote; `key` makes adding idempotent."""
        listeners = self.__dict__.setdefault('_write_listeners', {})
        listeners[key if key is not None else id(listener)] = listener

    def emit_written(self):
        for listener in list(self.__dict__.get('_write_listeners', {}).values()):
            try:
                listener()
            except Exception:
                LOG.exception('Write listener %r failed', listener)

    def emit_change(self, change):
        for observer in list(self.__dict__.get('_observers', {}).values()):
            try:
                observer(change)
            except Exception:
                LOG.exception('Observer %r failed on %r', observer, change)
