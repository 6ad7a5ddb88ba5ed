"""The conductor's RPC endpoint: takes requests and agent reports, runs migration tasks.

Several conductors may run against one broker and one DB. A migration belongs to the
conductor that moved it from `accepted` (or `queued`) to `scheduling` (a compare-and-swap in
the DB that also takes its concurrency slot), and its source agent reports the job's end to
that conductor by name. An abort goes to that conductor by name too: only it holds the
running task that can stop the work in progress. A migration without a free slot waits as
`queued`; whenever a task here ends, and every [scheduler] queue_poll_interval seconds, the
queue is looked at.

A conductor heartbeats in the DB; the migrations, drains and plans of one that stopped
beating are adopted by a live one (takeover.py), which settles them (recovery.py).
"""

import datetime
import threading

import futurist
import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import importutils

from migrator.common import aborts, context, exceptions, kinds, notifications, states
from migrator.compute import rpcapi as compute_rpcapi
from migrator.conductor import (
    audit,
    db_retry,
    drains,
    forecast,
    job_waiters,
    progress,
    recovery,
    reports,
    shared_storage,
    takeover,
)
from migrator.conductor.scheduler import queue as queue_mod
from migrator.conductor.scheduler import scheduler as scheduler_mod
from migrator.conductor.tasks import rebalance

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# The task class of each migration kind (migrator.common.kinds).
TASK_KINDS = {kind.name: importutils.import_class(kind.task)
              for kind in kinds.KINDS.values()}


class ConductorManager:
    target = messaging.Target(version='1.8')

    def __init__(self, db, compute_api=None, host=None, scheduler=None):
        # A DB outage stalls a step instead of failing it (db_retry.py).
        db = self.db = (db if isinstance(db, db_retry.RetryingDatabase)
                        else db_retry.RetryingDatabase(db))
        self.host = host or CONF.host
        self.compute_api = compute_api or compute_rpcapi.ComputeAPI()
        self.waiters = job_waiters.JobWaiters()
        self.executor = futurist.ThreadPoolExecutor(max_workers=CONF.conductor.workers)
        self._tasks_lock = threading.Lock()
        self._tasks = {}    # migration id -> the task running it here
        self.scheduler = scheduler or scheduler_mod.Scheduler(db)
        # Reports that change nothing are heartbeats, batched (reports.py).
        self.reports = reports.ReportWriter(db, self.scheduler.cache)
        self.queue = queue_mod.MigrationQueue(db, self.host)
        self._queue_lock = threading.Lock()
        self._queue_wanted = threading.Event()
        self._stopping = threading.Event()
        self._poller = None
        self._recovery = None
        self._settling = set()   # ids of migrations the recovery is settling now
        self.drains = drains.DrainRunner(db, self, self.host)
        # Migrations whose switch to post-copy is recorded: a report per sample says so.
        self._post_copy = set()
        self.stalls = forecast.StallWatch(db, self.force_complete)
        self.liveness = takeover.Liveness(db, self, self.host)
        # Adopted migrations are settled here, several at once.
        self._recovery_pool = futurist.ThreadPoolExecutor(
            max_workers=CONF.conductor.recovery_workers)
        self._plans_lock = threading.Lock()
        self._plans = {}   # plan id -> the thread applying it here

    def start(self):
        """Records this conductor's incarnation (raises ConductorAlreadyRunning while another
        one lives under the same name), then background work: settling the migrations this
        conductor drove before it last stopped, its unfinished drains and plans, the queue's
        timer, and the watchdog that beats and adopts the work of dead conductors. The
        services call this; unit tests drive each themselves."""
        if not self.liveness.registered:
            self.liveness.register()
        self._recovery = threading.Thread(target=self.recover, name='recovery', daemon=True)
        self._recovery.start()
        self._poller = threading.Thread(target=self._poll_queue, name='queue-poller',
                                        daemon=True)
        self._poller.start()
        self.drains.start()
        self.reports.start()
        for plan in self.db.work_owned_by('plan', self.host):
            self.adopt_plan(plan)
        self.liveness.start()

    def recover(self):
        """Settles this conductor's own unfinished migrations from before its start (see
        recovery.py), several at once; returns {migration id: state}. Later, an unfinished
        migration of this conductor has a task here."""
        try:
            futures = self._adopt(self.db.work_owned_by('migration', self.host))
            settled = {mid: future.result() for mid, future in futures.items()}
        except Exception:
            LOG.exception('Settling the migrations of the previous run failed')
            return {}
        if settled:
            LOG.info('Settled after the restart: %s', settled)
        return settled

    def adopt_migrations(self, orphans):
        """Takes over migrations of dead conductors (the watchdog's list) and settles them
        in the background; returns the ids taken here."""
        return list(self._adopt(orphans))

    def _adopt(self, migrations):
        """Takes each migration by compare-and-swap on its conductor and generation, and
        settles the ones taken on the recovery pool; {id: future of its end state}."""
        futures = {}
        for migration in migrations:
            # Under the lock migrations are taken with: one taken by this run already has
            # its task, and is not an orphan.
            with self._tasks_lock:
                if migration['id'] in self._tasks or migration['id'] in self._settling:
                    continue
                generation = self.db.work_take('migration', migration['id'], self.host,
                                               migration['conductor'],
                                               migration['generation'])
                if generation is None:
                    continue
                self._settling.add(migration['id'])
            if migration['conductor'] != self.host:
                LOG.warning('Taking over migration %s (%s) from conductor %s, whose '
                            'heartbeat stopped', migration['id'], migration['status'],
                            migration['conductor'])
            adopted = {**migration, 'conductor': self.host, 'generation': generation}
            futures[migration['id']] = self._recovery_pool.submit(self._settle, adopted)
        return futures

    def _settle(self, migration):
        try:
            state = recovery.MigrationRecovery(
                context.get_admin_context(), self.db, self.compute_api,
                stopping=self._stopping).settle_adopted(migration)
        finally:
            self._settling.discard(migration['id'])
        LOG.info('Migration %s settled: %s', migration['id'], state)
        self.start_queued()
        return state

    def stop(self):
        self._stopping.set()
        self.liveness.stop()
        self.drains.stop()
        self.reports.stop()
        if self._poller is not None:
            self._poller.join(timeout=10)
        self.executor.shutdown(wait=False)
        self._recovery_pool.shutdown(wait=False)

    # -- from the API -----------------------------------------------------------------------

    def select_destination(self, ctxt, instance_uuid, migration_type, target_host=None,
                           block_migration=None):
        """The host the request would go to now, or NoValidHost saying why (the filter)."""
        instance = self.db.instance_get(instance_uuid)
        target = self.scheduler.check(instance, migration_type, target_host, block_migration)
        if kinds.get(migration_type).live and block_migration is False:
            # Shared storage only: refuse now a guest whose disks would need copying.
            unshared = shared_storage.unshared_disks(ctxt, self.compute_api, instance['host'],
                                                     target, instance_uuid)
            if unshared:
                raise exceptions.Conflict(shared_storage.refusal(instance, unshared,
                                                                 instance['host'], target))
        return target

    def schedule_dry_run(self, ctxt, instance_uuid, migration_type, target_host=None,
                         block_migration=None, controls=None):
        """What the scheduler would decide now, and why; claims and moves nothing. With the
        convergence controls of a live migration (1.8) also the convergence forecast."""
        instance = self.db.instance_get(instance_uuid)
        result = self.scheduler.explain(instance, migration_type, target_host, block_migration)
        result['slots'] = self._slots_view(instance.get('host'))
        if migration_type == 'live' and controls is not None and result.get('possible'):
            try:
                result['forecast'] = forecast.dry_run(ctxt, self.db, self.compute_api,
                                                      instance, controls,
                                                      target_host=result.get('target_host'))
            except Exception:  # noqa: BLE001 - the scheduler's answer stands without it
                LOG.exception('Dry run for %s: no convergence forecast', instance_uuid)
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
        # Taking the migration (and its slot) and registering its task happen under the lock
        # that abort_migration reads the tasks with: an abort sees either an unstarted
        # migration or its task, never a migration taken here without a task to stop.
        with self._tasks_lock:
            try:
                migration = self.queue.admit(migration_id)
            except exceptions.MigrationNotFound:
                LOG.warning('Migration %s vanished before it started', migration_id)
                return
            task = self._new_task(migration, ctxt) if migration is not None else None
        if task is not None:
            self.executor.submit(self._run_task, task)
        elif migration is None:
            # It may have been queued just after a slot freed and the queue was looked at.
            self.start_queued()

    def _new_task(self, migration, ctxt=None):
        """The task of a migration this conductor has just taken (it is `scheduling`);
        registered so an abort finds it. The caller holds _tasks_lock."""
        kind = TASK_KINDS.get(migration['type'])
        if kind is None:
            reason = f"no conductor task for migration type {migration['type']!r}"
            self.db.migration_transition(migration['id'], [states.SCHEDULING],
                                         states.FAILED, detail=reason,
                                         values={'error': reason})
            return None
        # A migration started from the queue runs for whoever asked for it.
        task = kind(ctxt or context.from_record(migration), self.db, self.compute_api,
                    migration, self.waiters, self.scheduler)
        self._tasks[migration['id']] = task
        return task

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
            if task is None and migration_id in self._settling:
                # Being settled after a restart: marked cancelling, the settling aborts its
                # job and ends it cancelled (or as the hypervisors say it ended).
                if status != states.CANCELLING:
                    self.db.migration_transition(migration_id, [status], states.CANCELLING,
                                                 detail=reason, values={'error': reason})
                return self.db.migration_get(migration_id)
        if task is None:
            raise exceptions.Conflict(
                f'Migration {migration_id} is {status} but conductor {self.host} does not run '
                f'it (it may have restarted since it took it); nothing was changed. Check '
                f'where instance {migration["instance_name"]} runs before acting on it.')
        LOG.info('Migration %s: abort requested: %s', migration_id, reason)
        task.request_abort(reason)
        return self.db.migration_get(migration_id)

    # -- the queue --------------------------------------------------------------------------

    def _launch(self, migration, ctxt=None):
        with self._tasks_lock:
            task = self._new_task(migration, ctxt)
        if task is not None:
            self.executor.submit(self._run_task, task)

    def _run_task(self, task):
        try:
            # Its log lines and events carry the request ids of the request it serves.
            with context.acting_for(task.ctxt):
                task.run()
        finally:
            with self._tasks_lock:
                self._tasks.pop(task.id, None)
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

    def create_plan(self, ctxt, goal, max_moves=None, min_gain=None, max_parallel=None):
        """Plans a rebalance from the DB's view of the cluster; returns the plan's id."""
        plan = rebalance.create_plan(self.db, goal, max_moves, min_gain, max_parallel,
                                     conductor=self.host)
        return plan['id']

    def apply_plan(self, ctxt, plan_id):
        """Takes a plan the API moved to `applying` (it names no conductor then) and applies
        it in a thread of its own (it waits for migrations, which run on the task
        executor)."""
        try:
            plan = self.db.plan_get(plan_id)
        except exceptions.PlanNotFound:
            LOG.warning('Plan %s vanished before it was applied', plan_id)
            return
        if plan['conductor'] is not None:
            LOG.info('Plan %s is applied by conductor %s already', plan_id, plan['conductor'])
            return
        self.adopt_plan(plan, ctxt)

    def adopt_plan(self, plan, ctxt=None):
        """Takes a plan being applied (unowned, ours from before a restart, or a dead
        conductor's) by compare-and-swap, and applies the rest of it here; True when
        taken."""
        with self._plans_lock:
            running = self._plans.get(plan['id'])
            if running is not None and running.is_alive():
                return False
            generation = self.db.work_take('plan', plan['id'], self.host, plan['conductor'],
                                           plan['generation'])
            if generation is None:
                return False
            if plan['conductor'] not in (None, self.host):
                LOG.warning('Taking over plan %s from conductor %s, whose heartbeat stopped',
                            plan['id'], plan['conductor'])
            # A plan taken over is still applied for whoever asked for it.
            applier = rebalance.PlanApplier(
                ctxt or context.from_record(plan), self.db, self.migrate,
                lambda instance, target: self.scheduler.check(instance, 'live', target),
                conductor=self.host, generation=generation)
            thread = threading.Thread(target=self._apply, args=(applier, plan['id']),
                                      name=f"plan-{plan['id'][:8]}", daemon=True)
            self._plans[plan['id']] = thread
        thread.start()
        return True

    def audit(self, ctxt, fix=False):
        """The DB compared with what every agent says now (see audit.py); with fix, the
        bookkeeping repairs made first."""
        return audit.Auditor(ctxt, self.db, self.compute_api).run(fix=fix)

    @staticmethod
    def _apply(applier, plan_id):
        with context.acting_for(applier.ctxt):
            applier.run(plan_id)

    # -- from the compute agents ------------------------------------------------------------

    def report_host(self, ctxt, host, inventory, domains, reported_at):
        """Written in full when it changes something, else queued as a heartbeat."""
        self.reports.handle(host, inventory, domains,
                            datetime.datetime.fromisoformat(reported_at))

    def report_host_down(self, ctxt, host, reason, reported_at):
        """The host's agent lost its hypervisor (libvirtd restarting): the host counts as
        down at once, not service_down_time later, until a report newer than this one."""
        reported_at = datetime.datetime.fromisoformat(reported_at)
        self.reports.host_down(host, reported_at)
        row = self.db.host_mark_down(
            host, reported_at,
            down_since=reported_at - datetime.timedelta(
                seconds=CONF.conductor.service_down_time + 1))
        if row is None:
            return
        LOG.warning('Host %s is down: %s', host, reason)
        self.scheduler.cache.update(row)

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
        try:
            result = self.compute_api.live_migration_force_complete(
                ctxt, migration['source_host'], migration['instance_uuid'])
        except messaging.MessagingTimeout:
            raise exceptions.AgentUnavailable(
                host=migration['source_host'], id=migration_id,
                timeout=CONF.conductor.compute_rpc_timeout) from None
        LOG.info('Migration %s forced to complete: %s', migration_id, result.get('forced'))
        notifications.migration_event('migration.force_complete',
                                      self.db.migration_get(migration_id), ctxt,
                                      forced=result.get('forced'))
        return result

    def migration_progress(self, ctxt, migration_id, stats):
        self.waiters.touch(migration_id)
        try:
            recorded = self.db.migration_update_progress(
                migration_id, progress.progress_values(stats), sample=True)
        except exceptions.MigrationNotFound:
            LOG.warning('Progress for unknown migration %s dropped', migration_id)
            return
        if recorded:
            self._notify_progress(migration_id)
            self.stalls.check(ctxt, migration_id, stats)
        if stats.get('post_copy'):
            self._entered_post_copy(migration_id, stats.get('forced_by'))

    def _notify_progress(self, migration_id):
        """migration.progress, rate limited; the requester is the migration's (the task's
        context), not the agent that reported."""
        with self._tasks_lock:
            task = self._tasks.get(migration_id)
        try:
            notifications.migration_progress(self.db.migration_get(migration_id),
                                             task.ctxt if task is not None else None)
        except exceptions.MigrationNotFound:
            pass

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
