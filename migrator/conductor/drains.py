"""Where a conductor keeps the drain jobs it drives, and how it adopts orphaned ones.

A job belongs to the conductor named in its row. That conductor runs it in a thread of its
own (a drain mostly waits, so it must not hold one of the migration workers) and beats its
heartbeat. Should the conductor die, nothing in the DB changes: after [drain] orphan_timeout
seconds without a beat the job is an orphan, and every conductor's watchdog tries to take it
over with a compare-and-swap, so exactly one does and carries on from the DB's items.
A conductor that starts again under the same name adopts its own unfinished jobs at once.
"""

import datetime
import threading

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import context, exceptions
from migrator.conductor.tasks import drain as drain_task
from migrator.db import drain_models as dm
from migrator.db.models import utcnow

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class DrainRunner:
    def __init__(self, db, conductor, host):
        self.db = db
        self.conductor = conductor
        self.host = host
        self._lock = threading.Lock()
        self.tasks = {}      # drain id -> (DrainTask, Thread)
        self._stop = threading.Event()
        self._watchdog = None

    def start(self):
        """Adopt this conductor's own unfinished jobs, then watch for orphans."""
        self._adopt_own()
        self._watchdog = threading.Thread(target=self._watch, name='drain-watchdog',
                                          daemon=True)
        self._watchdog.start()

    def stop(self, wait=False):
        self._stop.set()
        with self._lock:
            running = list(self.tasks.values())
        for task, _thread in running:
            task.stop()
        if wait:
            for _task, thread in running:
                thread.join()
            if self._watchdog is not None:
                self._watchdog.join()

    def run(self, ctxt, drain):
        """Drive a job this conductor owns (its row names us) in a thread of its own."""
        with self._lock:
            known = self.tasks.get(drain['id'])
            if known is not None and known[1].is_alive():
                return known[0]
            task = drain_task.DrainTask(ctxt, self.db, self.conductor, drain, host=self.host)
            thread = threading.Thread(target=self._run, args=(task,),
                                      name=f"drain-{drain['id'][:8]}", daemon=True)
            self.tasks[drain['id']] = (task, thread)
        thread.start()
        return task

    def _run(self, task):
        try:
            # The job's log lines, and the migrations it creates, carry its requester.
            with context.acting_for(task.ctxt):
                task.run()
        finally:
            with self._lock:
                if self.tasks.get(task.id, (None,))[0] is task:
                    del self.tasks[task.id]

    def join(self, drain_id, timeout=None):
        """Waits for the thread driving drain_id (tests); True when none runs any more."""
        with self._lock:
            entry = self.tasks.get(drain_id)
        if entry is None:
            return True
        entry[1].join(timeout)
        return not entry[1].is_alive()

    def take(self, ctxt, drain_id):
        """The API's cast: CAS accepted -> running under our name, then drive it."""
        try:
            drain = self.db.drain_transition(drain_id, [dm.ACCEPTED], dm.RUNNING,
                                             values={'conductor': self.host})
        except exceptions.InvalidDrainTransition as exc:
            LOG.info('Drain %s is not ours to start: %s', drain_id, exc)
            return None
        except exceptions.DrainNotFound:
            LOG.warning('Drain %s vanished before it started', drain_id)
            return None
        return self.run(ctxt, drain)

    # -- orphans ----------------------------------------------------------------------------

    def _adopt_own(self):
        # Our previous life's jobs: whatever thread drove them is gone with that process.
        stale_before = utcnow() + datetime.timedelta(seconds=1)
        for drain in self.db.drain_list_orphans(stale_before):
            if drain['conductor'] == self.host and drain['id'] not in self.tasks:
                self._take_over(drain)

    def adopt_orphans(self):
        """One look for jobs whose conductor stopped beating; returns the ids taken."""
        stale_before = utcnow() - datetime.timedelta(seconds=CONF.drain.orphan_timeout)
        taken = []
        for drain in self.db.drain_list_orphans(stale_before):
            if drain['id'] in self.tasks:
                continue
            if self._take_over(drain):
                taken.append(drain['id'])
        return taken

    def _take_over(self, drain):
        adopted = self.db.drain_take_over(drain['id'], self.host, drain['updated_at'])
        if adopted is None:
            return False
        LOG.warning('Taking over %s %s of %s from conductor %s (no heartbeat since %s)',
                    drain['kind'], drain['id'], drain['host'], drain['conductor'],
                    drain['updated_at'])
        # Still done for whoever asked for the job.
        self.run(context.from_record(adopted), adopted)
        return True

    def _watch(self):
        interval = max(1.0, CONF.drain.orphan_timeout / 3)
        while not self._stop.wait(interval):
            try:
                self.adopt_orphans()
            except Exception:
                LOG.exception('Looking for orphaned drains failed; trying again in %.0fs',
                              interval)
