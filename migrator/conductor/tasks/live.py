"""Live migration: libvirt peer-to-peer, the guest keeps running throughout.

scheduling -> preparing (target chosen and checked, shared storage proven)
-> running (the job runs inside the source's libvirtd) -> finishing (the job ended; we look
at both hosts) -> completed only when the guest runs on the target and not on the source.
"""

import concurrent.futures
import os

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, states
from migrator.conductor import progress
from migrator.conductor.tasks import base

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


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
        self.transition(states.PREPARING, f'target {self.target} chosen',
                        {'target_host': self.target})

        uuid = self.instance['uuid']
        dest, migrate_disks = in_parallel(
            lambda: self.compute_api.check_can_live_migrate_destination(
                self.ctxt, self.target, uuid, self.instance['memory_mb']),
            self._disks_to_copy)

        waiter = self.waiters.register(self.id)
        try:
            self.transition(states.RUNNING, 'libvirt migration job started',
                            {'block_migration': bool(migrate_disks)})
            self.compute_api.live_migrate(self.ctxt, self.source, self.id, uuid,
                                          dest['migration_uri'], migrate_disks,
                                          conductor=CONF.host)
            outcome = waiter.wait(CONF.conductor.migration_timeout)
        finally:
            self.waiters.release(self.id)
        if outcome is None:
            raise exceptions.MigrationFailed(
                reason=f'no end of the libvirt job after {CONF.conductor.migration_timeout}s')
        if not outcome['success']:
            raise exceptions.MigrationFailed(reason=outcome['error'])

        final = progress.progress_values(outcome.get('stats') or {})
        final['progress'] = 100.0
        final['eta_seconds'] = 0.0
        self.db.migration_update_progress(self.id, final)
        self.transition(states.FINISHING, 'libvirt job completed')
        self._finish()

    def _disks_to_copy(self):
        """Targets of the disks that are not on storage shared with the target host.

        Shared-ness is proven, never assumed from a path: the target writes a probe file
        into the disk's directory and the source must see it.
        """
        disks = self.compute_api.get_disks(self.ctxt, self.source, self.instance['uuid'])
        unshared = []
        for directory in sorted({os.path.dirname(d['path']) for d in disks}):
            if not self._is_shared(directory):
                unshared.extend(d['target'] for d in disks
                                if os.path.dirname(d['path']) == directory)
        if unshared:
            raise exceptions.MigrationFailed(
                reason=f"disks {', '.join(unshared)} of {self.instance['name']} are not on "
                       f"storage shared between {self.source} and {self.target}; this "
                       f"release live-migrates shared-storage guests only")
        return None

    def _is_shared(self, directory):
        name = self.compute_api.create_shared_probe(self.ctxt, self.target, directory)
        try:
            return self.compute_api.check_shared_probe(self.ctxt, self.source, directory, name)
        finally:
            self.compute_api.remove_shared_probe(self.ctxt, self.target, directory, name)

    def _where(self, host):
        try:
            return self.compute_api.get_domain_state(self.ctxt, host, self.instance['uuid'])
        except exceptions.MigratorException as exc:
            LOG.warning('Migration %s: cannot ask %s about the instance: %s', self.id, host, exc)
            return None

    def _finish(self):
        on_target, on_source = in_parallel(lambda: self._where(self.target),
                                           lambda: self._where(self.source))
        runs_on_target = bool(on_target and on_target['active'] and not on_target['incoming'])
        gone_from_source = bool(on_source and not on_source['exists'])
        if runs_on_target and gone_from_source:
            self.transition(states.COMPLETED, f'running on {self.target}')
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
        on_source = self._where(self.source)
        if not (on_source and on_source['active']):
            return f'the instance does not run on the source {self.source} after the failure'
        return None
