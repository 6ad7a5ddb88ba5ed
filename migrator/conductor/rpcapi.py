"""Client side of the conductor's RPC API.

Version history:
  1.0 - select_destination, migrate, report_host, migration_progress, migration_job_done
  1.1 - drain
  1.2 - abort_migration; select_destination takes block_migration
  1.3 - force_complete
  1.4 - create_plan, apply_plan
  1.5 - schedule_dry_run
  1.6 - report_host_down (an agent lost its hypervisor)
  1.7 - audit
  1.8 - schedule_dry_run takes controls (a live migration's convergence settings) and
        answers a convergence forecast with them
"""

import oslo_messaging as messaging
from oslo_config import cfg

from migrator.common import rpc

CONF = cfg.CONF

VERSION = '1.8'


class ConductorAPI:
    def __init__(self, timeout=None):
        target = messaging.Target(topic=rpc.CONDUCTOR_TOPIC, version=VERSION)
        self.client = rpc.get_client(target, version_cap=VERSION, timeout=timeout)

    # -- from the API -----------------------------------------------------------------------

    def select_destination(self, ctxt, instance_uuid, migration_type, target_host=None,
                           block_migration=None):
        """Answers the host a migration would go to now, or raises NoValidHost.

        A check for the API so it can refuse a request that cannot be placed with a 409
        before anything is created; the task decides again when it runs. With
        block_migration False it also refuses (Conflict) a guest whose disks are not on
        storage shared with that host.
        """
        kwargs = {}
        if block_migration is not None:
            kwargs['block_migration'] = block_migration
        version = '1.2' if kwargs else '1.0'
        cctxt = self.client.prepare(timeout=CONF.api.rpc_timeout, version=version)
        return cctxt.call(ctxt, 'select_destination', instance_uuid=instance_uuid,
                          migration_type=migration_type, target_host=target_host, **kwargs)

    def schedule_dry_run(self, ctxt, instance_uuid, migration_type, target_host=None,
                         block_migration=None, controls=None):
        """The scheduler's decision and its reasons, claiming and moving nothing; with
        controls (1.8) also the convergence forecast. A conductor older than 1.8 answers
        without the forecast."""
        kwargs = {}
        version = '1.5'
        if controls is not None and self.client.can_send_version('1.8'):
            kwargs['controls'] = controls
            version = '1.8'
        # The forecast may wait for the source's hypervisor to measure the dirty rate.
        timeout = CONF.api.rpc_timeout + (CONF.convergence.dirty_rate_measure_seconds
                                          if 'controls' in kwargs else 0)
        cctxt = self.client.prepare(timeout=timeout, version=version)
        return cctxt.call(ctxt, 'schedule_dry_run', instance_uuid=instance_uuid,
                          migration_type=migration_type, target_host=target_host,
                          block_migration=block_migration, **kwargs)

    def migrate(self, ctxt, migration_id):
        """Starts the task of an accepted migration; any conductor may take it."""
        self.client.cast(ctxt, 'migrate', migration_id=migration_id)

    def drain(self, ctxt, drain_id):
        """Starts an accepted drain (or undrain return) job; any conductor may take it."""
        cctxt = self.client.prepare(version='1.1')
        cctxt.cast(ctxt, 'drain', drain_id=drain_id)

    def abort_migration(self, ctxt, conductor, migration_id, reason):
        """Tells the conductor that runs the migration to abort it; returns the migration.

        Goes to that conductor by name (only it holds the task); raises MessagingTimeout
        when it does not answer within [api] rpc_timeout.
        """
        cctxt = self.client.prepare(server=conductor, timeout=CONF.api.rpc_timeout,
                                    version='1.2')
        return cctxt.call(ctxt, 'abort_migration', migration_id=migration_id, reason=reason)

    def force_complete(self, ctxt, migration_id):
        """Makes a running live migration finish: post-copy when it was started with
        post-copy permitted, else the guest is paused. Conflict when it is not running."""
        cctxt = self.client.prepare(timeout=CONF.api.rpc_timeout, version='1.3')
        return cctxt.call(ctxt, 'force_complete', migration_id=migration_id)

    def create_plan(self, ctxt, goal, max_moves=None, min_gain=None, max_parallel=None):
        """Plans a rebalance and records it; returns the new plan's id."""
        cctxt = self.client.prepare(version='1.4', timeout=CONF.api.rpc_timeout)
        return cctxt.call(ctxt, 'create_plan', goal=goal, max_moves=max_moves,
                          min_gain=min_gain, max_parallel=max_parallel)

    def apply_plan(self, ctxt, plan_id):
        """Applies a plan that is `applying`; any conductor may take it."""
        cctxt = self.client.prepare(version='1.4')
        cctxt.cast(ctxt, 'apply_plan', plan_id=plan_id)

    def audit(self, ctxt, fix=False):
        """Any conductor compares the DB with every agent's answer; returns
        {'discrepancies', 'fixed', 'hosts_checked'}. It asks every agent, each within
        [conductor] compute_rpc_timeout, so it is given that much more than [api]
        rpc_timeout."""
        cctxt = self.client.prepare(
            version='1.7', timeout=CONF.api.rpc_timeout + CONF.conductor.compute_rpc_timeout)
        return cctxt.call(ctxt, 'audit', fix=fix)

    # -- from the compute agents ------------------------------------------------------------

    def report_host(self, ctxt, host, inventory, domains, reported_at):
        """reported_at: ISO 8601 UTC time the agent looked at its hypervisor."""
        self.client.cast(ctxt, 'report_host', host=host, inventory=inventory, domains=domains,
                         reported_at=reported_at)

    def report_host_down(self, ctxt, host, reason, reported_at):
        """The agent of host lost its hypervisor at reported_at (ISO 8601 UTC): the host
        counts as down until its next report (1.6)."""
        self.client.prepare(version='1.6').cast(ctxt, 'report_host_down', host=host,
                                                reason=reason, reported_at=reported_at)

    def migration_progress(self, ctxt, conductor, migration_id, stats):
        cctxt = self.client.prepare(server=conductor) if conductor else self.client
        cctxt.cast(ctxt, 'migration_progress', migration_id=migration_id, stats=stats)

    def migration_job_done(self, ctxt, conductor, migration_id, outcome):
        """The source agent's word that the libvirt job ended (outcome: dict)."""
        cctxt = self.client.prepare(server=conductor) if conductor else self.client
        cctxt.cast(ctxt, 'migration_job_done', migration_id=migration_id, outcome=outcome)
