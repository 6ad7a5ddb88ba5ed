"""Live migration: libvirt peer-to-peer, the guest keeps running throughout.

scheduling -> preparing (target chosen and checked, shared storage proven)
-> running (the job runs inside the source's libvirtd) -> finishing (the job ended; we look
at both hosts) -> completed only when the guest runs on the target and not on the source.

An abort before the job starts stops the task at its next step; once the job runs, the
source agent cancels it (virDomainAbortJob), the job ends unsuccessfully and rollback cleans
the target. Once the job has completed the guest runs on the target: there is no going back.
"""

import concurrent.futures
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import convergence, exceptions, states
from migrator.conductor import progress
from migrator.conductor.tasks import base, disk_copy

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# What the agent's completion-timeout action (abort, or forcing the end) may take, beyond the
# timeout itself, before the conductor stops waiting for the job.
JOB_END_GRACE = 300


def in_parallel(*steps):
    """Runs independent steps (RPC calls to different hosts) at once: the migration waits
    for the slowest, not for the sum. Returns their results in order; the first error
    raised, in order, is re-raised."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(steps)) as pool:
        futures = [pool.submit(step) for step in steps]
    return [f.result() for f in futures]


class LiveMigrationTask(base.MigrationTask):
    def __init__(self, ctxt, db, compute_api, migration, waiters, scheduler):
        super().__init__(ctxt, db, compute_api, migration)
        self.waiters = waiters
        self.scheduler = scheduler
        self.instance = None
        self.source = migration['source_host']
        self.target = None
        # Serialises starting the libvirt job with aborting it: an abort either stops the
        # task before the job starts or cancels the started job, never neither.
        self._job_lock = threading.Lock()
        self._job_started = False
        self.disks = None

    def execute(self):
        self.instance = self.db.instance_get(self.migration['instance_uuid'])
        self.source = self.instance['host']
        try:
            self.target = self.scheduler.select_destination(
                self.instance, 'live', self.migration['requested_target'], self.id,
                block_migration=self.migration.get('block_migration'))
        except exceptions.NoValidHost as exc:
            if not getattr(exc, 'transient', False):
                raise
            # Only full inbound slots stand in the way: wait in the queue for one.
            self.transition(states.QUEUED, f'waiting for a slot: {exc}')
            return
        self.check_abort()
        self.transition(states.PREPARING, f'target {self.target} chosen',
                        {'target_host': self.target})

        uuid = self.instance['uuid']
        self.disks = disk_copy.DiskCopy(self.ctxt, self.compute_api, self.instance,
                                        self.source, self.target,
                                        self.migration.get('block_migration'))
        # Creating destination disks before the target is checked is fine: a refusal
        # there rolls back, which removes them.
        dest, (migrate_disks, storage_detail) = in_parallel(
            lambda: self.compute_api.check_can_live_migrate_destination(
                self.ctxt, self.target, uuid, self.instance['memory_mb']),
            self.disks.prepare)

        waiter = self.waiters.register(self.id)
        try:
            wait = self._job_wait()
            with self._job_lock:
                self.check_abort()
                self.transition(states.RUNNING,
                                f'libvirt migration job started ({storage_detail})',
                                {'block_migration': bool(migrate_disks)})
                self.compute_api.live_migrate(self.ctxt, self.source, self.id, uuid,
                                              dest['migration_uri'], migrate_disks,
                                              conductor=CONF.host,
                                              controls=self.migration.get('convergence'))
                self._job_started = True
            outcome = self._wait_for_job_end(waiter, wait)
        finally:
            self.waiters.release(self.id)
        if outcome is None:
            raise exceptions.MigrationFailed(
                reason=f'no end of the libvirt job after {wait:.0f}s')
        if not outcome['success']:
            if outcome.get('aborted'):
                # The agent aborted the job by policy (the completion timeout): the guest
                # still runs on the source; the migration ends cancelled.
                raise exceptions.MigrationAborted(reason=outcome['aborted'])
            raise exceptions.MigrationFailed(reason=outcome['error'])

        final = progress.progress_values(outcome.get('stats') or {})
        final['progress'] = 100.0
        final['eta_seconds'] = 0.0
        if final.get('memory_total'):
            final['memory_progress'] = 100.0
        if final.get('disk_total'):
            final['disk_progress'] = 100.0
        self.db.migration_update_progress(self.id, final)
        self._record_post_copy(outcome)
        self.transition(states.FINISHING, 'libvirt job completed' + _forced_note(outcome)
                        + (f" ({outcome['detail']})" if outcome.get('detail') else ''))
        self._finish()

    def on_abort(self, reason):
        with self._job_lock:
            if not self._job_started:
                return  # execute() stops at its next check_abort()
        # In a thread of its own, so the operator's request returns at once even when the
        # source's agent is slow to answer; the cancelled job's end reaches the task as usual.
        threading.Thread(target=self._abort_job, name=f'abort-{self.id}', daemon=True).start()

    def _wait_for_job_end(self, waiter, wait):
        """The job's outcome, as the source agent reports it; or, once the job has gone
        silent (no progress report for [conductor] job_poll_interval), as the hypervisors
        tell: the job no longer runs on the source, and the guest runs on exactly one of the
        two hosts. None after `wait` seconds without an end. An agent that does not answer
        the poll is asked again at the next interval, until `wait` runs out."""
        poll = CONF.conductor.job_poll_interval
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            outcome = waiter.wait(min(remaining, poll))
            if outcome is not None:
                return outcome
            if waiter.silent_for() < poll:
                continue
            outcome = self._job_outcome_from_hypervisors()
            if outcome is not None:
                # The report may still be on its way: take it when it came meanwhile.
                return waiter.outcome or outcome
            waiter.touch()   # asked now: ask again after another quiet interval

    def _job_outcome_from_hypervisors(self):
        uuid = self.instance['uuid']
        try:
            if self.compute_api.migration_job_active(self.ctxt, self.source, uuid):
                return None
        except Exception as exc:  # noqa: BLE001 - the agent is asked again next interval
            LOG.warning('Migration %s: no word from the job, and %s does not answer: %s',
                        self.id, self.source, exc)
            return None
        on_target, on_source = in_parallel(lambda: self._where(self.target),
                                           lambda: self._where(self.source))
        runs_on_target = bool(on_target and on_target['active'] and not on_target['incoming'])
        runs_on_source = bool(on_source and on_source['active'])
        note = 'the end of the libvirt job was not reported; the hypervisors say it ended'
        if runs_on_target and not runs_on_source:
            LOG.warning('Migration %s: %s with the guest on %s', self.id, note, self.target)
            return {'success': True, 'stats': {}, 'detail': note}
        if runs_on_source and not runs_on_target:
            LOG.warning('Migration %s: %s with the guest still on %s', self.id, note,
                        self.source)
            return {'success': False,
                    'error': f'{note} without moving the guest (it runs on {self.source})'}
        return None   # in between (or an agent did not answer): look again later

    def _job_wait(self):
        """Seconds to wait for the job's end: [conductor] migration_timeout, or longer when
        the migration's completion timeout is longer, so that the agent, which enforces that
        one, acts first."""
        settings = self.migration.get('convergence') or {}
        guest_bytes = (self.instance.get('memory_mb') or 0) * 2 ** 20
        completion = convergence.completion_timeout(
            settings.get('completion_timeout_per_gib'), guest_bytes)
        if completion is None:
            return CONF.conductor.migration_timeout
        return max(CONF.conductor.migration_timeout, completion + JOB_END_GRACE)

    def _record_post_copy(self, outcome):
        """The state may have moved to post_copy meanwhile (the conductor that got the agent's
        word); a job that ended in post-copy goes through post_copy even if that word was
        lost, so the history says what happened."""
        current = self.db.migration_get(self.id)['status']
        if current == states.POST_COPY:
            self.state = current
        elif outcome.get('post_copy'):
            self.transition(states.POST_COPY, 'switched to post-copy '
                                              f"({outcome.get('forced_by') or 'forced'})")

    def _abort_job(self):
        try:
            if not self.compute_api.abort_live_migration(self.ctxt, self.source, self.id,
                                                         self.instance['uuid']):
                LOG.info('Migration %s: the libvirt job had already ended when the abort '
                         'reached %s', self.id, self.source)
        except Exception:
            LOG.exception('Migration %s: %s could not cancel the libvirt job; the migration '
                          'goes on until the job ends', self.id, self.source)

    def _where(self, host):
        return self.domain_state(host, self.instance['uuid'])

    def _finish(self):
        on_target, on_source = in_parallel(lambda: self._where(self.target),
                                           lambda: self._where(self.source))
        runs_on_target = bool(on_target and on_target['active'] and not on_target['incoming'])
        gone_from_source = bool(on_source and not on_source['exists'])
        if runs_on_target and gone_from_source:
            self.transition(states.COMPLETED,
                            f'running on {self.target}{self.disks.remove_from_source()}')
            return
        detail = (f'after the job: on {self.target}: {on_target}; on {self.source}: '
                  f'{on_source}')
        self.transition(states.ERROR, detail, {'error': detail})

    def rollback(self, exc):
        if self.instance is None:
            return None
        if self.target is not None:
            state = self._where(self.target)
            if state and state['exists'] and (state['incoming'] or not state['active']):
                self.compute_api.cleanup_incoming(self.ctxt, self.target,
                                                  self.instance['uuid'])
        left_on_target = self.disks.remove_from_target() if self.disks else None
        on_source = self._where(self.source)
        if not (on_source and on_source['active']):
            return f'the instance does not run on the source {self.source} after the failure'
        return left_on_target


def _forced_note(outcome):
    if outcome.get('forced') == 'paused':
        return (f" after the guest was paused to finish it "
                f"({outcome.get('forced_by') or 'force-complete'})")
    if outcome.get('post_copy'):
        return ' in post-copy'
    return ''
