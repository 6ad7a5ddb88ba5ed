"""A cold migration's disk copy: libvirt storage-volume streams from the source daemon.

The target host's agent drives the copy (it pulls): it opens a second libvirt connection to
the source daemon's URI (the URI the source agent reports as its hypervisor_uri), and for
each disk chains a sparse download from the source volume into a sparse upload to a volume
it created in its own image directory. Why the target:

- no SSH or shared secret between hosts: both daemons already accept the peer connections
  that live migration needs, and the data goes through libvirt's own protocol;
- the target creates the volumes, so it is the one that knows what to delete when the copy
  fails or is aborted, without another round trip; the source stays read-only until the
  guest runs on the target;
- on a real fleet the agent runs on the target host, so the data crosses the network once
  (source daemon -> target agent) and reaches the target daemon locally.

Sparse: holes are skipped on the source side (SEEK_HOLE) and recreated as holes on the
target (sendHole), so a mostly empty image costs only its data. The image is copied as the
file it is (a qcow2 stays a qcow2, byte for byte), not converted.

Progress counts the data bytes sent against the source volumes' allocation (bytes on disk),
so the percentage follows the work that takes time; holes cost nothing and count nothing.
"""

import os
import threading
import time
from xml.etree import ElementTree

import libvirt
from oslo_log import log as logging

from migrator.common import exceptions
from migrator.compute.virt.libvirt import remote, storage

LOG = logging.getLogger(__name__)

# libvirt's RPC carries at most 256 KiB of stream data per message; asking for more only
# returns less.
CHUNK = 256 * 1024


def copy_stats(total, processed, started):
    """A disk copy's progress figures, as the conductor's samples take them, from the bytes
    it counts in all (total), those done and its start (time.monotonic(), or None)."""
    elapsed = time.monotonic() - started if started else 0.0
    total = max(total, processed)
    return {
        'disk_total': total,
        'disk_processed': processed,
        'disk_remaining': total - processed,
        'data_total': total,
        'data_processed': processed,
        'data_remaining': total - processed,
        'disk_bps': int(processed / elapsed) if elapsed > 0 else None,
        'elapsed_ms': int(elapsed * 1000),
    }


def target_path(images_path, source_path):
    """Where a copied disk goes on the target: its image directory, the same file name."""
    return os.path.join(images_path, os.path.basename(source_path))


def volume_facts(vol):
    """allocation (bytes on disk), physical (file length) and backing path of a volume."""
    root = ElementTree.fromstring(vol.XMLDesc(0))
    _type, capacity, allocation = vol.info()
    physical = root.findtext('physical')
    return {
        'capacity': capacity,
        'allocation': allocation,
        'physical': int(physical) if physical else allocation,
        'backing': root.findtext('backingStore/path'),
    }


def lookup_volume(conn, path, refresh=True):
    """The volume at path, through a pool over its directory (made transient if none)."""
    pool, _made = storage.pool_for_directory(conn, os.path.dirname(path))
    if refresh:
        pool.refresh(0)
    return pool.storageVolLookupByName(os.path.basename(path))


def volume_exists(conn, path):
    try:
        lookup_volume(conn, path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return False
        raise
    return True


def delete_volume(conn, path):
    """Deletes the volume at path; True when it existed. UnmanagedPath when path is outside
    the storage this agent manages (storage.check_deletable)."""
    storage.check_deletable(conn, path)
    try:
        vol = lookup_volume(conn, path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return False
        raise
    vol.delete(0)
    return True


def create_volume(conn, path, length):
    """A raw sparse volume of length bytes at path, to receive an image file as it is."""
    pool, _made = storage.pool_for_directory(conn, os.path.dirname(path))
    return pool.createXML(storage.volume_xml(os.path.basename(path), 'raw', length), 0)


class DiskCopyJob:
    """Copies disks [{'path', 'target_path'}] from source_conn into local_conn, in a thread.

    on_progress(stats) every `interval` seconds, on_done(outcome) exactly once at the end
    with {'success', 'error', 'stats', 'volumes'} (volumes: the target paths it created,
    which are deleted again when the copy does not succeed). abort() stops it within one
    chunk. bandwidth: bytes per second at most (None: as fast as it goes).
    """

    def __init__(self, migration_id, source_uri, local_conn, disks, on_progress, on_done,
                 interval, bandwidth=None):
        self.migration_id = migration_id
        self.source_uri = source_uri
        self.local_conn = local_conn
        self.disks = disks
        self.on_progress = on_progress
        self.on_done = on_done
        self.interval = interval
        self.bandwidth = bandwidth
        self.created = []
        self.total = 0
        self.processed = 0
        self._aborted = threading.Event()
        self._ended = threading.Event()
        self._thread = None
        self._started = None
        self._source_conn = None

    # -- control ----------------------------------------------------------------------------

    def prepare(self):
        """Connects to the source, checks the disks and creates the target volumes.

        Runs in the caller's thread, so a refusal (a backing file, a volume already on the
        target) reaches the conductor as the answer to its call. Nothing is left behind when
        it raises.
        """
        try:
            self._source_conn = libvirt.open(self.source_uri)
        except libvirt.libvirtError as exc:
            raise exceptions.MigrationFailed(
                reason=f'cannot reach the source daemon at {self.source_uri}: ' +
                       remote.explain_connect_failure(self.source_uri,
                                                      exc.get_error_message())) from exc
        try:
            # A source daemon that dies mid-copy must fail the stream, not hang it. Needs
            # the libvirt event loop, which the agent always runs.
            self._source_conn.setKeepAlive(5, 3)
        except libvirt.libvirtError as exc:
            LOG.warning('Migration %s: no keep-alives to %s: %s', self.migration_id,
                        self.source_uri, exc.get_error_message())
        try:
            for disk in self.disks:
                facts = volume_facts(lookup_volume(self._source_conn, disk['path']))
                if facts['backing']:
                    raise exceptions.MigrationFailed(
                        reason=f"disk {disk['path']} has a backing file {facts['backing']}; "
                               f"cold migration copies standalone images only")
                disk.update(facts)
                self.total += facts['allocation']
            for disk in self.disks:
                if volume_exists(self.local_conn, disk['target_path']):
                    raise exceptions.Conflict(
                        f"{disk['target_path']} already exists on this host; not "
                        f"overwriting it")
                create_volume(self.local_conn, disk['target_path'], disk['physical'])
                self.created.append(disk['target_path'])
        except BaseException:
            self._remove_created()
            self._close_source()
            raise

    def start(self):
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f'copy-{self.migration_id}',
                                        daemon=True)
        self._thread.start()
        threading.Thread(target=self._monitor, name=f'copy-progress-{self.migration_id}',
                         daemon=True).start()

    def abort(self):
        self._aborted.set()

    def wait(self, timeout):
        """True once the job has ended (its volumes are gone if it failed)."""
        return self._ended.wait(timeout)

    # -- the copy ---------------------------------------------------------------------------

    def _run(self):
        error = None
        try:
            for disk in self.disks:
                self._copy_one(disk)
        except Exception as exc:
            error = ('disk copy aborted' if self._aborted.is_set()
                     else f'disk copy failed: {exc}')
            LOG.warning('Migration %s: %s', self.migration_id, error)
        finally:
            self._close_source()
        if error is not None:
            self._remove_created()
        stats = self.stats()
        if error is None:
            LOG.info('Migration %s: copied %d bytes of data in %.2fs', self.migration_id,
                     self.processed, time.monotonic() - self._started)
        self._ended.set()
        self.on_done({'success': error is None, 'error': error, 'stats': stats,
                      'volumes': [] if error else list(self.created)})

    def _copy_one(self, disk):
        source_vol = lookup_volume(self._source_conn, disk['path'], refresh=False)
        target_vol = lookup_volume(self.local_conn, disk['target_path'], refresh=False)
        download = self._source_conn.newStream(0)
        upload = self.local_conn.newStream(0)
        streams = (download, upload)
        try:
            source_vol.download(download, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
            target_vol.upload(upload, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
            while True:
                if self._aborted.is_set():
                    raise exceptions.MigrationAborted(reason='disk copy aborted')
                got = download.recvFlags(CHUNK, libvirt.VIR_STREAM_RECV_STOP_AT_HOLE)
                if got == -3:       # the source is at a hole: make the same hole here
                    upload.sendHole(download.recvHole(0), 0)
                    continue
                if isinstance(got, int):
                    raise exceptions.MigrationFailed(reason=f'stream receive returned {got}')
                if not got:
                    break
                upload.send(got)
                self.processed += len(got)
                self._throttle()
            download.finish()
            upload.finish()
            streams = ()
        finally:
            for stream in streams:
                try:
                    stream.abort()
                except libvirt.libvirtError:
                    pass

    def _throttle(self):
        """Keeps the average rate under the bandwidth cap; an abort ends the wait at once."""
        if not self.bandwidth:
            return
        ahead = self.processed / self.bandwidth - (time.monotonic() - self._started)
        if ahead > 0:
            self._aborted.wait(ahead)

    # -- reporting and cleaning -------------------------------------------------------------

    def stats(self):
        return copy_stats(self.total, self.processed, self._started)

    def _monitor(self):
        while not self._ended.wait(self.interval):
            try:
                self.on_progress(self.stats())
            except Exception:
                LOG.exception('Migration %s: progress report failed', self.migration_id)

    def _remove_created(self):
        for path in reversed(self.created):
            try:
                delete_volume(self.local_conn, path)
            except libvirt.libvirtError:
                LOG.exception('Migration %s: could not delete %s', self.migration_id, path)
        self.created = []

    def _close_source(self):
        if self._source_conn is not None:
            try:
                self._source_conn.close()
            except libvirt.libvirtError:
                pass
            self._source_conn = None
