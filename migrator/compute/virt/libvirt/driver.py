"""The libvirt driver: the agent's only way to a hypervisor.

Its connection reopens itself after a libvirtd restart (connection.py); each time it opens,
the event callbacks are registered again and the migration jobs are picked up again: the
ones this process was watching (rebind) and the ones an earlier agent process started
(attach, from the job record in the domain's metadata; see job_record.py).
"""

import threading
from xml.etree import ElementTree

import libvirt
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions
from migrator.compute.virt import driver
from migrator.compute.virt.libvirt import (
    cold,
    connection,
    dirty_rate,
    events,
    job_record,
    migration,
    nbd_export,
    remote,
    storage,
)

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

_POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: 'nostate',
    libvirt.VIR_DOMAIN_RUNNING: 'running',
    libvirt.VIR_DOMAIN_BLOCKED: 'running',
    libvirt.VIR_DOMAIN_PAUSED: 'paused',
    libvirt.VIR_DOMAIN_SHUTDOWN: 'shutdown',
    libvirt.VIR_DOMAIN_SHUTOFF: 'shutoff',
    libvirt.VIR_DOMAIN_CRASHED: 'crashed',
    libvirt.VIR_DOMAIN_PMSUSPENDED: 'suspended',
}

# A domain paused for one of these reasons is the receiving end of a migration, not a guest
# that runs here yet.
_INCOMING_PAUSE_REASONS = {libvirt.VIR_DOMAIN_PAUSED_MIGRATION,
                           libvirt.VIR_DOMAIN_PAUSED_POSTCOPY}


class LibvirtDriver(cold.ColdMigrationMixin, driver.ComputeDriver):
    def __init__(self, uri=None, virt_type=None, migration_uri=None, on_domain_event=None,
                 remote_tls_pki_path=None, tool_wrapper=None):
        self.uri = uri or CONF.libvirt.connection_uri
        self.virt_type = virt_type or CONF.libvirt.virt_type
        self._migration_uri = migration_uri or CONF.libvirt.migration_uri
        self.remote_tls_pki_path = remote_tls_pki_path or CONF.libvirt.remote_tls_pki_path
        # Before qemu-nbd and qemu-img of the nbd disk copy (qemu_tools).
        self.tool_wrapper = tool_wrapper or CONF.compute.disk_tool_wrapper
        self.on_domain_event = on_domain_event
        # Hooks the agent sets: job_callbacks(migration_id, conductor) -> (on_progress,
        # on_done) for a job found running at start; hypervisor_lost(reason) and
        # hypervisor_restored() around a libvirtd restart.
        self.job_callbacks = None
        self.hypervisor_lost = None
        self.hypervisor_restored = None
        self._connection = None
        self.host = None
        self._jobs = {}
        self._jobs_lock = threading.Lock()
        self._copies = {}           # migration id -> DiskCopyJob (this host is the target)
        self._stop_waiters = {}     # uuid -> Event set when the domain stops
        self._callback_ids = []
        self._cpu_models = None

    # -- connection -------------------------------------------------------------------------

    def init_host(self, host):
        self.host = host
        # A bad disk copy option stops the agent with its reason, not the first migration.
        nbd_export.check_config()
        events.start_event_loop()
        self._connection = connection.HypervisorConnection(
            self.uri, host, self._connection_opened, on_lost=self._connection_lost,
            on_restored=self._connection_restored)
        self._connection.open()
        LOG.info('Connected to %s as host %s', self.uri, host)
        self._init_disk_copy()

    def cleanup_host(self):
        if self._connection is not None:
            self._connection.close()

    @property
    def conn(self):
        """The open connection; waits a while ([libvirt] reconnect_wait) for it while
        libvirtd is away, then HypervisorError."""
        if self._connection is None:
            raise exceptions.HypervisorError(host=self.host, reason='not connected')
        return self._connection.get()

    def is_connected(self):
        return self._connection is not None and self._connection.connected

    def _connection_opened(self, conn):
        """A new connection (the first, or after libvirtd came back): events, then jobs."""
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                    self._lifecycle_event, None)
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                    self._job_completed_event, None)
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
                                    self._migration_iteration_event, None)
        with self._jobs_lock:
            watched = dict(self._jobs)
        for uuid, job in watched.items():
            try:
                dom = conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
                dom = None
            job.rebind(dom)
        self._attach_jobs(conn, skip=set(watched))

    def _connection_lost(self, reason):
        if self.hypervisor_lost is not None:
            self.hypervisor_lost(reason)

    def _connection_restored(self):
        if self.hypervisor_restored is not None:
            self.hypervisor_restored()

    def _attach_jobs(self, conn, skip=()):
        """Takes over the outgoing migration jobs of this host's domains that an earlier
        agent process started (their record is in the domain); reports the end of those that
        ended while no agent watched, with the guest still here."""
        if self.job_callbacks is None:
            return
        for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            try:
                self._attach_job(dom, skip)
            except Exception:
                # One domain that cannot be looked at must not keep the agent from starting.
                LOG.exception('Looking for a migration job of a domain failed; going on')

    def _attach_job(self, dom, skip):
        try:
            uuid = dom.UUIDString()
            if uuid in skip:
                return
            record = job_record.read(dom)
            if record is None or record.get('source_host') != self.host:
                return
            raw = dom.jobStats(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return
            raise
        on_progress, on_done = self.job_callbacks(record['migration_id'],
                                                  record.get('conductor'))
        running = raw.get('type', libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE
        outgoing = raw.get('operation') in (None, libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
        if running and outgoing and job_record.describes_job(record, raw.get('time_elapsed')):
            self._attach(dom, record, raw, on_progress, on_done)
        elif not running:
            LOG.warning('Migration %s of %s ended while no agent watched it; the guest is '
                        'still here', record['migration_id'], uuid)
            job_record.clear(dom)
            on_done({'success': False, 'stats': {}, 'post_copy': False, 'forced': None,
                     'forced_by': None, 'aborted': None,
                     'error': 'the libvirt job ended while the agent was not running; the '
                              'guest stayed on the source'})

    def _attach(self, dom, record, raw, on_progress, on_done):
        uuid = dom.UUIDString()

        def done(outcome):
            with self._jobs_lock:
                self._jobs.pop(uuid, None)
            on_done(outcome)

        with self._jobs_lock:
            if uuid in self._jobs:
                return
            job = migration.LiveMigrationJob.attach(dom, record, raw, on_progress, done,
                                                    CONF.compute.progress_interval)
            self._jobs[uuid] = job

    @property
    def migration_uri(self):
        if self._migration_uri:
            return self._migration_uri
        return remote.migration_uri(self.uri, self.host, CONF.libvirt.remote_transport)

    def peer_uri(self, uri, peer=None):
        """The URI to reach another host's daemon with (see remote.peer_uri)."""
        return remote.peer_uri(uri, CONF.libvirt.remote_transport, self.remote_tls_pki_path,
                               peer)

    # -- events -----------------------------------------------------------------------------

    # Called in the event-loop thread: handed to the dispatch thread at once (events.py).

    def _lifecycle_event(self, conn, dom, event, detail, opaque):
        events.dispatch(self._handle_lifecycle, dom.UUIDString(), event, detail)

    def _job_completed_event(self, conn, dom, params, opaque):
        events.dispatch(self._handle_job_completed, dom.UUIDString(), params)

    def _migration_iteration_event(self, conn, dom, iteration, opaque):
        events.dispatch(self._handle_migration_iteration, dom.UUIDString(), iteration)

    def _handle_lifecycle(self, uuid, event, detail):
        if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
            self._domain_stopped(uuid)
        if self.on_domain_event is not None:
            self.on_domain_event(uuid, event, detail)

    def _handle_job_completed(self, uuid, params):
        with self._jobs_lock:
            job = self._jobs.get(uuid)
        if job is not None:
            job.job_completed(params)

    def _handle_migration_iteration(self, uuid, iteration):
        with self._jobs_lock:
            job = self._jobs.get(uuid)
        if job is not None:
            job.iteration_started(iteration)

    # -- inventory --------------------------------------------------------------------------

    def get_inventory(self):
        _model, memory_mb, cpus = self.conn.getInfo()[:3]
        caps = ElementTree.fromstring(self.conn.getCapabilities())
        disk_gb = disk_gb_used = 0
        try:
            pool = self.conn.storagePoolLookupByName('default')
            _state, capacity, allocation, _available = pool.info()
            disk_gb, disk_gb_used = capacity // 2 ** 30, allocation // 2 ** 30
        except libvirt.libvirtError:
            LOG.debug('No default storage pool on %s: disk capacity unknown', self.uri)
        return {
            'memory_mb': memory_mb,
            'vcpus': cpus,
            'disk_gb': disk_gb,
            'disk_gb_used': disk_gb_used,
            'virt_type': self.virt_type,
            'hypervisor_version': self.conn.getVersion(),
            'cpu_model': caps.findtext('host/cpu/model'),
            'cpu_models': self._usable_cpu_models(),
            'hypervisor_uri': self.migration_uri,
        }

    def _usable_cpu_models(self):
        """The named CPU models this hypervisor can give a guest (libvirt's domain
        capabilities for our virt type, usable='yes'); the scheduler's CPU filter reads it.
        Asked once: it changes only with the hypervisor, which restarts the agent's
        connection anyway."""
        if self._cpu_models is None:
            try:
                xml = self.conn.getDomainCapabilities(None, None, None, self.virt_type, 0)
            except libvirt.libvirtError as exc:
                LOG.warning('No domain capabilities from %s (%s); the scheduler will not '
                            'place guests with a named CPU model here', self.uri, exc)
                return None
            caps = ElementTree.fromstring(xml)
            self._cpu_models = sorted(
                m.text for m in caps.findall("cpu/mode[@name='custom']/model")
                if m.get('usable') == 'yes' and m.text)
        return self._cpu_models

    def _describe(self, dom):
        state, reason = dom.state()
        active = bool(dom.isActive())
        info = dom.info()
        disk_bytes = sum(d['capacity'] for d in storage.domain_disks(dom))
        cpu_model = ElementTree.fromstring(dom.XMLDesc(0)).findtext("cpu[@mode='custom']/model")
        return {
            'uuid': dom.UUIDString(),
            'name': dom.name(),
            'power_state': _POWER_STATES.get(state, 'nostate'),
            'active': active,
            'incoming': state == libvirt.VIR_DOMAIN_PAUSED and reason in _INCOMING_PAUSE_REASONS,
            'memory_mb': info[1] // 1024,
            'vcpus': info[3],
            'disk_gb': -(-disk_bytes // 2 ** 30),
            'cpu_model': cpu_model,
        }

    def list_domains(self):
        domains = []
        for dom in self.conn.listAllDomains(0):
            try:
                domains.append(self._describe(dom))
            except libvirt.libvirtError as exc:
                # A domain that vanished between the listing and the look: it is not here.
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return domains

    def _lookup(self, uuid):
        try:
            return self.conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise exceptions.InstanceNotFound(ident=uuid) from exc
            raise

    def get_domain_state(self, uuid):
        """Whether the domain is here and runs. Only its state is read (no XML): a migration
        asks this the moment its job ends, while libvirt may be undefining the source's copy,
        and a domain that vanishes between the lookup and the look is simply not here."""
        gone = {'exists': False, 'power_state': None, 'active': False, 'incoming': False}
        try:
            dom = self._lookup(uuid)
            state, reason = dom.state()
            active = bool(dom.isActive())
        except exceptions.InstanceNotFound:
            return gone
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return gone
            raise
        return {'exists': True, 'power_state': _POWER_STATES.get(state, 'nostate'),
                'active': active,
                'incoming': state == libvirt.VIR_DOMAIN_PAUSED and
                reason in _INCOMING_PAUSE_REASONS}

    def get_disks(self, uuid):
        return storage.domain_disks(self._lookup(uuid))

    def measure_dirty_rate(self, uuid, seconds):
        return dirty_rate.measure(self.conn, self._lookup(uuid), seconds,
                                  CONF.libvirt.dirty_rate_period_seconds,
                                  CONF.libvirt.dirty_rate_long_period_seconds)

    def peer_domain_state(self, uuid, peer_uri):
        """The domain as the libvirt daemon at peer_uri describes it (read-only connection
        of our own, not that host's agent): exists, active, incoming and its disk paths.
        The URI goes through the same rules as every connection to another host's daemon
        (remote_transport, our TLS client certificate)."""
        conn = libvirt.openReadOnly(self.peer_uri(peer_uri))
        try:
            try:
                dom = conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return {'exists': False, 'active': False, 'incoming': False, 'disks': []}
                raise
            state, reason = dom.state()
            return {'exists': True, 'active': bool(dom.isActive()),
                    'incoming': state == libvirt.VIR_DOMAIN_PAUSED
                    and reason in _INCOMING_PAUSE_REASONS,
                    'disks': [d['path'] for d in storage.disks_in_xml(dom.XMLDesc(0))]}
        finally:
            conn.close()

    # -- shared storage ---------------------------------------------------------------------

    def create_shared_probe(self, directory):
        return storage.create_probe(self.conn, directory)

    def check_shared_probe(self, directory, name):
        return storage.probe_exists(self.conn, directory, name)

    def remove_shared_probe(self, directory, name):
        storage.remove_probe(self.conn, directory, name)

    # -- migration --------------------------------------------------------------------------

    def live_migrate(self, uuid, dest_uri, migrate_disks, on_progress, on_done, controls=None,
                     job_id=None):
        dom = self._lookup(uuid)
        dest_uri = self.peer_uri(dest_uri)
        flags = migration.LIVE_FLAGS
        if CONF.libvirt.live_migration_with_native_tls:
            flags |= libvirt.VIR_MIGRATE_TLS
        params = {}
        disks = storage.domain_disks(dom)
        if migrate_disks:
            flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
            params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(migrate_disks)
        all_disks = {disk['target'] for disk in disks}
        if all_disks - set(migrate_disks or ()):
            # The disks left out were proven shared by probe files before we got here;
            # libvirt cannot tell a shared directory from a local one and would refuse
            # them as unsafe.
            flags |= libvirt.VIR_MIGRATE_UNSAFE
        # What the completion timeout is per GiB of: the guest's memory and the disks copied.
        data_bytes = dom.info()[1] * 1024 + sum(
            d['capacity'] for d in disks if d['target'] in set(migrate_disks or ()))

        def done(outcome):
            with self._jobs_lock:
                self._jobs.pop(uuid, None)
            on_done(outcome)

        record = None
        if job_id is not None:
            record = job_record.make(job_id['migration_id'], job_id.get('conductor'),
                                     self.host, dest_uri, flags, controls, data_bytes)
        job = migration.LiveMigrationJob(dom, dest_uri, flags, params, on_progress, done,
                                         CONF.compute.progress_interval, controls=controls,
                                         data_bytes=data_bytes, record=record)
        with self._jobs_lock:
            if uuid in self._jobs:
                raise exceptions.Conflict(f'a migration job of {uuid} already runs here')
            self._jobs[uuid] = job
        job.start()

    def create_migration_disks(self, specs):
        return storage.create_disks(self.conn, self.host, specs)

    def _disk_paths_in_use(self):
        """Paths of the disks of every domain defined or running here."""
        used = set()
        for dom in self.conn.listAllDomains(0):
            try:
                used.update(d['path'] for d in storage.disks_in_xml(dom.XMLDesc(0)))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return used

    def remove_unused_disks(self, paths):
        in_use = self._disk_paths_in_use()
        kept = [p for p in paths if p in in_use]
        removed = storage.delete_disks(self.conn, [p for p in paths if p not in in_use])
        if kept:
            LOG.warning('Disks %s are used by a domain on %s; not removed', kept, self.host)
        return {'removed': removed, 'kept': kept}

    def abort_live_migration(self, uuid):
        with self._jobs_lock:
            job = self._jobs.get(uuid)
        if job is not None:
            return job.abort()
        # A job this agent did not start (it restarted meanwhile) still runs in libvirtd.
        return migration.abort_domain_job(self._lookup(uuid))

    def migration_job_active(self, uuid):
        try:
            return migration.domain_job_active(self._lookup(uuid))
        except exceptions.InstanceNotFound:
            return False

    def live_migration_force_complete(self, uuid):
        with self._jobs_lock:
            job = self._jobs.get(uuid)
        if job is None:
            raise exceptions.Conflict(f'no migration job of {uuid} runs on {self.host}')
        return {'forced': job.force_complete()}

    def cleanup_incoming(self, uuid):
        try:
            dom = self._lookup(uuid)
        except exceptions.InstanceNotFound:
            return
        state, reason = dom.state()
        if not (state == libvirt.VIR_DOMAIN_PAUSED and reason in _INCOMING_PAUSE_REASONS) \
                and dom.isActive():
            # A running guest is never ours to remove.
            raise exceptions.Conflict(f'domain {uuid} runs on {self.host}; not removing it')
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefineFlags(0)
