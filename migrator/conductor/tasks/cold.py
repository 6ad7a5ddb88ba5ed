"""Cold migration: the guest is shut down, its local disks copied, and it starts on the target.

scheduling -> preparing (target chosen; which disks are shared is proven by probe files;
the target checks it can take the copies) -> stopping (ACPI shutdown, forced off after
[conductor] shutdown_timeout) -> copying (the target agent pulls the unshared disks from
the source daemon through sparse storage-volume streams, reporting progress) -> starting
(defined on the target with the disk paths moved to the copies, started if it ran before)
-> finishing (only now: the source's definition and copied disks are removed) -> completed.

Until the guest runs on the target, any failure or abort undoes everything: the target's
copy (job, definition, volumes) is removed and the guest started again on the source if it
ran before. Once it runs on the target (finishing), there is no way back: a failure to
clean the source ends the migration in `error` with the guest running on the target.
"""

import threading
import time

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, states
from migrator.conductor import disk_exports, progress, shared_storage, source_check
from migrator.conductor.tasks import base

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


# The stopping event's detail for a guest that did not run; a restarted conductor reads it
# to know whether to start the guest again on the source (recovery.py).
ALREADY_SHUT_OFF = 'already shut off'

# How long a copy the target says is no longer running may take to deliver its end.
COPY_END_GRACE = 5.0


class ColdMigrationTask(base.MigrationTask):
    def __init__(self, ctxt, db, compute_api, migration, waiters, scheduler):
        super().__init__(ctxt, db, compute_api, migration)
        self.waiters = waiters
        self.scheduler = scheduler
        self.instance = None
        self.source = migration['source_host']
        self.target = None
        self.was_running = None       # None until we looked
        self.stop_detail = 'it was shut off'
        self.copies = {}              # source path -> path of its copy on the target
        self.volumes = []             # target paths the copy created (rollback deletes them)
        self.copy_started = False
        self.exports_started = False  # the source may run exports (rollback stops them)
        self.copied_by = None         # how the disks came: for the starting event's detail
        self.defined_on_target = False
        self._copy_lock = threading.Lock()

    @property
    def uuid(self):
        return self.instance['uuid']

    def execute(self):
        self.instance = self.db.instance_get(self.migration['instance_uuid'])
        self.source = self.instance['host']
        try:
            self.target = self.scheduler.select_destination(
                self.instance, 'cold', self.migration['requested_target'], self.id)
        except exceptions.NoValidHost as exc:
            if not getattr(exc, 'transient', False):
                raise
            # Only full inbound slots stand in the way: wait in the queue for one.
            self.transition(states.QUEUED, f'waiting for a slot: {exc}')
            return
        self.check_abort()
        self.transition(states.PREPARING, f'target {self.target} chosen',
                        {'target_host': self.target})
        unshared, disk_count = self._prepare()
        # Taken before the stop: the persistent definition does not change with it, and a
        # guest that cannot be defined elsewhere is refused while it still runs.
        xml = self.compute_api.get_domain_xml(self.ctxt, self.source, self.uuid)

        self.check_abort()
        self._stop()

        self.check_abort()
        self.transition(states.COPYING, f'{self.stop_detail}; {len(unshared)} disk(s) to '
                                        f'copy, {disk_count - len(unshared)} on shared storage',
                        {'block_migration': bool(unshared)})
        if unshared:
            self._copy(unshared)    # its last progress write says 100 %
        else:
            self.db.migration_update_progress(self.id, {'progress': 100.0,
                                                        'eta_seconds': 0.0})

        self.check_abort()
        self._start_on_target(xml)
        # Off the critical path: each qemu-nbd exits by itself once its client is done;
        # this removes its record and the key (and stops one that lingers).
        self._stop_exports()

        self.check_abort()
        self.transition(states.FINISHING, f'running on {self.target}'
                        if self.was_running else f'defined on {self.target}')
        self._finish()

    # -- steps ------------------------------------------------------------------------------

    def _prepare(self):
        disks = self.compute_api.get_disks(self.ctxt, self.source, self.uuid)
        unshared = shared_storage.unshared_disks(self.ctxt, self.compute_api, self.source,
                                                 self.target, self.uuid, disks)
        shared = [d for d in disks if d not in unshared]
        self.copies = self.compute_api.prepare_cold_destination(
            self.ctxt, self.target, self.uuid, [d['path'] for d in unshared])
        if unshared and not self._source_uri():
            raise exceptions.MigrationFailed(
                reason=f'{self.source} has not reported its hypervisor URI, which the target '
                       f'needs to copy the disks; is its agent running?')
        LOG.info('Migration %s: disks to copy %s, shared %s', self.id,
                 [d['path'] for d in unshared], [d['path'] for d in shared])
        return unshared, len(disks)

    def _source_uri(self):
        return self.db.host_get(self.source).get('hypervisor_uri')

    def _stop(self):
        state = self.compute_api.get_domain_state(self.ctxt, self.source, self.uuid)
        if not state['exists']:
            raise exceptions.MigrationFailed(
                reason=f"{self.instance['name']} is not defined on {self.source}")
        self.was_running = bool(state['active'])
        timeout = CONF.conductor.shutdown_timeout
        self.transition(states.STOPPING,
                        f'shutting down (forced after {timeout}s)' if self.was_running
                        else ALREADY_SHUT_OFF)
        if not self.was_running:
            return
        result = self.compute_api.power_off_instance(self.ctxt, self.source, self.uuid,
                                                     timeout)
        self.stop_detail = ('forced off: no shutdown within the timeout' if result['forced']
                            else 'shut down by the guest')
        LOG.info('Migration %s: %s %s', self.id, self.instance['name'], self.stop_detail)

    def _copy(self, unshared):
        disks = [{'path': d['path'], 'target_path': self.copies[d['path']]} for d in unshared]
        waiter = self.waiters.register(self.id)
        try:
            exports, key = self._export(disks)
            self.check_abort()
            with self._copy_lock:
                self.copy_started = True
            try:
                self.volumes = self.compute_api.copy_disks(
                    self.ctxt, self.target, self.id, self._source_uri(), disks, None,
                    CONF.host, exports=exports, psk=key)
            except messaging.MessagingTimeout:
                # The answer was lost, not necessarily the work: the rollback must look
                # for every copy the target may have made.
                self.volumes = [d['target_path'] for d in disks]
                raise
            if self.abort_requested.is_set():
                # The abort came while the copy was being set up; stop it now.
                self._abort_copy()
            outcome = self._wait_for_copy(waiter)
        finally:
            self.waiters.release(self.id)
        # A failed copy's exports are stopped by the rollback; a successful one's once the
        # guest runs on the target.
        if outcome is None:
            raise exceptions.MigrationFailed(
                reason=f'the disk copy did not end within {CONF.conductor.migration_timeout}s')
        if not outcome['success']:
            raise exceptions.MigrationFailed(reason=outcome['error'])
        self.copied_by = ('libvirt stream' if exports is None else
                          'nbd with TLS-PSK' if exports['tls'] else 'nbd, unencrypted')
        final = progress.progress_values(outcome.get('stats') or {})
        final['progress'] = 100.0
        final['eta_seconds'] = 0.0
        self.db.migration_update_progress(self.id, final)

    def _stop_exports(self):
        if self.exports_started:
            disk_exports.stop_exports(self.ctxt, self.compute_api, self.source, self.id)
            self.exports_started = False
            self.exports_started = False

    def _export(self, disks):
        """(exports, key) for the nbd copy: the source's exports of the disks, or (None,
        None) when the copy goes by libvirt stream (the source's [compute]
        disk_copy_method, or an agent before compute RPC 1.10)."""
        key = disk_exports.new_key()
        encrypt = disk_exports.encrypt(self._source_uri(),
                                       self.db.host_get(self.target).get('hypervisor_uri'))
        self.exports_started = True
        try:
            exports = self.compute_api.export_disks(
                self.ctxt, self.source, self.id, [d['path'] for d in disks], key, encrypt)
        except exceptions.ServiceTooOld:
            exports = None      # nothing was sent: [upgrade_levels] compute < 1.10
        if exports is None:
            self.exports_started = False
            return None, None
        LOG.info('Migration %s: %s exports the disks on %s (%s)', self.id, self.source,
                 exports['address'], 'TLS-PSK' if exports['tls'] else 'unencrypted')
        return exports, key

    def _wait_for_copy(self, waiter):
        """The copy's outcome (None after [conductor] migration_timeout). The copy runs in
        the target agent's process: an agent that restarted lost it without a word, so the
        agent is asked every [conductor] disk_copy_check_interval seconds whether it still
        runs. An end the agent saw but whose cast was lost (a broker restart) is taken from
        the agent; when the copy does not run and the agent saw no end, the copy failed (the
        rollback removes its volumes). An agent that does not answer is asked again: it may
        be restarting."""
        deadline = time.monotonic() + CONF.conductor.migration_timeout
        interval = CONF.conductor.disk_copy_check_interval
        while True:
            left = deadline - time.monotonic()
            outcome = waiter.wait(max(0.0, min(interval, left)))
            if outcome is not None or left <= interval:
                return outcome
            try:
                state = self._copy_state()
            except Exception as exc:
                LOG.info('Migration %s: cannot ask %s about its disk copy (%s); asking again',
                         self.id, self.target, exc)
                continue
            if state['outcome'] is not None:
                # It ended, and its end was lost on the way (or is still on it).
                LOG.info('Migration %s: the disk copy ended on %s without its end reaching '
                         'this conductor; taking the end from the agent', self.id,
                         self.target)
                return waiter.outcome or state['outcome']
            if state['active']:
                continue
            # It ended just now and its end is on its way, or it is gone for good.
            outcome = waiter.wait(min(interval, COPY_END_GRACE))
            if outcome is not None:
                return outcome
            return {'success': False, 'stats': {},
                    'error': f'the disk copy stopped on {self.target} without reporting its '
                             f'end (its agent restarted)'}

    def _copy_state(self):
        """The target agent's word on the copy: {'active', 'outcome'}. An agent older than
        compute RPC 1.9 only says whether it runs."""
        try:
            return self.compute_api.disk_copy_state(self.ctxt, self.target, self.id)
        except exceptions.ServiceTooOld:
            return {'active': self.compute_api.disk_copy_active(self.ctxt, self.target,
                                                                self.id),
                    'outcome': None}

    def _start_on_target(self, xml):
        copied = f'disks copied by {self.copied_by}; ' if self.copied_by else ''
        self.transition(states.STARTING, f'{copied}defining on {self.target}'
                        + (' and starting' if self.was_running else ''))
        self.defined_on_target = True
        self.compute_api.define_instance(self.ctxt, self.target, xml, self.copies,
                                         self.was_running)
        state = self.compute_api.get_domain_state(self.ctxt, self.target, self.uuid)
        if not state['exists'] or (self.was_running and not state['active']):
            raise exceptions.MigrationFailed(
                reason=f'{self.instance["name"]} does not run on {self.target} after the '
                       f'start: {state}')

    def _finish(self):
        # No way back from here: the guest lives on the target, if the source can see it
        # there through the target's libvirt daemon (not only the target agent's word).
        moved = {'id': self.id, 'source_host': self.source, 'target_host': self.target,
                 'instance_uuid': self.uuid}
        if source_check.confirmed_on_target(self.ctxt, self.db, self.compute_api, moved,
                                            self.was_running) is None:
            detail = (f'{self.target}\'s agent says {self.instance["name"]} is there, but '
                      f'{self.source} could not confirm it through {self.target}\'s libvirt '
                      f'daemon: nothing was removed from {self.source}; check where it runs')
            self.transition(states.ERROR, detail, {'error': detail})
            return
        try:
            self.compute_api.remove_source_copy(self.ctxt, self.source, self.uuid,
                                                list(self.copies))
        except Exception as exc:
            detail = (f'{self.instance["name"]} runs on {self.target}, but removing its '
                      f'definition and disks from {self.source} failed: {exc}')
            self.transition(states.ERROR, detail, {'error': detail})
            return
        self.transition(states.COMPLETED,
                        f'{"running" if self.was_running else "defined"} on {self.target}; '
                        f'removed from {self.source}')

    # -- abort and rollback -----------------------------------------------------------------

    def on_abort(self, reason):
        with self._copy_lock:
            started = self.copy_started
        if started:
            self._abort_copy()

    def _abort_copy(self):
        try:
            self.compute_api.abort_disk_copy(self.ctxt, self.target, self.id)
        except Exception:
            LOG.exception('Migration %s: could not ask %s to stop the disk copy', self.id,
                          self.target)

    def rollback(self, exc):
        if self.instance is None:
            return None
        self._stop_exports()
        if self.target is not None and (self.copy_started or self.defined_on_target):
            try:
                self.compute_api.remove_migrated_copy(self.ctxt, self.target, self.id,
                                                      self.uuid, self.volumes)
            except Exception as cleanup_exc:
                # The target may still hold (or run) the guest: starting it on the source
                # now could run it twice. An operator must look.
                LOG.exception('Migration %s: cleaning %s failed', self.id, self.target)
                return (f'cleaning the target {self.target} failed ({cleanup_exc}); the '
                        f'instance was not started again on the source')
        if self.was_running:
            on_source = self._where(self.source)
            if on_source and on_source['exists'] and not on_source['active']:
                try:
                    self.compute_api.start_instance(self.ctxt, self.source, self.uuid)
                except Exception as start_exc:
                    return f'starting it again on {self.source} failed: {start_exc}'
        on_source = self._where(self.source)
        if not (on_source and on_source['exists']):
            return f'the instance is not defined on the source {self.source} any more'
        if self.was_running and not on_source['active']:
            return f'the instance does not run on the source {self.source} after the failure'
        return None

    def _where(self, host):
        return self.domain_state(host, self.uuid)
