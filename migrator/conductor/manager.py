"""The conductor's RPC endpoint: takes requests and agent reports, runs migration tasks.

Several conductors may run against one broker and one DB. A migration belongs to the
conductor that moved it from `accepted` to `scheduling` (a compare-and-swap in the DB), and
its source agent reports the job's end to that conductor by name. An abort goes to that
conductor by name too: only it holds the running task that can stop the work in progress.
"""

import datetime
import threading

import futurist
import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import aborts, exceptions, states
from migrator.compute import rpcapi as compute_rpcapi
from migrator.conductor import drains, job_waiters, progress, shared_storage
from migrator.conductor.scheduler import host_selector
from migrator.conductor.tasks import cold, live, rebalance

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# The task class of each migration type the API accepts.
TASK_KINDS = {
    'live': live.LiveMigrationTask,
    'cold': cold.ColdMigrationTask,
}


class ConductorManager:
    target = messaging.Target(version='1.4')

    def __init__(self, db, compute_api=None, host=None):
        self.db = db
        self.host = host or CONF.host
        self.compute_api = compute_api or compute_rpcapi.ComputeAPI()
        self.waiters = job_waiters.JobWaiters()
        self.executor = futurist.ThreadPoolExecutor(max_workers=CONF.conductor.workers)
        self._tasks_lock = threading.Lock()
        self._tasks = {}    # migration id -> the task running it here
        self.drains = drains.DrainRunner(db, self, self.host)
        # Migrations whose switch to post-copy is recorded: a report per sample says so.
        self._post_copy = set()

    def start(self):
        """Background work: adopt unfinished drains (ours, or orphaned ones)."""
        self.drains.start()

    def stop(self):
        self.drains.stop()
        self.executor.shutdown(wait=False)

    # -- from the API -----------------------------------------------------------------------

    def select_destination(self, ctxt, instance_uuid, migration_type, target_host=None,
                           block_migration=None):
        """The host a migration would go to now; refuses (409) what cannot work there.

        block_migration False (shared storage only) is checked here, so the API can refuse
        a guest whose disks are not shared with that host before anything is created.
        """
        instance = self.db.instance_get(instance_uuid)
        target = host_selector.select_destination(self.db, instance, target_host)
        if migration_type == 'live' and block_migration is False:
            unshared = shared_storage.unshared_disks(ctxt, self.compute_api, instance['host'],
                                                     target, instance_uuid)
            if unshared:
                raise exceptions.Conflict(shared_storage.refusal(instance, unshared,
                                                                 instance['host'], target))
        return target

    def migrate(self, ctxt, migration_id):
        # Taking the migration and registering its task happen under the lock that
        # abort_migration reads the tasks with: an abort sees either an unstarted migration
        # or its task, never a migration taken here without a task to stop.
        with self._tasks_lock:
            try:
                migration = self.db.migration_transition(
                    migration_id, [states.ACCEPTED], states.SCHEDULING,
                    detail=f'taken by conductor {self.host}', values={'conductor': self.host})
            except exceptions.InvalidStateTransition as exc:
                LOG.info('Migration %s is not ours to start: %s', migration_id, exc)
                return
            except exceptions.MigrationNotFound:
                LOG.warning('Migration %s vanished before it started', migration_id)
                return
            kind = TASK_KINDS.get(migration['type'])
            if kind is None:
                reason = f"no conductor task for migration type {migration['type']!r}"
                self.db.migration_transition(migration_id, [states.SCHEDULING],
                                             states.FAILED, detail=reason,
                                             values={'error': reason})
                return
            task = kind(ctxt, self.db, self.compute_api, migration, self.waiters)
            self._tasks[migration_id] = task
        self.executor.submit(self._run, task)

    def _run(self, task):
        try:
            task.run()
        finally:
            with self._tasks_lock:
                self._tasks.pop(task.id, None)

    def abort_migration(self, ctxt, migration_id, reason):
        """Asks the task running migration_id here to stop; returns the migration.

        Returns as soon as the task has been told: the migration then goes `cancelling ->
        cancelled` once the work in progress has stopped and been undone.
        """
        with self._tasks_lock:
            task = self._tasks.get(migration_id)
            migration = self.db.migration_get(migration_id)
            status = migration['status']
            if not states.can_abort(status):
                raise exceptions.Conflict(aborts.refusal(migration))
            if task is None and status in aborts.UNSTARTED:
                return self.db.migration_cancel_unstarted(migration_id, reason)
        if task is None:
            raise exceptions.Conflict(
                f'Migration {migration_id} is {status} but conductor {self.host} does not run '
                f'it (it may have restarted since it took it); nothing was changed. Check '
                f'where instance {migration["instance_name"]} runs before acting on it.')
        LOG.info('Migration %s: abort requested: %s', migration_id, reason)
        task.request_abort(reason)
        return self.db.migration_get(migration_id)

    def drain(self, ctxt, drain_id):
        """Starts an accepted drain or return job; any conductor may take it."""
        self.drains.take(ctxt, drain_id)

    def create_plan(self, ctxt, goal, max_moves=None, min_gain=None, max_parallel=None):
        """Plans a rebalance from the DB's view of the cluster; returns the plan's id."""
        plan = rebalance.create_plan(self.db, goal, max_moves, min_gain, max_parallel,
                                     conductor=self.host)
        return plan['id']

    def apply_plan(self, ctxt, plan_id):
        """Applies a plan the API moved to `applying`, in a thread of its own (it waits
        for migrations, which run on the task executor)."""
        applier = rebalance.PlanApplier(ctxt, self.db, self.migrate, conductor=self.host)
        threading.Thread(target=applier.run, args=(plan_id,), name=f'plan-{plan_id}',
                         daemon=True).start()

    # -- from the compute agents ------------------------------------------------------------

    def report_host(self, ctxt, host, inventory, domains, reported_at):
        self.db.host_report(host, inventory)
        self.db.instance_sync_host(host, domains,
                                   datetime.datetime.fromisoformat(reported_at))

    def force_complete(self, ctxt, migration_id):
        """Makes a running live migration finish (see compute's
        live_migration_force_complete); answers {'forced': 'post_copy'|'paused'}."""
        migration = self.db.migration_get(migration_id)
        if migration['type'] != 'live':
            raise exceptions.Conflict(
                f"Migration {migration_id} is a {migration['type']} migration; only a live "
                "migration can be forced to complete.")
        if migration['status'] != states.RUNNING:
            raise exceptions.Conflict(
                f"Migration {migration_id} is {migration['status']}, not running: only a "
                "running live migration can be forced to complete.")
        result = self.compute_api.live_migration_force_complete(
            ctxt, migration['source_host'], migration['instance_uuid'])
        LOG.info('Migration %s forced to complete: %s', migration_id, result.get('forced'))
        return result

    def migration_progress(self, ctxt, migration_id, stats):
        try:
            self.db.migration_update_progress(migration_id, progress.progress_values(stats),
                                              sample=True)
        except exceptions.MigrationNotFound:
            LOG.warning('Progress for unknown migration %s dropped', migration_id)
            return
        if stats.get('post_copy'):
            self._entered_post_copy(migration_id, stats.get('forced_by'))

    def _entered_post_copy(self, migration_id, reason):
        """The agent switched the job to post-copy: the guest runs on the target from now
        on, so the migration can only go forward (running -> post_copy)."""
        if migration_id in self._post_copy:
            return
        try:
            self.db.migration_transition(
                migration_id, [states.RUNNING], states.POST_COPY,
                detail=f"switched to post-copy ({reason or 'forced to complete'})")
        except exceptions.InvalidStateTransition:
            pass
        self._post_copy.add(migration_id)

    def migration_job_done(self, ctxt, migration_id, outcome):
        self._post_copy.discard(migration_id)
        if not self.waiters.deliver(migration_id, outcome):
            LOG.warning('Job end of migration %s arrived but no task here waits for it: %s',
                        migration_id, outcome)
