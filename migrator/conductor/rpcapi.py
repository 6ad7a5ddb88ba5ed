"""Client side of the conductor's RPC API.

Version history:
  1.0 - select_destination, migrate, report_host, migration_progress, migration_job_done
  1.1 - drain
  1.2 - schedule_dry_run; select_destination takes block_migration
"""

import oslo_messaging as messaging
from oslo_config import cfg

from migrator.common import rpc

CONF = cfg.CONF

VERSION = '1.2'


class ConductorAPI:
    def __init__(self, timeout=None):
        target = messaging.Target(topic=rpc.CONDUCTOR_TOPIC, version=VERSION)
        self.client = rpc.get_client(target, version_cap=VERSION, timeout=timeout)

    # -- from the API -----------------------------------------------------------------------

    def select_destination(self, ctxt, instance_uuid, migration_type, target_host=None,
                           block_migration=None):
        """Answers the host a migration would go to now, or raises NoValidHost.

        A check for the API so it can refuse a request that cannot be placed with a 409
        before anything is created; the task decides again (and claims) when it runs.
        """
        cctxt = self.client.prepare(timeout=CONF.api.rpc_timeout, version='1.2')
        return cctxt.call(ctxt, 'select_destination', instance_uuid=instance_uuid,
                          migration_type=migration_type, target_host=target_host,
                          block_migration=block_migration)

    def schedule_dry_run(self, ctxt, instance_uuid, migration_type, target_host=None,
                         block_migration=None):
        """The scheduler's decision and its reasons, claiming and moving nothing."""
        cctxt = self.client.prepare(timeout=CONF.api.rpc_timeout, version='1.2')
        return cctxt.call(ctxt, 'schedule_dry_run', instance_uuid=instance_uuid,
                          migration_type=migration_type, target_host=target_host,
                          block_migration=block_migration)

    def migrate(self, ctxt, migration_id):
        """Starts the task of an accepted migration; any conductor may take it."""
        self.client.cast(ctxt, 'migrate', migration_id=migration_id)

    def drain(self, ctxt, drain_id):
        """Starts an accepted drain (or undrain return) job; any conductor may take it."""
        cctxt = self.client.prepare(version='1.1')
        cctxt.cast(ctxt, 'drain', drain_id=drain_id)

    # -- from the compute agents ------------------------------------------------------------

    def report_host(self, ctxt, host, inventory, domains, reported_at):
        """reported_at: ISO 8601 UTC time the agent looked at its hypervisor."""
        self.client.cast(ctxt, 'report_host', host=host, inventory=inventory, domains=domains,
                         reported_at=reported_at)

    def migration_progress(self, ctxt, conductor, migration_id, stats):
        cctxt = self.client.prepare(server=conductor) if conductor else self.client
        cctxt.cast(ctxt, 'migration_progress', migration_id=migration_id, stats=stats)

    def migration_job_done(self, ctxt, conductor, migration_id, outcome):
        """The source agent's word that the libvirt job ended (outcome: dict)."""
        cctxt = self.client.prepare(server=conductor) if conductor else self.client
        cctxt.cast(ctxt, 'migration_job_done', migration_id=migration_id, outcome=outcome)
