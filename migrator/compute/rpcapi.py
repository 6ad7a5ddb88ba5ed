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
  1.8 - measure_dirty_rate (the convergence forecast)
  1.9 - disk_copy_state (a conductor whose copy of a disk copy's end was lost takes the
        end from the agent)
  1.10 - export_disks, stop_disk_exports; copy_disks takes exports and psk (the nbd disk
         copy of cold migration)

[upgrade_levels] compute caps what this client sends (rpc.version_cap): every message
carries the version of its method's arguments, which an agent of that version or newer
accepts. Under the cap an optional newer argument is left out; a method newer than the cap
raises ServiceTooOld before anything is sent.
"""

import time
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import payloads, rpc
from migrator.common.context import RequestContext

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

VERSION = '1.10'
SERVICE = 'compute'


class ComputeAPI:
    def __init__(self) -> None:
        # Messages without a version of their own are 1.0 ones: any agent reads them.
        target = messaging.Target(topic=rpc.COMPUTE_TOPIC, version='1.0')
        self.client = rpc.get_client(target, version_cap=rpc.version_cap(SERVICE, VERSION),
                                     timeout=CONF.conductor.compute_rpc_timeout)

    def _call(self, ctxt: RequestContext, host: str, method: str, version: str = '1.0',
              rpc_timeout: float | None = None, repeatable: bool = False,
              **kwargs: Any) -> Any:
        """Calls method (first in version) on host; ServiceTooOld when the pin is lower.

        repeatable: the call changes nothing on the agent (or changes it the same way each
        time), so it is sent again after [conductor] call_try_timeout without an answer,
        until rpc_timeout (else compute_rpc_timeout) has passed: a request or answer lost
        with a broker restart costs one short try."""
        rpc.require_version(self.client, SERVICE, method, version)
        total = rpc_timeout or CONF.conductor.compute_rpc_timeout
        if not repeatable:
            return self.client.prepare(server=host, version=version, timeout=total).call(
                ctxt, method, **kwargs)
        per_try = min(CONF.conductor.call_try_timeout, total)
        deadline = time.monotonic() + total
        while True:
            left = deadline - time.monotonic()
            try:
                return self.client.prepare(server=host, version=version,
                                           timeout=max(1.0, min(per_try, left))).call(
                    ctxt, method, **kwargs)
            except messaging.MessagingTimeout:
                if deadline - time.monotonic() < 1.0:
                    raise
                LOG.info('%s on %s: no answer within %.0f s; asking again', method, host,
                         min(per_try, left))
            except messaging.MessageDeliveryFailure as exc:
                # The broker is away ([conductor] rpc_retry reconnections failed): try
                # again shortly, while the time lasts.
                if deadline - time.monotonic() < 2.0:
                    raise
                LOG.info('%s on %s: not delivered (%s); trying again', method, host, exc)
                time.sleep(1.0)

    def get_domain_state(self, ctxt: RequestContext, host: str, instance_uuid: str,
                         rpc_timeout: float | None = None) -> payloads.DomainState:
        return self._call(ctxt, host, 'get_domain_state', repeatable=True,
                          rpc_timeout=rpc_timeout, instance_uuid=instance_uuid)

    def audit_domains(self, ctxt: RequestContext, host: str,
                      job_uuids: list[str]) -> payloads.DomainAudit:
        """The host's domains and which of job_uuids have a migration job there (1.6)."""
        return self._call(ctxt, host, 'audit_domains', repeatable=True, version='1.6',
                          job_uuids=job_uuids)

    def peer_domain_state(self, ctxt: RequestContext, host: str, instance_uuid: str,
                          peer_uri: str) -> payloads.PeerDomainState:
        return self._call(ctxt, host, 'peer_domain_state', repeatable=True, version='1.7',
                          instance_uuid=instance_uuid, peer_uri=peer_uri)

    def measure_dirty_rate(self, ctxt: RequestContext, host: str, instance_uuid: str,
                           seconds: int) -> dict[str, Any]:
        """{'dirty_rate': bytes/s, 'seconds', 'mode'} measured on host by the hypervisor (1.8).
        Waits `seconds` for QEMU to measure, so the call's timeout covers that too."""
        return self._call(ctxt, host, 'measure_dirty_rate', version='1.8',
                          rpc_timeout=seconds + CONF.conductor.compute_rpc_timeout,
                          instance_uuid=instance_uuid, seconds=seconds)

    def get_disks(self, ctxt: RequestContext, host: str,
                  instance_uuid: str) -> list[payloads.DiskInfo]:
        return self._call(ctxt, host, 'get_disks', repeatable=True,
                          instance_uuid=instance_uuid)

    def check_can_live_migrate_destination(self, ctxt: RequestContext, host: str,
                                           instance_uuid: str,
                                           memory_mb: int) -> payloads.DestinationCheck:
        return self._call(ctxt, host, 'check_can_live_migrate_destination', repeatable=True,
                          instance_uuid=instance_uuid, memory_mb=memory_mb)

    def create_shared_probe(self, ctxt: RequestContext, host: str, directory: str) -> str:
        # Repeated, a lost answer leaves the probe file of the first try behind, as the
        # failed call would: a few bytes in the shared directory, not a stuck migration.
        return self._call(ctxt, host, 'create_shared_probe', repeatable=True,
                          directory=directory)

    def check_shared_probe(self, ctxt: RequestContext, host: str, directory: str,
                           name: str) -> bool:
        return self._call(ctxt, host, 'check_shared_probe', repeatable=True,
                          directory=directory, name=name)

    def remove_shared_probe(self, ctxt: RequestContext, host: str, directory: str,
                            name: str) -> None:
        # Nobody waits for the probe file to go: it is off the migration's critical path.
        self.client.prepare(server=host).cast(ctxt, 'remove_shared_probe',
                                              directory=directory, name=name)

    def live_migrate(self, ctxt: RequestContext, host: str, migration_id: str,
                     instance_uuid: str, dest_uri: str, migrate_disks: list[str],
                     conductor: str,
                     controls: payloads.MigrationControls | None = None) -> None:
        """Starts the job on the source host; returns once libvirt has it.

        controls: the convergence settings the agent applies and watches (1.3)."""
        kwargs: dict[str, Any] = {}
        version = '1.0'
        if controls is not None:
            if self.client.can_send_version('1.3'):
                kwargs['controls'] = controls
                version = '1.3'
            else:
                # An agent before 1.3 runs the job as it always did: libvirt's defaults,
                # the conductor's migration_timeout as the only bound.
                LOG.warning('Live migration %s starts without its convergence settings: '
                            '[upgrade_levels] compute is %s, they need 1.3', migration_id,
                            self.client.version_cap)
        return self.client.prepare(server=host, version=version).call(
            ctxt, 'live_migrate', migration_id=migration_id, instance_uuid=instance_uuid,
            dest_uri=dest_uri, migrate_disks=migrate_disks, conductor=conductor, **kwargs)

    def live_migration_force_complete(self, ctxt: RequestContext, host: str,
                                      instance_uuid: str) -> payloads.ForceCompleteResult:
        """Makes the job of instance_uuid on its source host finish: post-copy when it was
        permitted, else the guest is paused. Answers {'forced': 'post_copy'|'paused'} (1.3)."""
        return self._call(ctxt, host, 'live_migration_force_complete', version='1.3',
                          instance_uuid=instance_uuid)

    def create_migration_disks(self, ctxt: RequestContext, host: str, instance_uuid: str,
                               specs: list[payloads.DiskSpec]) -> list[str]:
        """Pre-creates the disks of an incoming block migration on host; the paths."""
        return self._call(ctxt, host, 'create_migration_disks', version='1.1',
                          instance_uuid=instance_uuid, specs=specs)

    def remove_unused_disks(self, ctxt: RequestContext, host: str, instance_uuid: str,
                            paths: list[str]) -> payloads.UnusedDisksResult:
        """Deletes disk files on host that no domain there uses: {'removed', 'kept'}."""
        return self._call(ctxt, host, 'remove_unused_disks', version='1.1',
                          instance_uuid=instance_uuid, paths=paths)

    def abort_live_migration(self, ctxt: RequestContext, host: str, migration_id: str,
                             instance_uuid: str) -> bool:
        """Cancels the running job on the source host; False when none was running."""
        return self._call(ctxt, host, 'abort_live_migration', version='1.1',
                          migration_id=migration_id, instance_uuid=instance_uuid)

    def migration_job_active(self, ctxt: RequestContext, host: str,
                             instance_uuid: str) -> bool:
        """True while an outgoing migration job of the instance runs on host."""
        return self._call(ctxt, host, 'migration_job_active', repeatable=True, version='1.4',
                          instance_uuid=instance_uuid)

    def cleanup_incoming(self, ctxt: RequestContext, host: str, instance_uuid: str) -> None:
        return self._call(ctxt, host, 'cleanup_incoming', instance_uuid=instance_uuid)

    def report_now(self, ctxt: RequestContext, host: str) -> None:
        self.client.prepare(server=host).cast(ctxt, 'report_now')

    # -- cold migration (1.2) ---------------------------------------------------------------

    def get_domain_xml(self, ctxt: RequestContext, host: str, instance_uuid: str) -> str:
        return self._call(ctxt, host, 'get_domain_xml', repeatable=True, version='1.2',
                          instance_uuid=instance_uuid)

    def power_off_instance(self, ctxt: RequestContext, host: str, instance_uuid: str,
                           timeout: float) -> payloads.PowerOffResult:
        """Graceful shutdown, forced after timeout seconds; answers once it is off."""
        return self._call(ctxt, host, 'power_off_instance', version='1.2',
                          rpc_timeout=timeout + CONF.conductor.compute_rpc_timeout,
                          instance_uuid=instance_uuid, timeout=timeout)

    def start_instance(self, ctxt: RequestContext, host: str, instance_uuid: str) -> None:
        # A guest running already is left as it is.
        return self._call(ctxt, host, 'start_instance', repeatable=True, version='1.2',
                          instance_uuid=instance_uuid)

    def prepare_cold_destination(self, ctxt: RequestContext, host: str, instance_uuid: str,
                                 paths: list[str]) -> dict[str, str]:
        # Only checks that nothing is in the copy's way, and plans the paths.
        return self._call(ctxt, host, 'prepare_cold_destination', repeatable=True,
                          version='1.2', instance_uuid=instance_uuid, paths=paths)

    def cold_destination_paths(self, ctxt: RequestContext, host: str, instance_uuid: str,
                               paths: list[str]) -> dict[str, str]:
        """{source path: where host puts (or put) its copy}."""
        return self._call(ctxt, host, 'cold_destination_paths', repeatable=True, version='1.4',
                          instance_uuid=instance_uuid, paths=paths)

    def export_disks(self, ctxt: RequestContext, host: str, migration_id: str,
                     paths: list[str], psk: str | None,
                     encrypt: bool) -> payloads.DiskExports | None:
        """Exports the disks at paths on the source host for the nbd copy; None when that
        host copies by stream (1.10). Asked again, it replaces the first call's exports."""
        return self._call(ctxt, host, 'export_disks', version='1.10',
                          migration_id=migration_id, paths=paths, psk=psk, encrypt=encrypt)

    def stop_disk_exports(self, ctxt: RequestContext, host: str, migration_id: str) -> int:
        """Stops what is left of the migration's exports on host (1.10)."""
        return self._call(ctxt, host, 'stop_disk_exports', repeatable=True, version='1.10',
                          migration_id=migration_id)

    def copy_disks(self, ctxt: RequestContext, host: str, migration_id: str,
                   source_uri: str, disks: list[payloads.DiskCopy], bandwidth: int | None,
                   conductor: str, exports: payloads.DiskExports | None = None,
                   psk: str | None = None) -> list[str]:
        """Starts the copy on the target host; answers the created paths once it runs.
        exports (1.10): pulled from the source's nbd exports, with the key psk."""
        kwargs: dict[str, Any] = {}
        version = '1.2'
        if exports is not None:
            if self.client.can_send_version('1.10'):
                kwargs = {'exports': exports, 'psk': psk}
                version = '1.10'
            else:
                # The conductor asks for exports only when it may (export_disks is 1.10):
                # an agent before 1.10 pulls by stream, as it always did.
                LOG.warning('Disk copy of migration %s goes by libvirt stream: '
                            '[upgrade_levels] compute is %s, nbd needs 1.10', migration_id,
                            self.client.version_cap)
        return self._call(ctxt, host, 'copy_disks', version=version,
                          migration_id=migration_id, source_uri=source_uri, disks=disks,
                          bandwidth=bandwidth, conductor=conductor, **kwargs)

    def disk_copy_active(self, ctxt: RequestContext, host: str, migration_id: str) -> bool:
        """True while the copy of migration_id runs on host (1.5)."""
        return self._call(ctxt, host, 'disk_copy_active', repeatable=True, version='1.5',
                          migration_id=migration_id)

    def disk_copy_state(self, ctxt: RequestContext, host: str,
                        migration_id: str) -> payloads.DiskCopyState:
        """{'active': the copy still runs, 'outcome': its end as the agent cast it, or None}
        (1.9)."""
        return self._call(ctxt, host, 'disk_copy_state', repeatable=True, version='1.9',
                          migration_id=migration_id)

    def abort_disk_copy(self, ctxt: RequestContext, host: str, migration_id: str) -> bool:
        return self._call(ctxt, host, 'abort_disk_copy', version='1.2',
                          migration_id=migration_id)

    def define_instance(self, ctxt: RequestContext, host: str, xml: str,
                        disk_paths: dict[str, str], start: bool) -> str:
        # Defining the same XML again changes nothing; a guest started by the first try
        # is not started twice.
        return self._call(ctxt, host, 'define_instance', repeatable=True, version='1.2',
                          xml=xml, disk_paths=disk_paths, start=start)

    def remove_migrated_copy(self, ctxt: RequestContext, host: str, migration_id: str,
                             instance_uuid: str, volumes: list[str]) -> None:
        return self._call(ctxt, host, 'remove_migrated_copy', version='1.2',
                          rpc_timeout=CONF.compute.copy_abort_timeout
                          + CONF.conductor.compute_rpc_timeout,
                          migration_id=migration_id, instance_uuid=instance_uuid,
                          volumes=volumes)

    def remove_source_copy(self, ctxt: RequestContext, host: str, instance_uuid: str,
                           volumes: list[str]) -> None:
        # What is gone already is skipped.
        return self._call(ctxt, host, 'remove_source_copy', repeatable=True, version='1.2',
                          instance_uuid=instance_uuid, volumes=volumes)
