"""The interface between the compute agent and a hypervisor.

The agent speaks only to this interface; `libvirt.driver.LibvirtDriver` is the real one and
`fake.FakeDriver` stands in for it in unit tests of the agent and conductor logic.
Domains are identified by UUID. Values crossing this boundary are plain dicts, because they
go straight onto the bus.
"""

import abc

from migrator.common import exceptions


class ComputeDriver(abc.ABC):
    # Hooks the agent sets before init_host (a driver that never loses its hypervisor or
    # restarts jobs may ignore them):
    # job_callbacks(migration_id, conductor) -> (on_progress, on_done), for a migration job
    # found running that an earlier agent process started; hypervisor_lost(reason) and
    # hypervisor_restored() around a lost connection to the hypervisor.
    job_callbacks = None
    hypervisor_lost = None
    hypervisor_restored = None

    @abc.abstractmethod
    def init_host(self, host):
        """Connects to the hypervisor and takes over the migration jobs an earlier agent
        process left running; called once before anything else."""

    def is_connected(self):
        """False while the hypervisor is unreachable (the driver is reconnecting)."""
        return True

    @abc.abstractmethod
    def cleanup_host(self):
        """Closes the connection; the agent is stopping."""

    @abc.abstractmethod
    def get_inventory(self):
        """Capacity of the host: memory_mb, vcpus, disk_gb, disk_gb_used, virt_type,
        hypervisor_version, cpu_model, hypervisor_uri (how peers reach it for migration)."""

    @abc.abstractmethod
    def list_domains(self):
        """Every domain defined or running: uuid, name, power_state, active, incoming,
        memory_mb, vcpus, disk_gb."""

    @abc.abstractmethod
    def get_domain_state(self, uuid):
        """{'exists': bool, 'power_state': str|None, 'active': bool, 'incoming': bool}."""

    @abc.abstractmethod
    def get_disks(self, uuid):
        """The domain's disks: target (vda), path, format, capacity (bytes), backing_path
        and backing_format (None without a backing file)."""

    @abc.abstractmethod
    def create_migration_disks(self, specs):
        """Creates empty disks for an incoming block migration, all or none, at the paths
        given (specs: path, format, capacity, optional backing_path/backing_format); never
        overwrites an existing file (Conflict). Returns the paths created."""

    @abc.abstractmethod
    def remove_unused_disks(self, paths):
        """Deletes the disk files at paths that no domain on this host uses; returns
        {'removed': [...], 'kept': [...]} (kept: still in use, left alone)."""

    @abc.abstractmethod
    def create_shared_probe(self, directory):
        """Writes a probe file into directory; returns its name."""

    @abc.abstractmethod
    def check_shared_probe(self, directory, name):
        """True when the probe file another host wrote into directory is visible here."""

    @abc.abstractmethod
    def remove_shared_probe(self, directory, name):
        """Removes a probe file written by create_shared_probe."""

    @abc.abstractmethod
    def live_migrate(self, uuid, dest_uri, migrate_disks, on_progress, on_done, controls=None,
                     job_id=None):
        """Starts a peer-to-peer live migration and returns at once.

        job_id: {'migration_id', 'conductor'}, kept with the job so that a restarted agent
        can re-attach to it and report its end to that conductor.

        on_progress(stats: dict) is called with job statistics while it runs;
        on_done(outcome: dict) exactly once at the end with {'success': bool, 'error': str|None,
        'stats': dict, 'post_copy': bool, 'forced': 'post_copy'|'paused'|None, 'forced_by':
        str|None, 'aborted': str|None (why the job was aborted here, e.g. the completion
        timeout)}. migrate_disks: None for shared storage, else the targets to copy.
        controls: the convergence settings (migrator.common.convergence.effective).
        """

    @abc.abstractmethod
    def abort_live_migration(self, uuid):
        """Cancels the outgoing migration job of domain uuid; on_done then reports an
        unsuccessful end. Returns False when no job was running any more."""

    @abc.abstractmethod
    def migration_job_active(self, uuid):
        """True while an outgoing migration job of domain uuid runs on this host, whoever
        started it (a conductor or agent that restarted since may have)."""

    @abc.abstractmethod
    def live_migration_force_complete(self, uuid):
        """Makes the running outgoing job of uuid finish: post-copy when it was permitted,
        else pause the guest. Returns {'forced': 'post_copy'|'paused'}; Conflict when no job
        of uuid runs here."""

    def measure_dirty_rate(self, uuid, seconds):
        """{'dirty_rate': bytes/s, 'seconds', 'mode'} the running domain dirties, measured
        without migrating it; Conflict when this hypervisor cannot measure it."""
        raise exceptions.Conflict('this virt driver cannot measure a dirty rate')

    @abc.abstractmethod
    def cleanup_incoming(self, uuid):
        """Removes what a failed incoming migration left of the domain on this host."""

    # -- cold migration ---------------------------------------------------------------------

    @abc.abstractmethod
    def get_domain_xml(self, uuid):
        """The domain's persistent definition (XML), as another host can define it."""

    @abc.abstractmethod
    def power_off(self, uuid, timeout):
        """Asks the guest to shut down (ACPI), waits up to timeout seconds, then forces it
        off. Returns {'was_running': bool, 'forced': bool}."""

    @abc.abstractmethod
    def start_domain(self, uuid):
        """Starts a defined, shut-off domain (nothing when it runs already)."""

    @abc.abstractmethod
    def prepare_cold_destination(self, uuid, paths):
        """Checks this host can take the domain's disks at paths (source paths); returns
        {source path: path of the copy here}. Refuses (Conflict) when the domain is already
        defined here or a copy would overwrite an existing file."""

    @abc.abstractmethod
    def cold_destination_paths(self, uuid, paths):
        """{source path: path of its copy here}, as prepare_cold_destination plans them,
        without its checks: where an interrupted copy left its volumes."""

    @abc.abstractmethod
    def export_disks(self, migration_id, paths, psk, encrypt):
        """Exports the disks at paths (a shut-off guest's) read-only for a target to pull,
        with TLS-PSK (key psk) when encrypt or this host's settings say so; the exports'
        description ({'address', 'tls', 'exports'}), or None when this host copies by
        libvirt stream ([compute] disk_copy_method)."""

    @abc.abstractmethod
    def stop_disk_exports(self, migration_id):
        """Stops the migration's exports still running here; how many were."""

    @abc.abstractmethod
    def copy_disks(self, migration_id, source_uri, disks, on_progress, on_done, bandwidth,
                   exports=None, psk=None):
        """Creates the volumes of disks [{'path', 'target_path'}] here and starts copying
        them from the daemon at source_uri (from the source's exports when given, with the
        key psk); returns the created paths once it runs.

        on_progress(stats) while it runs; on_done(outcome) once at the end with {'success',
        'error', 'stats', 'volumes'}; a failed or aborted copy removes its volumes itself.
        bandwidth: bytes per second at most, or None.
        """

    @abc.abstractmethod
    def disk_copy_active(self, migration_id):
        """True while the copy of migration_id runs here (False after an agent restart: the
        copy runs in the agent's process)."""

    @abc.abstractmethod
    def abort_disk_copy(self, migration_id):
        """Stops the copy of a migration (its on_done reports the failure); False when no
        copy of it runs here."""

    @abc.abstractmethod
    def define_domain(self, xml, disk_paths, start):
        """Defines a domain from another host's XML with disk sources moved per disk_paths
        ({old: new}) and starts it when start is true; returns its UUID."""

    @abc.abstractmethod
    def remove_migrated_copy(self, migration_id, uuid, volumes):
        """Undoes a cold migration here (the target): stops its copy, removes the domain
        and the volumes it created."""

    @abc.abstractmethod
    def remove_source_copy(self, uuid, volumes):
        """Removes the shut-off definition and the copied volumes of a domain that now runs
        on another host; refuses (Conflict) when the domain runs here."""
