"""The cold-migration steps of the libvirt driver, on either host.

Source: the persistent definition, a graceful power-off that falls back to a forced one, and,
once the guest runs elsewhere, the removal of the definition and the copied disks. Target:
the checks before anything moves, the disk copy job (disk_copy), the definition with the
disk paths moved to the copies, and the removal of all of it when the migration is undone.

A mixin of LibvirtDriver: it uses the driver's connection (self.conn), its domain lookup and
its job lock; self._copies and self._stop_waiters are set up in the driver's __init__.

Two data paths for the disks ([compute] disk_copy_method, read on the source): libvirt
storage-volume streams (disk_copy), or qemu-nbd exports on the source (nbd_export) pulled
by qemu-img on the target (nbd_copy), whose processes are recorded in
<state_path>/disk-copy/<host>-<digest of its URI> and stopped when an agent starts.
"""

import hashlib
import os
import threading
import time
import urllib.parse

import libvirt
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions
from migrator.compute.virt.libvirt import (
    disk_copy,
    domain_xml,
    nbd_copy,
    nbd_export,
    tool_processes,
)

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class ColdMigrationMixin:
    _tool_records = None

    def _init_disk_copy(self):
        """At agent start, once connected: the qemu-nbd and qemu-img an earlier process of
        this agent left running are stopped (by pid), their keys removed. (The options
        were checked before the connection: nbd_export.check_config.)"""
        self.tool_records.stop_leftovers()

    @property
    def tool_records(self):
        """The records of this agent's tool processes: one directory per host name and
        hypervisor URI, so agents sharing a state_path (one machine running several, as
        the sandbox does) never stop each other's."""
        if self._tool_records is None:
            digest = hashlib.sha256(self.uri.encode()).hexdigest()[:12]
            self._tool_records = tool_processes.ProcessRecords(
                os.path.join(CONF.state_path, 'disk-copy', f'{self.host}-{digest}'))
        return self._tool_records

    def export_address(self):
        """Where this host's disk exports listen: [compute] disk_export_address, else the
        host of its migration URI (the address live migrations reach it on)."""
        if CONF.compute.disk_export_address:
            return CONF.compute.disk_export_address
        address = urllib.parse.urlsplit(self.migration_uri).hostname
        if not address:
            raise exceptions.MigrationFailed(
                reason=f'no address to export disks on: the migration URI '
                       f'{self.migration_uri} names no host; set [compute] '
                       f'disk_export_address')
        return address

    def export_disks(self, migration_id, paths, psk, encrypt):
        """None when this host copies by stream ([compute] disk_copy_method): the target
        then pulls through libvirt as before. Else the exports (nbd_export)."""
        if CONF.compute.disk_copy_method != 'nbd':
            return None
        return nbd_export.Exporter(self.tool_records, self.tool_wrapper).export(
            migration_id, paths, self.export_address(), psk, encrypt)

    def stop_disk_exports(self, migration_id):
        return nbd_export.Exporter(self.tool_records, self.tool_wrapper).stop(migration_id)

    def _domain_stopped(self, uuid):
        """From the lifecycle event: wakes a power_off waiting for this domain."""
        with self._jobs_lock:
            stopped = self._stop_waiters.get(uuid)
        if stopped is not None:
            stopped.set()

    def get_domain_xml(self, uuid):
        dom = self._lookup(uuid)
        if not dom.isPersistent():
            # A transient domain vanishes when it stops: nothing would be left to define.
            raise exceptions.Conflict(f'domain {uuid} on {self.host} is transient; cold '
                                      f'migration needs a persistent definition')
        # The persistent definition (what a define on another host needs), with secrets.
        return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)

    def power_off(self, uuid, timeout):
        dom = self._lookup(uuid)
        if not dom.isActive():
            return {'was_running': False, 'forced': False}
        stopped = threading.Event()
        with self._jobs_lock:
            self._stop_waiters[uuid] = stopped
        try:
            try:
                dom.shutdown()
            except libvirt.libvirtError as exc:
                # A guest without ACPI (or still booting) refuses the request; the timeout
                # path below forces it off.
                LOG.info('ACPI shutdown of %s refused: %s', uuid, exc.get_error_message())
            else:
                stopped.wait(timeout)
            if not dom.isActive():
                return {'was_running': True, 'forced': False}
            LOG.info('%s did not shut down within %ss; forcing it off', uuid, timeout)
            try:
                dom.destroy()
            except libvirt.libvirtError:
                if dom.isActive():
                    raise
            return {'was_running': True, 'forced': True}
        finally:
            with self._jobs_lock:
                self._stop_waiters.pop(uuid, None)

    def start_domain(self, uuid):
        dom = self._lookup(uuid)
        if not dom.isActive():
            dom.create()

    def prepare_cold_destination(self, uuid, paths):
        try:
            self._lookup(uuid)
        except exceptions.InstanceNotFound:
            pass
        else:
            raise exceptions.Conflict(f'instance {uuid} is already defined on {self.host}')
        planned = {}
        for path, target in self.cold_destination_paths(uuid, paths).items():
            if target in planned.values():
                raise exceptions.Conflict(f'two disks of {uuid} would both be copied to '
                                          f'{target}')
            if disk_copy.volume_exists(self.conn, target):
                raise exceptions.Conflict(f'{target} already exists on {self.host}; not '
                                          f'overwriting it with a copy of {path}')
            planned[path] = target
        return planned

    def cold_destination_paths(self, uuid, paths):
        return {path: disk_copy.target_path(CONF.libvirt.images_path, path) for path in paths}

    def copy_disks(self, migration_id, source_uri, disks, on_progress, on_done, bandwidth,
                   exports=None, psk=None):
        def done(outcome):
            # An ended job has nothing left to stop: on failure it removed its volumes.
            with self._jobs_lock:
                if self._copies.get(migration_id) is job:
                    del self._copies[migration_id]
            on_done(outcome)

        if exports is not None:
            job = nbd_copy.NbdCopyJob(migration_id, exports, self.conn,
                                      [dict(d) for d in disks], psk, self.tool_records,
                                      on_progress, done, CONF.compute.progress_interval,
                                      bandwidth, wrapper=self.tool_wrapper)
        else:
            # With remote_transport = tls the disks' contents come over qemu+tls:// only.
            source_uri = self.peer_uri(source_uri)
            job = disk_copy.DiskCopyJob(migration_id, source_uri, self.conn,
                                        [dict(d) for d in disks], on_progress, done,
                                        CONF.compute.progress_interval, bandwidth)
        with self._jobs_lock:
            running = self._copies.get(migration_id)
            if running is not None and not running.wait(0):
                raise exceptions.Conflict(f'the disk copy of migration {migration_id} '
                                          f'already runs here')
            self._copies[migration_id] = job
        try:
            job.prepare()
        except BaseException:
            with self._jobs_lock:
                self._copies.pop(migration_id, None)
            raise
        job.start()
        return list(job.created)

    def disk_copy_active(self, migration_id):
        with self._jobs_lock:
            job = self._copies.get(migration_id)
        return job is not None and not job.wait(0)

    def abort_disk_copy(self, migration_id):
        with self._jobs_lock:
            job = self._copies.get(migration_id)
        if job is None:
            return False
        job.abort()
        return True

    def define_domain(self, xml, disk_paths, start):
        began = time.monotonic()
        dom = self.conn.defineXML(domain_xml.with_disk_paths(xml, disk_paths))
        defined = time.monotonic()
        # Asked again (an answer lost with the broker), the guest the first call started
        # runs already: defining the same XML again changes nothing.
        if start and not dom.isActive():
            dom.create()
        LOG.info('Defined %s in %.3fs%s', dom.UUIDString(), defined - began,
                 f', started in {time.monotonic() - defined:.3f}s' if start else '')
        return dom.UUIDString()

    def remove_migrated_copy(self, migration_id, uuid, volumes):
        """The target's rollback: the copy job stopped, the definition and volumes gone."""
        with self._jobs_lock:
            job = self._copies.pop(migration_id, None)
        if job is not None:
            job.abort()
            if not job.wait(CONF.compute.copy_abort_timeout):
                raise exceptions.HypervisorError(
                    host=self.host, reason=f'the disk copy of migration {migration_id} did '
                                           f'not stop within '
                                           f'{CONF.compute.copy_abort_timeout}s')
        try:
            dom = self._lookup(uuid)
        except exceptions.InstanceNotFound:
            dom = None
        if dom is not None:
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefineFlags(0)
        for path in volumes:
            disk_copy.delete_volume(self.conn, path)

    def remove_source_copy(self, uuid, volumes):
        """The source's last step: the shut-off definition and the copied disks go."""
        try:
            dom = self._lookup(uuid)
        except exceptions.InstanceNotFound:
            dom = None
        if dom is not None:
            if dom.isActive():
                # It runs here again (someone started it): never remove a running guest.
                raise exceptions.Conflict(f'domain {uuid} runs on {self.host}; not '
                                          f'removing it')
            dom.undefineFlags(0)
        for path in volumes:
            disk_copy.delete_volume(self.conn, path)
