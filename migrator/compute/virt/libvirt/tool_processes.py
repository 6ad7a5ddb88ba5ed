"""The qemu-nbd and qemu-img processes of nbd disk copies, recorded so that they can be
stopped by pid, also by the next agent process.

An agent killed mid-copy leaves its tools running: a source's qemu-nbd export waits for a
client that never comes (it only exits by itself once its one client has come and gone),
a target's qemu-img writes on into a volume that the rollback is about to delete. Each
process is recorded in the agent's state directory
(<[DEFAULT] state_path>/disk-copy/<host>-<uri digest>/<migration id>/<name>.pid: the pid, and on a
second line a string its command line must contain). A record is stopped only when that
process still runs and its command line still contains the string, so a pid the kernel
gave to another process since is never signalled.

The migration's directory also holds its TLS-PSK keys (psk_keys), so removing the
directory removes the keys with the records.
"""

import os
import re
import shutil
import signal
import time

from oslo_log import log as logging

from migrator.common import exceptions

LOG = logging.getLogger(__name__)

# A migration id becomes a directory name: nothing that could leave the records' directory.
_SAFE_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$')

# How long a process has after SIGTERM before SIGKILL.
TERM_GRACE = 5.0


def running_with(pid, marker):
    """True when pid runs and its command line contains marker. A zombie no longer runs
    once it is its last thread (while the other threads of an exiting process still
    run, its leader shows as a zombie but its sockets are still open)."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            cmdline = f.read()
        with open(f'/proc/{pid}/status') as f:
            status = dict(line.split(':', 1) for line in f if ':' in line)
    except (FileNotFoundError, ProcessLookupError):
        return False
    if status.get('State', '').strip().startswith('Z'):
        return int(status.get('Threads', '1')) > 1
    return marker.encode() in cmdline.replace(b'\0', b' ')


def stop_pid(pid, marker, grace=TERM_GRACE):
    """SIGTERM, then SIGKILL after grace seconds; True when it was running."""
    if not running_with(pid, marker):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace
    while running_with(pid, marker):
        if time.monotonic() > deadline:
            LOG.warning('Process %d (%s) ignored SIGTERM for %.0fs; killing it', pid, marker,
                        grace)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        # Not a child of ours (qemu-nbd --fork daemonises): nothing to wait on but /proc.
        time.sleep(0.02)
    return True


class ProcessRecords:
    """The records of one agent (one host) under directory."""

    def __init__(self, directory):
        self.directory = directory

    def migration_dir(self, migration_id, create=False):
        if not _SAFE_ID.match(str(migration_id)):
            raise exceptions.Invalid(f'migration id {migration_id!r} is not usable as a '
                                     f'directory name')
        path = os.path.join(self.directory, str(migration_id))
        if create:
            os.makedirs(path, mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)
        return path

    def pid_file(self, migration_id, name):
        return os.path.join(self.migration_dir(migration_id, create=True), f'{name}.pid')

    def record(self, migration_id, name, pid, marker):
        """Records a process this agent started itself (for one qemu-nbd writes its own)."""
        path = self.pid_file(migration_id, name)
        with open(path, 'w') as f:
            f.write(f'{pid}\n{marker}\n')
        return path

    def forget(self, migration_id, name):
        try:
            os.unlink(self.pid_file(migration_id, name))
        except FileNotFoundError:
            pass

    def _stop_file(self, path):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
            pid = int(lines[0])
        except (FileNotFoundError, ValueError, IndexError):
            return False
        # A pid file qemu-nbd wrote holds the pid only; its command line names the file.
        marker = lines[1] if len(lines) > 1 and lines[1] else path
        stopped = stop_pid(pid, marker)
        if stopped:
            LOG.info('Stopped process %d (%s)', pid, os.path.basename(path))
        return stopped

    def stop(self, migration_id, remove=True):
        """Stops every recorded process of the migration; removes its directory (records
        and keys) when remove. The number of processes that were still running."""
        directory = self.migration_dir(migration_id)
        if not os.path.isdir(directory):
            return 0
        stopped = sum(self._stop_file(os.path.join(directory, name))
                      for name in sorted(os.listdir(directory)) if name.endswith('.pid'))
        if remove:
            shutil.rmtree(directory, ignore_errors=True)
        return stopped

    def stop_leftovers(self):
        """At agent start: what an earlier process of this agent left running is stopped
        and its records and keys removed. {migration id: processes stopped}."""
        if not os.path.isdir(self.directory):
            return {}
        found = {}
        for migration_id in sorted(os.listdir(self.directory)):
            try:
                found[migration_id] = self.stop(migration_id)
            except exceptions.Invalid:
                LOG.warning('Ignoring %s in %s', migration_id, self.directory)
        stopped = {m: n for m, n in found.items() if n}
        if stopped:
            LOG.warning('Stopped disk copy processes an earlier agent left running: %s',
                        stopped)
        return found
