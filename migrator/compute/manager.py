"""The compute agent: one per hypervisor host, reached over the bus, no DB access.

It reports its host's inventory and domains (the heartbeat) on a timer and at once when a
domain changes state, runs the host-local steps of migrations through the virt driver, and
passes a running job's progress and end to the conductor that drives it.

Progress, job ends and host-down reports leave through the outbox (outbox.py), so no thread
that watches libvirt waits on the bus. On start the driver re-attaches to the migration jobs
an earlier agent process left running (their ends reach the conductor as usual). While the
driver has lost its hypervisor (libvirtd restarting) the agent reports its host down and
sends no heartbeats; it reports again as soon as the connection is back.
"""

import collections
import datetime
import functools
import threading

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import context as migrator_context
from migrator.common import exceptions, failpoints, metrics, version
from migrator.compute import outbox
from migrator.conductor import rpcapi as conductor_rpcapi

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def _translate_errors(func):
    """Hypervisor errors leave the agent as HypervisorError, which the caller can re-raise;
    anything else would reach it as an opaque RemoteError."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        try:
            return func(self, *args, **kwargs)
        except exceptions.MigratorException:
            raise
        except Exception as exc:
            LOG.exception('%s failed on %s', func.__name__, self.host)
            raise exceptions.HypervisorError(host=self.host, reason=str(exc)) from exc
    return wrapper


# How many ended jobs' outcomes an agent keeps for a conductor whose copy of the end was lost.
ENDED_JOBS_KEPT = 512


class ComputeManager:
    target = messaging.Target(version='1.10')

    def __init__(self, host, driver, conductor_api=None):
        self.host = host
        self.driver = driver
        self.driver.on_domain_event = self._on_domain_event
        self.driver.job_callbacks = self._job_callbacks
        self.driver.hypervisor_lost = self._hypervisor_lost
        self.driver.hypervisor_restored = self._hypervisor_restored
        self.conductor_api = conductor_api or conductor_rpcapi.ConductorAPI()
        self.outbox = outbox.Outbox(host)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._reporter = None
        # migration id -> the outcome its job ended with, newest last (disk_copy_state).
        self._ended_jobs = collections.OrderedDict()
        self._ended_lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------------

    def start(self):
        self.outbox.start()
        self.driver.init_host(self.host)
        self._report()
        self._reporter = threading.Thread(target=self._report_loop, name=f'report-{self.host}',
                                          daemon=True)
        self._reporter.start()

    def stop(self):
        self._stopping.set()
        self._wake.set()
        if self._reporter is not None:
            self._reporter.join(timeout=10)
        self.driver.cleanup_host()
        self.outbox.stop()

    def _on_domain_event(self, uuid, event, detail):
        self._wake.set()

    def _report_loop(self):
        while not self._stopping.is_set():
            self._wake.wait(CONF.compute.report_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            if not self.driver.is_connected():
                continue    # reported down; the reconnection wakes us
            try:
                self._report()
            except Exception:
                LOG.exception('Inventory report of %s failed; retrying next interval',
                              self.host)

    def _hypervisor_lost(self, reason):
        """libvirtd went away: the host cannot take or run migrations until it is back."""
        reported_at = datetime.datetime.now(datetime.UTC).isoformat()
        ctxt = migrator_context.get_admin_context()
        self.outbox.put(
            lambda: self.conductor_api.report_host_down(ctxt, self.host,
                                                        f'libvirtd unreachable: {reason}',
                                                        reported_at),
            f'the host-down report of {self.host}', key='host-down')

    def _hypervisor_restored(self):
        self._wake.set()

    def _job_callbacks(self, migration_id, conductor, ctxt=None, report=True):
        """(on_progress, on_done) of a migration job: casts to the conductor that drives it,
        through the outbox. report: the end wakes a report of this host (a live job's end
        moves a domain; a disk copy's does not, and the conductor starts the guest here the
        moment it hears of it: a report then would run against this daemon beside it)."""
        ctxt = ctxt or migrator_context.get_admin_context()

        def on_progress(stats):
            self.outbox.put(
                lambda: self.conductor_api.migration_progress(ctxt, conductor, migration_id,
                                                              stats),
                f'a progress sample of migration {migration_id}',
                key=('progress', migration_id))

        def on_done(outcome):
            self._remember_end(migration_id, outcome)
            if failpoints.hit('compute.job_done'):     # the fault suite loses it
                self._wake.set()
                return
            self.outbox.put(
                lambda: self.conductor_api.migration_job_done(ctxt, conductor, migration_id,
                                                              outcome),
                f'the job end of migration {migration_id}', must_deliver=True)
            if report:
                self._wake.set()

        return on_progress, on_done

    def _remember_end(self, migration_id, outcome):
        """The end as it was cast: the conductor asks for it when the cast was lost (a
        broker restart drops what is sent to a queue not declared again yet)."""
        with self._ended_lock:
            self._ended_jobs[migration_id] = outcome
            self._ended_jobs.move_to_end(migration_id)
            while len(self._ended_jobs) > ENDED_JOBS_KEPT:
                self._ended_jobs.popitem(last=False)

    def _report(self):
        reported_at = datetime.datetime.now(datetime.UTC).isoformat()
        inventory = self.driver.get_inventory()
        domains = self.driver.list_domains()
        inventory['memory_mb_used'] = sum(d['memory_mb'] for d in domains if d['active'])
        inventory['vcpus_used'] = sum(d['vcpus'] for d in domains if d['active'])
        inventory['reserved_memory_mb'] = CONF.compute.reserved_host_memory_mb
        inventory['agent_version'] = version.version_string()
        self.conductor_api.report_host(migrator_context.get_admin_context(), self.host,
                                       inventory, domains, reported_at)
        metrics.AGENT_LAST_REPORT.labels(self.host).set_to_current_time()

    # -- RPC endpoints ----------------------------------------------------------------------

    def report_now(self, ctxt):
        self._wake.set()

    @_translate_errors
    def audit_domains(self, ctxt, job_uuids):  # 1.6
        """Every domain of this host as libvirt describes it now, and for each of
        job_uuids whether a migration job of that domain runs here (for the audit)."""
        return {'domains': self.driver.list_domains(),
                'jobs': {uuid: bool(self.driver.migration_job_active(uuid))
                         for uuid in job_uuids}}

    @_translate_errors
    def get_domain_state(self, ctxt, instance_uuid):
        return self.driver.get_domain_state(instance_uuid)

    @_translate_errors
    def peer_domain_state(self, ctxt, instance_uuid, peer_uri):
        """1.5: the instance as the libvirt daemon of another host (peer_uri) describes it,
        read by this agent itself: a restarted conductor asks the source this before it has
        the source's copy removed, so that no other host's agent alone decides that."""
        return self.driver.peer_domain_state(instance_uuid, peer_uri)

    @_translate_errors
    def measure_dirty_rate(self, ctxt, instance_uuid, seconds):  # 1.8
        """How fast the running instance dirties its memory, measured by its hypervisor
        over `seconds` without migrating it (the forecast of a dry run asks this)."""
        return self.driver.measure_dirty_rate(instance_uuid, seconds)

    @_translate_errors
    def get_disks(self, ctxt, instance_uuid):
        return self.driver.get_disks(instance_uuid)

    @_translate_errors
    def check_can_live_migrate_destination(self, ctxt, instance_uuid, memory_mb):
        state = self.driver.get_domain_state(instance_uuid)
        if state['exists'] and state['active'] and not state['incoming']:
            raise exceptions.Conflict(
                f'instance {instance_uuid} already runs on {self.host}')
        return {'migration_uri': self.driver.migration_uri}

    @_translate_errors
    def create_shared_probe(self, ctxt, directory):
        return self.driver.create_shared_probe(directory)

    @_translate_errors
    def check_shared_probe(self, ctxt, directory, name):
        return self.driver.check_shared_probe(directory, name)

    @_translate_errors
    def remove_shared_probe(self, ctxt, directory, name):
        return self.driver.remove_shared_probe(directory, name)

    @_translate_errors
    def live_migrate(self, ctxt, migration_id, instance_uuid, dest_uri, migrate_disks,
                     conductor, controls=None):
        on_progress, on_done = self._job_callbacks(migration_id, conductor, ctxt)
        LOG.info('Starting live migration %s of %s to %s', migration_id, instance_uuid,
                 dest_uri)
        self.driver.live_migrate(instance_uuid, dest_uri, migrate_disks, on_progress, on_done,
                                 controls=controls,
                                 job_id={'migration_id': migration_id, 'conductor': conductor})

    @_translate_errors
    def live_migration_force_complete(self, ctxt, instance_uuid):
        LOG.info('Forcing the live migration of %s to complete', instance_uuid)
        return self.driver.live_migration_force_complete(instance_uuid)

    @_translate_errors
    def create_migration_disks(self, ctxt, instance_uuid, specs):
        LOG.info('Creating disks %s for the incoming block migration of %s',
                 [s['path'] for s in specs], instance_uuid)
        return self.driver.create_migration_disks(specs)

    @_translate_errors
    def remove_unused_disks(self, ctxt, instance_uuid, paths):
        result = self.driver.remove_unused_disks(paths)
        LOG.info('Disks of %s: removed %s, kept (in use) %s', instance_uuid,
                 result['removed'], result['kept'])
        return result

    @_translate_errors
    def abort_live_migration(self, ctxt, migration_id, instance_uuid):
        """Cancels the outgoing libvirt job of the instance; the job's end (unsuccessful)
        reaches the conductor as usual. False when no job was running any more."""
        LOG.info('Aborting live migration %s of %s', migration_id, instance_uuid)
        return self.driver.abort_live_migration(instance_uuid)

    @_translate_errors
    def migration_job_active(self, ctxt, instance_uuid):
        return self.driver.migration_job_active(instance_uuid)

    @_translate_errors
    def cleanup_incoming(self, ctxt, instance_uuid):
        self.driver.cleanup_incoming(instance_uuid)
        self._wake.set()

    # -- cold migration ---------------------------------------------------------------------

    @_translate_errors
    def get_domain_xml(self, ctxt, instance_uuid):
        return self.driver.get_domain_xml(instance_uuid)

    @_translate_errors
    def power_off_instance(self, ctxt, instance_uuid, timeout):
        try:
            return self.driver.power_off(instance_uuid, timeout)
        finally:
            self._wake.set()

    @_translate_errors
    def start_instance(self, ctxt, instance_uuid):
        try:
            self.driver.start_domain(instance_uuid)
        finally:
            self._wake.set()

    @_translate_errors
    def prepare_cold_destination(self, ctxt, instance_uuid, paths):
        return self.driver.prepare_cold_destination(instance_uuid, paths)

    @_translate_errors
    def cold_destination_paths(self, ctxt, instance_uuid, paths):
        return self.driver.cold_destination_paths(instance_uuid, paths)

    @_translate_errors
    def export_disks(self, ctxt, migration_id, paths, psk, encrypt):  # 1.10
        """The source's half of an nbd disk copy: the disks exported read-only for the
        target to pull (None: this host copies by libvirt stream)."""
        return self.driver.export_disks(migration_id, paths, psk, encrypt)

    @_translate_errors
    def stop_disk_exports(self, ctxt, migration_id):  # 1.10
        stopped = self.driver.stop_disk_exports(migration_id)
        if stopped:
            LOG.info('Stopped %d disk export(s) of migration %s', stopped, migration_id)
        return stopped

    @_translate_errors
    def copy_disks(self, ctxt, migration_id, source_uri, disks, bandwidth, conductor,
                   exports=None, psk=None):
        """bandwidth: bytes/s the request allows (None: any); this host's
        [compute] disk_copy_bandwidth caps it too. exports, psk (1.10): pull from the
        source's nbd exports (export_disks) instead of through its libvirt daemon."""
        own = CONF.compute.disk_copy_bandwidth * 1024 * 1024 or None
        bandwidth = min(b for b in (bandwidth, own) if b) if (bandwidth or own) else None
        on_progress, on_done = self._job_callbacks(migration_id, conductor, ctxt,
                                                   report=False)
        LOG.info('Copying %d disk(s) of migration %s from %s (%s)', len(disks), migration_id,
                 source_uri, 'stream' if exports is None else
                 f"nbd{' with TLS-PSK' if exports.get('tls') else ''}")
        return self.driver.copy_disks(migration_id, source_uri, disks, on_progress, on_done,
                                      bandwidth, exports=exports, psk=psk)

    @_translate_errors
    def disk_copy_active(self, ctxt, migration_id):
        """A copy lives in this process only: after a restart of the agent it is gone (its
        half-made volumes stay until the conductor's rollback removes them)."""
        return self.driver.disk_copy_active(migration_id)

    @_translate_errors
    def disk_copy_state(self, ctxt, migration_id):
        """Whether the copy still runs here, and the outcome it ended with when this process
        saw it end (None after an agent restart: the copy was lost with the process)."""
        with self._ended_lock:
            outcome = self._ended_jobs.get(migration_id)
        return {'active': self.driver.disk_copy_active(migration_id), 'outcome': outcome}

    @_translate_errors
    def abort_disk_copy(self, ctxt, migration_id):
        return self.driver.abort_disk_copy(migration_id)

    @_translate_errors
    def define_instance(self, ctxt, xml, disk_paths, start):
        try:
            return self.driver.define_domain(xml, disk_paths, start)
        finally:
            self._wake.set()

    @_translate_errors
    def remove_migrated_copy(self, ctxt, migration_id, instance_uuid, volumes):
        try:
            self.driver.remove_migrated_copy(migration_id, instance_uuid, volumes)
        finally:
            self._wake.set()

    @_translate_errors
    def remove_source_copy(self, ctxt, instance_uuid, volumes):
        try:
            self.driver.remove_source_copy(instance_uuid, volumes)
        finally:
            self._wake.set()
