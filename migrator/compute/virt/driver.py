"""The interface between the compute agent and a hypervisor.

The agent speaks only to this interface; `libvirt.driver.LibvirtDriver` is the real one and
`fake.FakeDriver` stands in for it in unit tests of the agent and conductor logic.
Domains are identified by UUID. Values crossing this boundary are plain dicts, because they
go straight onto the bus.
"""

import abc


class ComputeDriver(abc.ABC):
    @abc.abstractmethod
    def init_host(self, host):
        """Connects to the hypervisor; called once before anything else."""

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
        """The domain's disks: target (vda), path, format, capacity (bytes)."""

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
    def live_migrate(self, uuid, dest_uri, migrate_disks, on_progress, on_done, controls=None):
        """Starts a peer-to-peer live migration and returns at once.

        on_progress(stats: dict) is called with job statistics while it runs;
        on_done(outcome: dict) exactly once at the end with {'success': bool, 'error': str|None,
        'stats': dict, 'post_copy': bool, 'forced': 'post_copy'|'paused'|None, 'forced_by':
        str|None, 'aborted': str|None (why the job was aborted here, e.g. the completion
        timeout)}. migrate_disks: None for shared storage, else the targets to copy.
        controls: the convergence settings (migrator.common.convergence.effective).
        """

    @abc.abstractmethod
    def live_migration_force_complete(self, uuid):
        """Makes the running outgoing job of uuid finish: post-copy when it was permitted,
        else pause the guest. Returns {'forced': 'post_copy'|'paused'}; Conflict when no job
        of uuid runs here."""

    @abc.abstractmethod
    def cleanup_incoming(self, uuid):
        """Removes what a failed incoming migration left of the domain on this host."""
