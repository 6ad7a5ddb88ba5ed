"""The conductor's RPC endpoint: takes requests and agent reports, runs migration tasks.

Several conductors may run against one broker and one DB. A migration belongs to the
conductor that moved it from `accepted` (or `queued`) to `scheduling` (a compare-and-swap in
the DB that also takes its concurrency slot), and its source agent reports the job's end to
that conductor by name. A migration without a free slot waits as `queued`; whenever a task
here ends, and every [scheduler] queue_poll_interval seconds, the queue is looked at.
"""

import datetime
import threading

import futurist
import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import context, exceptions
from migrator.compute import rpcapi as compute_rpcapi
from migrator.conductor import drains, job_waiters, progress
from migrator.conductor.scheduler import queue as queue_mod
from migrator.conductor.scheduler import scheduler as scheduler_mod
from migrator.conductor.tasks import live

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class ConductorManager:
    target = messaging.Target(version='1.2')

    def __init__(self, db, compute_api=None, host=None, scheduler=None):
        self.db = db
        self.host = host or CONF.host
        self.compute_api = compute_api or compute_rpcapi.ComputeAPI()
        self.waiters = job_waiters.JobWaiters()
        self.executor = futurist.ThreadPoolExecutor(max_workers=CONF.conductor.workers)
        self.scheduler = scheduler or scheduler_mod.Scheduler(db)
        self.queue = queue_mod.MigrationQueue(db, self.host)
        self._queue_lock = threading.Lock()
        self._queue_wanted = threading.Event()
        self._stopping = threading.Event()
        self._poller = None
        self.drains = drains.DrainRunner(db, self, self.host)

    def start(self):
        """Background work: the queue's timer, and adopting unfinished drains (ours, or
        orphaned ones). The services call this; unit tests drive both themselves."""
        self._poller = threading.Thread(target=self._poll_queue, name='queue-poller',
                                        daemon=True)
        self._poller.start()
        self.drains.start()

    def stop(self):
        self._stopping.set()
        self.drains.stop()
        if self._poller is not None:
            self._poller.join(timeout=10)
        self.executor.shutdown(wait=False)

    # -- from the API -----------------------------------------------------------------------

    def select_destination(self, ctxt, instance_uuid, migration_type, target_host=None,
                           block_migration=None):
        """The host the request would go to now, or NoValidHost saying why (the filter)."""
        instance = self.db.instance_get(instance_uuid)
        return self.scheduler.check(instance, migration_type, target_host, block_migration)

    def schedule_dry_run(self, ctxt, instance_uuid, migration_type, target_host=None,
                         block_migration=None):
        """What the scheduler would decide now, and why; claims and moves nothing."""
        instance = self.db.instance_get(instance_uuid)
        result = self.scheduler.explain(instance, migration_type, target_host, block_migration)
        result['slots'] = self._slots_view(instance.get('host'))
        return result

    def _slots_view(self, source):
        sched = CONF.scheduler
        state = self.scheduler.cache.get(source)
        outbound = state.outbound_migrations if state is not None else 0
        active = self.db.scheduler_active_count()
        return {'source_outbound': outbound, 'max_outbound_per_host': sched.max_outbound_per_host,
                'cluster_active': active,
                'max_migrations_in_cluster': sched.max_migrations_in_cluster,
                'would_queue': (outbound >= sched.max_outbound_per_host
                                or active >= sched.max_migrations_in_cluster)}

    def migrate(self, ctxt, migration_id):
        try:
            migration = self.queue.admit(migration_id)
        except exceptions.MigrationNotFound:
            LOG.warning('Migration %s vanished before it started', migration_id)
            return
        if migration is not None:
            self._launch(migration, ctxt)
        else:
            # It may have been queued just after a slot freed and the queue was looked at.
            self.start_queued()

    # -- the queue --------------------------------------------------------------------------

    def _launch(self, migration, ctxt=None):
        ctxt = ctxt or context.get_admin_context()
        task = live.LiveMigrationTask(ctxt, self.db, self.compute_api, migration,
                                      self.waiters, self.scheduler)
        self.executor.submit(self._run_task, task)

    def _run_task(self, task):
        try:
            task.run()
        finally:
            if task.migration_ended():
                # Its slots are free now: start whoever waits for them.
                self.start_queued()

    def start_queued(self):
        """Start queued migrations that have a slot now. One pass at a time in this process
        (other conductors race us through the DB's compare-and-swap); a call that finds a
        pass running makes that pass look once more, so no freed slot goes unnoticed."""
        started = 0
        self._queue_wanted.set()
        while self._queue_wanted.is_set():
            if not self._queue_lock.acquire(blocking=False):
                return started
            try:
                self._queue_wanted.clear()
                started += self.queue.start_next(self._launch)
            except Exception:
                LOG.exception('Looking at the migration queue failed; trying again later')
            finally:
                self._queue_lock.release()
        return started

    def _poll_queue(self):
        while not self._stopping.wait(CONF.scheduler.queue_poll_interval):
            self.start_queued()

    def drain(self, ctxt, drain_id):
        """Starts an accepted drain or return job; any conductor may take it."""
        self.drains.take(ctxt, drain_id)

    # -- from the compute agents ------------------------------------------------------------

    def report_host(self, ctxt, host, inventory, domains, reported_at):
        row = self.db.host_report(host, inventory)
        self.scheduler.cache.update(row)
        self.db.instance_sync_host(host, domains,
                                   datetime.datetime.fromisoformat(reported_at))

    def migration_progress(self, ctxt, migration_id, stats):
        try:
            self.db.migration_update_progress(migration_id, progress.progress_values(stats))
        except exceptions.MigrationNotFound:
            LOG.warning('Progress for unknown migration %s dropped', migration_id)

    def migration_job_done(self, ctxt, migration_id, outcome):
        if not self.waiters.deliver(migration_id, outcome):
            LOG.warning('Job end of migration %s arrived but no task here waits for it: %s',
                        migration_id, outcome)
