"""Client side of the compute agents' RPC API; every call goes to one named host.

Version history:
  1.0 - initial
  1.1 - live_migrate takes controls (convergence settings); live_migration_force_complete
"""

import oslo_messaging as messaging
from oslo_config import cfg

from migrator.common import rpc

CONF = cfg.CONF

VERSION = '1.1'


class ComputeAPI:
    def __init__(self):
        target = messaging.Target(topic=rpc.COMPUTE_TOPIC, version=VERSION)
        self.client = rpc.get_client(target, version_cap=VERSION,
                                     timeout=CONF.conductor.compute_rpc_timeout)

    def _call(self, ctxt, host, method, **kwargs):
        return self.client.prepare(server=host).call(ctxt, method, **kwargs)

    def get_domain_state(self, ctxt, host, instance_uuid):
        return self._call(ctxt, host, 'get_domain_state', instance_uuid=instance_uuid)

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
        return self._call(ctxt, host, 'remove_shared_probe', directory=directory, name=name)

    def live_migrate(self, ctxt, host, migration_id, instance_uuid, dest_uri, migrate_disks,
                     conductor, controls=None):
        """Starts the job on the source host; returns once libvirt has it.

        controls: the convergence settings the agent applies and watches (1.1)."""
        kwargs = {}
        version = '1.0'
        if controls is not None:
            kwargs['controls'] = controls
            version = '1.1'
        return self.client.prepare(server=host, version=version).call(
            ctxt, 'live_migrate', migration_id=migration_id, instance_uuid=instance_uuid,
            dest_uri=dest_uri, migrate_disks=migrate_disks, conductor=conductor, **kwargs)

    def live_migration_force_complete(self, ctxt, host, instance_uuid):
        """Makes the job of instance_uuid on its source host finish: post-copy when it was
        permitted, else the guest is paused. Answers {'forced': 'post_copy'|'paused'} (1.1)."""
        return self.client.prepare(server=host, version='1.1').call(
            ctxt, 'live_migration_force_complete', instance_uuid=instance_uuid)

    def cleanup_incoming(self, ctxt, host, instance_uuid):
        return self._call(ctxt, host, 'cleanup_incoming', instance_uuid=instance_uuid)

    def report_now(self, ctxt, host):
        self.client.prepare(server=host).cast(ctxt, 'report_now')
