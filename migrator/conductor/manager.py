"""The conductor's RPC endpoint: takes requests and agent reports, runs migration tasks.

Several conductors may run against one broker and one DB. A migration belongs to the
conductor that moved it from `accepted` to `scheduling` (a compare-and-swap in the DB), and
its source agent reports the job's end to that conductor by name.
"""

import datetime
import threading

import futurist
import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, states
from migrator.compute import rpcapi as compute_rpcapi
from migrator.conductor import drains, job_waiters, progress
from migrator.conductor.scheduler import host_selector
from migrator.conductor.tasks import live, rebalance

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class ConductorManager:
    target = messaging.Target(version='1.2')

    def __init__(self, db, compute_api=None, host=None):
        self.db = db
        self.host = host or CONF.host
        self.compute_api = compute_api or compute_rpcapi.ComputeAPI()
        self.waiters = job_waiters.JobWaiters()
        self.executor = futurist.ThreadPoolExecutor(max_workers=CONF.conductor.workers)
        self.drains = drains.DrainRunner(db, self, self.host)

    def start(self):
        """Background work: adopt unfinished drains (ours, or orphaned ones)."""
        self.drains.start()

    def stop(self):
        self.drains.stop()
        self.executor.shutdown(wait=False)

    # -- from the API -----------------------------------------------------------------------

    def select_destination(self, ctxt, instance_uuid, migration_type, target_host=None):
        instance = self.db.instance_get(instance_uuid)
        return host_selector.select_destination(self.db, instance, target_host)

    def migrate(self, ctxt, migration_id):
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
        task = live.LiveMigrationTask(ctxt, self.db, self.compute_api, migration, self.waiters)
        self.executor.submit(task.run)

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

    def migration_progress(self, ctxt, migration_id, stats):
        try:
            self.db.migration_update_progress(migration_id, progress.progress_values(stats))
        except exceptions.MigrationNotFound:
            LOG.warning('Progress for unknown migration %s dropped', migration_id)

    def migration_job_done(self, ctxt, migration_id, outcome):
        if not self.waiters.deliver(migration_id, outcome):
            LOG.warning('Job end of migration %s arrived but no task here waits for it: %s',
                        migration_id, outcome)
