"""The target side of the nbd disk copy: qemu-img convert from the source's qemu-nbd
exports (nbd_export) into volumes in this host's image directory.

Same contract as disk_copy.DiskCopyJob (prepare, start, abort, wait, on_progress,
on_done, created), so the driver, the agent and the conductor treat both alike:

- prepare claims each target path as an empty volume through this host's libvirtd (it
  fails when the path is taken, so a file is never overwritten) and writes the key;
- the copy runs one `qemu-img convert -p` per disk, in a thread: the image keeps its
  format (qcow2 stays qcow2, with the source's cluster size and compat level), holes stay
  holes (block status over NBD, zero detection), and its progress line gives the bytes;
- abort stops qemu-img (SIGTERM); a failed or aborted copy deletes its volumes;
- a copy that moves no data for [compute] disk_copy_stall_timeout seconds (neither its
  progress nor the bytes qemu-img wrote change) is stopped as failed: QEMU's NBD client has
  no keep-alive, so a cut network or a vanished source would otherwise hold it for the
  kernel's TCP retransmission timeout (about 15 minutes).

qemu-img runs recorded (tool_processes): an agent that dies mid-copy leaves it writing,
and the next agent process stops it before anything else.
"""

import re
import subprocess
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions
from migrator.compute.virt.libvirt import disk_copy, psk_keys, qemu_tools

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

_PERCENT = re.compile(rb'\((\d+(?:\.\d+)?)/100%\)')


def convert_command(wrapper, export, address, target_path, keys_dir, bandwidth):
    source = (f"driver=nbd,host={address},port={export['port']},"
              f"export={export['name']}")
    args = ['qemu-img', 'convert', '-p', '-O', export['format']]
    options = export.get('create_options') or {}
    if options:
        args += ['-o', ','.join(f'{k}={v}' for k, v in sorted(options.items()))]
    if bandwidth:
        args += ['-r', str(int(bandwidth))]
    if keys_dir is not None:
        args += ['--object', psk_keys.object_arg(keys_dir, 'client',
                                                 CONF.compute.disk_copy_tls_priority)]
        source += ',tls-creds=tls0'
    return qemu_tools.command(wrapper, *args, '--image-opts', source, target_path)


def bytes_written(pid):
    """What the process has written so far (/proc/<pid>/io wchar), or None."""
    try:
        with open(f'/proc/{pid}/io') as f:
            for line in f:
                if line.startswith('wchar:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def read_progress(stream, on_percent):
    """Calls on_percent(float) for each progress line qemu-img -p writes (ended by \\r);
    returns the rest of the output (its messages)."""
    buffer, other = b'', []
    while True:
        chunk = stream.read1(4096) if hasattr(stream, 'read1') else stream.read(4096)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = re.split(rb'[\r\n]', buffer)
        for line in lines:
            match = _PERCENT.search(line)
            if match:
                on_percent(float(match.group(1)))
            elif line.strip():
                other.append(line.decode(errors='replace').strip())
    if buffer.strip():
        other.append(buffer.decode(errors='replace').strip())
    return other


class NbdCopyJob:
    """Copies disks [{'path', 'target_path'}] from the exports `source` ({'address',
    'tls', 'exports'}, what the source's export_disks answered) into local_conn's storage.
    """

    def __init__(self, migration_id, source, local_conn, disks, psk, records, on_progress,
                 on_done, interval, bandwidth=None, wrapper=None):
        self.migration_id = migration_id
        self.source = source
        self.local_conn = local_conn
        self.disks = disks
        self.psk = psk
        self.records = records
        self.on_progress = on_progress
        self.on_done = on_done
        self.interval = interval
        self.bandwidth = bandwidth
        self.wrapper = wrapper
        self.created = []
        self.total = 0
        self.processed = 0
        self._aborted = threading.Event()
        self._ended = threading.Event()
        self._proc = None
        self._proc_lock = threading.Lock()
        self._started = None
        self._keys_dir = None
        self.stalled = False

    # -- control ----------------------------------------------------------------------------

    def prepare(self):
        """Checks the exports and claims the target volumes; nothing is left behind when
        it raises (the refusal reaches the conductor as the answer to its call)."""
        by_path = {e['path']: e for e in self.source.get('exports') or []}
        if self.source.get('tls'):
            if not self.psk:
                raise exceptions.MigrationFailed(
                    reason='the source exports its disks with TLS but no key came with '
                           'the copy request')
        elif qemu_tools.encryption_required():
            raise exceptions.MigrationFailed(
                reason='the source exports its disks unencrypted, but this host encrypts '
                       'migration traffic ([libvirt] remote_transport = tls or '
                       'live_migration_with_native_tls); set the same on the source host')
        qemu_tools.check_installed(self.wrapper)
        for disk in self.disks:
            export = by_path.get(disk['path'])
            if export is None:
                raise exceptions.MigrationFailed(
                    reason=f"the source did not export {disk['path']}")
            disk['export'] = export
            self.total += export['allocation']
        try:
            if self.source.get('tls'):
                self._keys_dir = psk_keys.write(
                    f'{self.records.migration_dir(self.migration_id, create=True)}/tls',
                    self.psk)
            for disk in self.disks:
                if disk_copy.volume_exists(self.local_conn, disk['target_path']):
                    raise exceptions.Conflict(
                        f"{disk['target_path']} already exists on this host; not "
                        f"overwriting it")
                # An empty claim; qemu-img writes the image over it.
                disk_copy.create_volume(self.local_conn, disk['target_path'], 0)
                self.created.append(disk['target_path'])
        except BaseException:
            self._remove_created()
            self.records.stop(self.migration_id)
            raise

    def start(self):
        self._started = time.monotonic()
        threading.Thread(target=self._run, name=f'copy-{self.migration_id}',
                         daemon=True).start()
        threading.Thread(target=self._monitor, name=f'copy-progress-{self.migration_id}',
                         daemon=True).start()

    def abort(self):
        self._aborted.set()
        with self._proc_lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    def wait(self, timeout):
        return self._ended.wait(timeout)

    # -- the copy ---------------------------------------------------------------------------

    def _run(self):
        error = None
        try:
            done = 0
            for index, disk in enumerate(self.disks):
                self._copy_one(index, disk, done)
                done += disk['export']['allocation']
                self.processed = done
        except Exception as exc:
            if self.stalled:
                error = (f'disk copy failed: no data from {self.source["address"]} for '
                         f'{CONF.compute.disk_copy_stall_timeout}s (network cut, or the '
                         f'source host gone?)')
            elif self._aborted.is_set():
                error = 'disk copy aborted'
            else:
                error = f'disk copy failed: {exc}'

            LOG.warning('Migration %s: %s', self.migration_id, error)
        if error is not None:
            self._remove_created()
        # The key and the records go; a process still running (none: each was waited
        # for) would be stopped with them.
        self.records.stop(self.migration_id)
        stats = self.stats()
        if error is None:
            LOG.info('Migration %s: copied %d bytes of data over NBD in %.2fs',
                     self.migration_id, self.processed, time.monotonic() - self._started)
        self._ended.set()
        self.on_done({'success': error is None, 'error': error, 'stats': stats,
                      'volumes': [] if error else list(self.created)})

    def _copy_one(self, index, disk, done):
        export = disk['export']
        args = convert_command(self.wrapper, export, self.source['address'], disk['target_path'],
                               self._keys_dir, self.bandwidth)
        with self._proc_lock:
            if self._aborted.is_set():
                raise exceptions.MigrationAborted(reason='disk copy aborted')
            self._proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT)
        name = f'convert-{index}'
        self.records.record(self.migration_id, name, self._proc.pid, disk['target_path'])
        try:
            allocation = export['allocation']

            def on_percent(percent):
                self.processed = done + int(allocation * percent / 100.0)

            messages = read_progress(self._proc.stdout, on_percent)
            status = self._proc.wait()
        finally:
            with self._proc_lock:
                if self._proc.poll() is None:
                    self._proc.kill()
                    self._proc.wait()
                self._proc.stdout.close()
                self._proc = None
            self.records.forget(self.migration_id, name)
        if self._aborted.is_set():
            raise exceptions.MigrationAborted(reason='disk copy aborted')
        if status != 0:
            raise exceptions.MigrationFailed(
                reason=f"qemu-img convert of {disk['path']} from "
                       f"{self.source['address']}:{export['port']} exited with {status}: "
                       f"{' '.join(messages)[-500:]}")

    # -- reporting and cleaning -------------------------------------------------------------

    def stats(self):
        return disk_copy.copy_stats(self.total, self.processed, self._started)

    def _monitor(self):
        last, moved = None, time.monotonic()
        while not self._ended.wait(self.interval):
            try:
                self.on_progress(self.stats())
            except Exception:
                LOG.exception('Migration %s: progress report failed', self.migration_id)
            with self._proc_lock:
                pid = self._proc.pid if self._proc is not None else None
            now = (pid, self.processed, bytes_written(pid) if pid else None)
            if now != last:
                last, moved = now, time.monotonic()
            elif time.monotonic() - moved > CONF.compute.disk_copy_stall_timeout:
                LOG.warning('Migration %s: no data for %ss; stopping the copy',
                            self.migration_id, CONF.compute.disk_copy_stall_timeout)
                self.stalled = True
                self.abort()
                return

    def _remove_created(self):
        for path in reversed(self.created):
            try:
                disk_copy.delete_volume(self.local_conn, path)
            except Exception:
                LOG.exception('Migration %s: could not delete %s', self.migration_id, path)
        self.created = []
