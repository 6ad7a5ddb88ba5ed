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

[upgrade_levels] conductor caps what this client sends (rpc.version_cap): every message
carries the version of its method's arguments, which a conductor of that version or newer
accepts. Under the cap an optional newer argument is left out; a method newer than the cap
raises ServiceTooOld before anything is sent.
"""

from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import payloads, rpc
from migrator.common.context import RequestContext

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

VERSION = '1.7'
SERVICE = 'conductor'


class ConductorAPI:
    def __init__(self, timeout: float | None = None) -> None:
        # Messages without a version of their own are 1.0 ones: any conductor reads them.
        target = messaging.Target(topic=rpc.CONDUCTOR_TOPIC, version='1.0')
        self.client = rpc.get_client(target, version_cap=rpc.version_cap(SERVICE, VERSION),
                                     timeout=timeout)

    def _prepare(self, method: str, version: str, **options: Any) -> Any:
        """The client for a method first in version; ServiceTooOld when the pin is lower."""
        rpc.require_version(self.client, SERVICE, method, version)
        return self.client.prepare(version=version, **options)

    # -- from the API -----------------------------------------------------------------------

    def select_destination(self, ctxt: RequestContext, instance_uuid: str, migration_type: str,
                           target_host: str | None = None,
                           block_migration: bool | None = None) -> str:
        """Answers the host a migration would go to now, or raises NoValidHost.

        A check for the API so it can refuse a request that cannot be placed with a 409
        before anything is created; the task decides again when it runs. With
        block_migration False it also refuses (Conflict) a guest whose disks are not on
        storage shared with that host.
        """
        kwargs: dict[str, Any] = {}
        version = '1.0'
        if block_migration is not None:
            if self.client.can_send_version('1.2'):
                kwargs['block_migration'] = block_migration
                version = '1.2'
            else:
                # A conductor before 1.2 checks placement without the storage question;
                # the migration's task asks it again when it runs.
                LOG.debug('select_destination without block_migration: [upgrade_levels] '
                          'conductor is %s', self.client.version_cap)
        cctxt = self.client.prepare(timeout=CONF.api.rpc_timeout, version=version)
        return cctxt.call(ctxt, 'select_destination', instance_uuid=instance_uuid,
                          migration_type=migration_type, target_host=target_host, **kwargs)

    def schedule_dry_run(self, ctxt: RequestContext, instance_uuid: str, migration_type: str,
                         target_host: str | None = None,
                         block_migration: bool | str | None = None) -> dict[str, Any]:
        """The scheduler's decision and its reasons, claiming and moving nothing."""
        cctxt = self._prepare('schedule_dry_run', '1.5', timeout=CONF.api.rpc_timeout)
        return cctxt.call(ctxt, 'schedule_dry_run', instance_uuid=instance_uuid,
                          migration_type=migration_type, target_host=target_host,
                          block_migration=block_migration)

    def migrate(self, ctxt: RequestContext, migration_id: str) -> None:
        """Starts the task of an accepted migration; any conductor may take it."""
        self.client.cast(ctxt, 'migrate', migration_id=migration_id)

    def drain(self, ctxt: RequestContext, drain_id: str) -> None:
        """Starts an accepted drain (or undrain return) job; any conductor may take it."""
        self._prepare('drain', '1.1').cast(ctxt, 'drain', drain_id=drain_id)

    def abort_migration(self, ctxt: RequestContext, conductor: str, migration_id: str,
                        reason: str) -> payloads.MigrationRecord:
        """Tells the conductor that runs the migration to abort it; returns the migration.

        Goes to that conductor by name (only it holds the task); raises MessagingTimeout
        when it does not answer within [api] rpc_timeout.
        """
        cctxt = self._prepare('abort_migration', '1.2', server=conductor,
                              timeout=CONF.api.rpc_timeout)
        return cctxt.call(ctxt, 'abort_migration', migration_id=migration_id, reason=reason)

    def force_complete(self, ctxt: RequestContext,
                       migration_id: str) -> payloads.ForceCompleteResult:
        """Makes a running live migration finish: post-copy when it was started with
        post-copy permitted, else the guest is paused. Conflict when it is not running."""
        cctxt = self._prepare('force_complete', '1.3', timeout=CONF.api.rpc_timeout)
        return cctxt.call(ctxt, 'force_complete', migration_id=migration_id)

    def create_plan(self, ctxt: RequestContext, goal: str, max_moves: int | None = None,
                    min_gain: float | None = None, max_parallel: int | None = None) -> str:
        """Plans a rebalance and records it; returns the new plan's id."""
        cctxt = self._prepare('create_plan', '1.4', timeout=CONF.api.rpc_timeout)
        return cctxt.call(ctxt, 'create_plan', goal=goal, max_moves=max_moves,
                          min_gain=min_gain, max_parallel=max_parallel)

    def apply_plan(self, ctxt: RequestContext, plan_id: str) -> None:
        """Applies a plan that is `applying`; any conductor may take it."""
        self._prepare('apply_plan', '1.4').cast(ctxt, 'apply_plan', plan_id=plan_id)

    def audit(self, ctxt: RequestContext, fix: bool = False) -> payloads.AuditResult:
        """Any conductor compares the DB with every agent's answer; returns
        {'discrepancies', 'fixed', 'hosts_checked'}. It asks every agent, each within
        [conductor] compute_rpc_timeout, so it is given that much more than [api]
        rpc_timeout."""
        cctxt = self._prepare(
            'audit', '1.7', timeout=CONF.api.rpc_timeout + CONF.conductor.compute_rpc_timeout)
        return cctxt.call(ctxt, 'audit', fix=fix)

    # -- from the compute agents ------------------------------------------------------------

    def report_host(self, ctxt: RequestContext, host: str, inventory: payloads.HostInventory,
                    domains: list[payloads.DomainSummary], reported_at: str) -> None:
        """reported_at: ISO 8601 UTC time the agent looked at its hypervisor."""
        self.client.cast(ctxt, 'report_host', host=host, inventory=inventory, domains=domains,
                         reported_at=reported_at)

    def report_host_down(self, ctxt: RequestContext, host: str, reason: str,
                         reported_at: str) -> None:
        """The agent of host lost its hypervisor at reported_at (ISO 8601 UTC): the host
        counts as down until its next report (1.6). A conductor before 1.6 is not told: it
        knew of no such word, and goes by the host's reports as it always did."""
        if not self.client.can_send_version('1.6'):
            LOG.warning('Not reporting %s down (%s): [upgrade_levels] conductor is %s, '
                        'report_host_down needs 1.6', host, reason, self.client.version_cap)
            return
        self.client.prepare(version='1.6').cast(ctxt, 'report_host_down', host=host,
                                                reason=reason, reported_at=reported_at)

    def migration_progress(self, ctxt: RequestContext, conductor: str | None, migration_id: str,
                           stats: payloads.JobStats) -> None:
        cctxt = self.client.prepare(server=conductor) if conductor else self.client
        cctxt.cast(ctxt, 'migration_progress', migration_id=migration_id, stats=stats)

    def migration_job_done(self, ctxt: RequestContext, conductor: str | None, migration_id: str,
                           outcome: payloads.JobOutcome) -> None:
        """The source agent's word that the libvirt job ended (or the target's that its disk
        copy did)."""
        cctxt = self.client.prepare(server=conductor) if conductor else self.client
        cctxt.cast(ctxt, 'migration_job_done', migration_id=migration_id, outcome=outcome)
