"""The conductor's RPC endpoint: takes requests and agent reports, runs migration tasks.

Several conductors may run against one broker and one DB. A migration belongs to the
conductor that moved it from `accepted` to `scheduling` (a compare-and-swap in the DB), and
its source agent reports the job's end to that conductor by name.
"""

import datetime

import futurist
import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, states
from migrator.compute import rpcapi as compute_rpcapi
from migrator.conductor import job_waiters, progress
from migrator.conductor.scheduler import host_selector
from migrator.conductor.tasks import live

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class ConductorManager:
    target = messaging.Target(version='1.1')

    def __init__(self, db, compute_api=None, host=None):
        self.db = db
        self.host = host or CONF.host
        self.compute_api = compute_api or compute_rpcapi.ComputeAPI()
        self.waiters = job_waiters.JobWaiters()
        self.executor = futurist.ThreadPoolExecutor(max_workers=CONF.conductor.workers)
        # Migrations whose switch to post-copy is recorded: a report per sample says so.
        self._post_copy = set()

    def stop(self):
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
