"""Client side of the compute agents' RPC API; every call goes to one named host.

Version history:
  1.0 - initial
"""

import oslo_messaging as messaging
from oslo_config import cfg

from migrator.common import rpc

CONF = cfg.CONF

VERSION = '1.0'


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
        # Nobody waits for the probe file to go: it is off the migration's critical path.
        self.client.prepare(server=host).cast(ctxt, 'remove_shared_probe',
                                              directory=directory, name=name)

    def live_migrate(self, ctxt, host, migration_id, instance_uuid, dest_uri, migrate_disks,
                     conductor):
        """Starts the job on the source host; returns once libvirt has it."""
        return self._call(ctxt, host, 'live_migrate', migration_id=migration_id,
                          instance_uuid=instance_uuid, dest_uri=dest_uri,
                          migrate_disks=migrate_disks, conductor=conductor)

    def cleanup_incoming(self, ctxt, host, instance_uuid):
        return self._call(ctxt, host, 'cleanup_incoming', instance_uuid=instance_uuid)

    def report_now(self, ctxt, host):
        self.client.prepare(server=host).cast(ctxt, 'report_now')
