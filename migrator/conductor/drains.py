"""Where a conductor keeps the drain jobs it drives, and how it adopts orphaned ones.

A job belongs to the conductor named in its row, at a generation (migrator.db.queries.conductors,
the mechanism migrations and plans use too). That conductor runs it in a thread of its own
(a drain mostly waits, so it must not hold one of the migration workers). Should the
conductor die, its heartbeat in the DB goes stale: after [conductor] takeover_after seconds
the conductors' watchdogs (takeover.py) take its jobs over with a compare-and-swap on
(conductor, generation), so exactly one does and carries on from the DB's items; the old
owner's transitions are fenced with its generation. A conductor that starts again under the
same name adopts its own unfinished jobs at once.

A job looks at its items when one of its migrations ends, not a poll later: the runner
watches the database's committed changes and wakes the jobs when a migration reaches a final
state (its slot is free for the next guest). [drain] poll_interval stays as the fallback for
migrations another conductor drives, whose ends this process does not see.
"""

import threading

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import context, exceptions, states
from migrator.conductor.tasks import drain as drain_task

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
        if hasattr(db, 'add_observer'):  # test doubles of the DB may not observe
            db.add_observer(self._on_change, key=f'drains-{host}')

    def _on_change(self, change):
        """A migration ended: the jobs driven here look at their items now."""
        record = change.record
        if change.resource != 'migration' or not record or \
                record.get('status') not in states.TERMINAL:
            return
        with self._lock:
            running = [task for task, _thread in self.tasks.values()]
        for task in running:
            task.wakeup.set()

    def start(self):
        """Adopt this conductor's own unfinished jobs (the watchdog adopts the others)."""
        self.adopt(self.db.work_owned_by('drain', self.host))

    def stop(self, wait=False):
        self._stop.set()
        with self._lock:
            running = list(self.tasks.values())
        for task, _thread in running:
            task.stop()
        if wait:
            for _task, thread in running:
                thread.join()

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
            drain = self.db.drain_transition(drain_id, [states.DRAIN_ACCEPTED],
                                             states.DRAIN_RUNNING,
                                             values={'conductor': self.host})
        except exceptions.InvalidDrainTransition as exc:
            LOG.info('Drain %s is not ours to start: %s', drain_id, exc)
            return None
        except exceptions.DrainNotFound:
            LOG.warning('Drain %s vanished before it started', drain_id)
            return None
        return self.run(ctxt, drain)

    # -- orphans ---------------------------------------------------------------------------

    def adopt_orphans(self):
        """One look for jobs whose conductor is dead; returns the ids taken here."""
        return self.adopt(self.db.work_orphans('drain', CONF.conductor.takeover_after))

    def adopt(self, drains):
        """Take over each job (rows of work_orphans / work_owned_by) by compare-and-swap on
        its conductor and generation, and drive the ones taken; returns their ids."""
        taken = []
        for drain in drains:
            with self._lock:
                known = self.tasks.get(drain['id'])
                if known is not None and known[1].is_alive():
                    continue
            generation = self.db.work_take('drain', drain['id'], self.host,
                                           drain['conductor'], drain['generation'])
            if generation is None:
                continue
            if drain['conductor'] != self.host:
                LOG.warning('Taking over %s %s of %s from conductor %s, whose heartbeat '
                            'stopped', drain['kind'], drain['id'], drain['host'],
                            drain['conductor'])
            adopted = self.db.drain_get(drain['id'])
            # Still done for whoever asked for the job.
            self.run(context.from_record(adopted), adopted)
            taken.append(drain['id'])
        return taken
