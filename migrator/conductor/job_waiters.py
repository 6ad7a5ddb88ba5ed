"""Where a migration task waits for the source agent's word that the libvirt job ended.

The agent casts migration_job_done to the conductor that drives the migration (by server
name), and the endpoint hands the outcome to the waiting task here: no polling while the
job's progress reports keep coming. A waiter remembers when it last heard of its job, so a
task can tell a job gone silent (its end may have been lost) and ask the hypervisors.
"""

import threading
import time


class JobWaiter:
    def __init__(self):
        self._event = threading.Event()
        self.outcome = None
        self.last_heard = time.monotonic()

    def touch(self):
        """The job was heard of (a progress report)."""
        self.last_heard = time.monotonic()

    def silent_for(self):
        return time.monotonic() - self.last_heard

    def set(self, outcome):
        self.outcome = outcome
        self._event.set()

    def wait(self, timeout):
        """The outcome, or None when timeout seconds passed without one."""
        if self._event.wait(timeout):
            return self.outcome
        return None


class JobWaiters:
    def __init__(self):
        self._lock = threading.Lock()
        self._waiters = {}

    def register(self, migration_id):
        with self._lock:
            waiter = self._waiters[migration_id] = JobWaiter()
            return waiter

    def release(self, migration_id):
        with self._lock:
            self._waiters.pop(migration_id, None)

    def touch(self, migration_id):
        with self._lock:
            waiter = self._waiters.get(migration_id)
        if waiter is not None:
            waiter.touch()

    def deliver(self, migration_id, outcome):
        """True when a task here was waiting for this migration."""
        with self._lock:
            waiter = self._waiters.get(migration_id)
        if waiter is None:
            return False
        waiter.set(outcome)
        return True
