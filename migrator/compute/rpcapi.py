"""Client side of the compute agents' RPC API; every call goes to one named host.

Version history:
  1.0 - initial
  1.1 - abort_live_migration, create_migration_disks, remove_unused_disks
  1.2 - cold migration: get_domain_xml, power_off_instance, start_instance,
        prepare_cold_destination, copy_disks, abort_disk_copy, define_instance,
        remove_migrated_copy, remove_source_copy
  1.3 - live_migrate takes controls (convergence settings); live_migration_force_complete
  1.4 - migration_job_active, cold_destination_paths (a restarted conductor settles the
        migrations it had started)
  1.5 - disk_copy_active (a conductor waiting for a copy notices a target agent that
        restarted and lost it)
  1.6 - audit_domains
  1.7 - peer_domain_state (the source confirms, through the target's libvirt daemon, what
        the target's agent says, before a recovery removes the source's copy)
"""

import oslo_messaging as messaging
from oslo_config import cfg

from migrator.common import rpc

CONF = cfg.CONF

VERSION = '1.7'


class ComputeAPI:
    def __init__(self):
        target = messaging.Target(topic=rpc.COMPUTE_TOPIC, version=VERSION)
        self.client = rpc.get_client(target, version_cap=VERSION,
                                     timeout=CONF.conductor.compute_rpc_timeout)

    def _call(self, ctxt, host, method, version=None, rpc_timeout=None, **kwargs):
        options = {'server': host}
        if version:
            options['version'] = version
        if rpc_timeout:
            options['timeout'] = rpc_timeout
        return self.client.prepare(**options).call(ctxt, method, **kwargs)

    def get_domain_state(self, ctxt, host, instance_uuid, rpc_timeout=None):
        return self._call(ctxt, host, 'get_domain_state', rpc_timeout=rpc_timeout,
                          instance_uuid=instance_uuid)

    def audit_domains(self, ctxt, host, job_uuids):
        """The host's domains and which of job_uuids have a migration job there (1.6)."""
        return self._call(ctxt, host, 'audit_domains', version='1.6', job_uuids=job_uuids)

    def peer_domain_state(self, ctxt, host, instance_uuid, peer_uri):
        return self._call(ctxt, host, 'peer_domain_state', version='1.7',
                          instance_uuid=instance_uuid, peer_uri=peer_uri)

    def get_disks(self, ctxt, host, instance_uuid):
        return self._call(ctxt, host, 'get_disks', instance_uuid=instance_uuid)

    def check_can_live_migrate_destination(self, ctxt, host, instance_uuid, memory_mb):
        return self._call(ctxt, host, 'check_can_live_migrate_destination',
                          instance_uuid=instance_uuid, memory_mb=memory_mb)

    def create_shared_probe(self, ctxt, host, directory):
        return self._call(ctxt, host, 'create_shared_probe', directory=directory)

    def check_shared_probe(self, ctxt, host, directory, name):
        return self._call(ctxt, host, 'check_shared_probe', directory=directory, name=name)

    def remove_shared_probe(self, ctxt, host, directory, name):
        # Nobody waits for the probe file to go: it is off the migration's critical path.
        self.client.prepare(server=host).cast(ctxt, 'remove_shared_probe',
                                              directory=directory, name=name)

    def live_migrate(self, ctxt, host, migration_id, instance_uuid, dest_uri, migrate_disks,
                     conductor, controls=None):
        """Starts the job on the source host; returns once libvirt has it.

        controls: the convergence settings the agent applies and watches (1.3)."""
        kwargs = {}
        version = '1.0'
        if controls is not None:
            kwargs['controls'] = controls
            version = '1.3'
        return self.client.prepare(server=host, version=version).call(
            ctxt, 'live_migrate', migration_id=migration_id, instance_uuid=instance_uuid,
            dest_uri=dest_uri, migrate_disks=migrate_disks, conductor=conductor, **kwargs)

    def live_migration_force_complete(self, ctxt, host, instance_uuid):
        """Makes the job of instance_uuid on its source host finish: post-copy when it was
        permitted, else the guest is paused. Answers {'forced': 'post_copy'|'paused'} (1.3)."""
        return self.client.prepare(server=host, version='1.3').call(
            ctxt, 'live_migration_force_complete', instance_uuid=instance_uuid)

    def create_migration_disks(self, ctxt, host, instance_uuid, specs):
        """Pre-creates the disks of an incoming block migration on host; the paths."""
        return self._call(ctxt, host, 'create_migration_disks', version='1.1',
                          instance_uuid=instance_uuid, specs=specs)

    def remove_unused_disks(self, ctxt, host, instance_uuid, paths):
        """Deletes disk files on host that no domain there uses: {'removed', 'kept'}."""
        return self._call(ctxt, host, 'remove_unused_disks', version='1.1',
                          instance_uuid=instance_uuid, paths=paths)

    def abort_live_migration(self, ctxt, host, migration_id, instance_uuid):
        """Cancels the running job on the source host; False when none was running."""
        return self._call(ctxt, host, 'abort_live_migration', version='1.1',
                          migration_id=migration_id, instance_uuid=instance_uuid)

    def migration_job_active(self, ctxt, host, instance_uuid):
        """True while an outgoing migration job of the instance runs on host."""
        return self._call(ctxt, host, 'migration_job_active', version='1.4',
                          instance_uuid=instance_uuid)

    def cleanup_incoming(self, ctxt, host, instance_uuid):
        return self._call(ctxt, host, 'cleanup_incoming', instance_uuid=instance_uuid)

    def report_now(self, ctxt, host):
        self.client.prepare(server=host).cast(ctxt, 'report_now')

    # -- cold migration (1.2) ---------------------------------------------------------------

    def get_domain_xml(self, ctxt, host, instance_uuid):
        return self._call(ctxt, host, 'get_domain_xml', version='1.2',
                          instance_uuid=instance_uuid)

    def power_off_instance(self, ctxt, host, instance_uuid, timeout):
        """Graceful shutdown, forced after timeout seconds; answers once it is off."""
        return self._call(ctxt, host, 'power_off_instance', version='1.2',
                          rpc_timeout=timeout + CONF.conductor.compute_rpc_timeout,
                          instance_uuid=instance_uuid, timeout=timeout)

    def start_instance(self, ctxt, host, instance_uuid):
        return self._call(ctxt, host, 'start_instance', version='1.2',
                          instance_uuid=instance_uuid)

    def prepare_cold_destination(self, ctxt, host, instance_uuid, paths):
        return self._call(ctxt, host, 'prepare_cold_destination', version='1.2',
                          instance_uuid=instance_uuid, paths=paths)

    def cold_destination_paths(self, ctxt, host, instance_uuid, paths):
        """{source path: where host puts (or put) its copy}."""
        return self._call(ctxt, host, 'cold_destination_paths', version='1.4',
                          instance_uuid=instance_uuid, paths=paths)

    def copy_disks(self, ctxt, host, migration_id, source_uri, disks, bandwidth, conductor):
        """Starts the copy on the target host; answers the created paths once it runs."""
        return self._call(ctxt, host, 'copy_disks', version='1.2', migration_id=migration_id,
                          source_uri=source_uri, disks=disks, bandwidth=bandwidth,
                          conductor=conductor)

    def disk_copy_active(self, ctxt, host, migration_id):
        """True while the copy of migration_id runs on host (1.5)."""
        return self._call(ctxt, host, 'disk_copy_active', version='1.5',
                          migration_id=migration_id)

    def abort_disk_copy(self, ctxt, host, migration_id):
        return self._call(ctxt, host, 'abort_disk_copy', version='1.2',
                          migration_id=migration_id)

    def define_instance(self, ctxt, host, xml, disk_paths, start):
        return self._call(ctxt, host, 'define_instance', version='1.2', xml=xml,
                          disk_paths=disk_paths, start=start)

    def remove_migrated_copy(self, ctxt, host, migration_id, instance_uuid, volumes):
        return self._call(ctxt, host, 'remove_migrated_copy', version='1.2',
                          rpc_timeout=CONF.compute.copy_abort_timeout
                          + CONF.conductor.compute_rpc_timeout,
                          migration_id=migration_id, instance_uuid=instance_uuid,
                          volumes=volumes)

    def remove_source_copy(self, ctxt, host, instance_uuid, volumes):
        return self._call(ctxt, host, 'remove_source_copy', version='1.2',
                          instance_uuid=instance_uuid, volumes=volumes)
