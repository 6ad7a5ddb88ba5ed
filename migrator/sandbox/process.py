"""Process helpers: liveness, ownership checks and killing by pid only.

The sandbox never looks processes up by name: every pid it signals comes from
its own records (cluster.json) or from pid files under its own state directory,
and is checked to still be a libvirtd/QEMU living in one of the sandbox's
mount namespaces before it is signalled (pids get reused).
"""

import errno
import logging
import os
import signal
import time

LOG = logging.getLogger(__name__)

SANDBOX_EXES = ('libvirtd', 'qemu-system-x86_64')


def pid_alive(pid):
    """True if ``pid`` exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the parenthesised command name, which may contain ')'.
    state = stat.rsplit(')', 1)[1].split()[0]
    return state not in ('Z', 'X')


def exe_name(pid):
    """Basename of the executable of ``pid`` (or None)."""
    try:
        return os.path.basename(os.readlink(f'/proc/{pid}/exe'))
    except OSError:
        return None


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def belongs_to(pid, host_root):
    """True if ``pid`` is a libvirtd/QEMU whose /run/libvirt is ``host_root``/run.

    That is: it lives in the mount namespace of the sandbox host whose private
    directories are under ``host_root``.  Compared by device and inode through
    /proc/<pid>/root, which resolves paths in the process's own namespace (and
    chroot), so it holds however the state dir is reached.
    """
    if not pid_alive(pid) or exe_name(pid) not in SANDBOX_EXES:
        return False
    try:
        theirs = os.stat(f'/proc/{pid}/root/run/libvirt')
        ours = os.stat(os.path.join(host_root, 'run'))
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def wait_gone(pids, deadline):
    """Wait until no pid of ``pids`` is alive or ``deadline`` (monotonic) passes.

    Returns the pids still alive.
    """
    pids = [p for p in pids if pid_alive(p)]
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [p for p in pids if pid_alive(p)]
    return pids


def terminate(pids, timeout=10.0):
    """SIGTERM ``pids``, wait up to ``timeout`` s, then SIGKILL what is left.

    Returns the pids that are still alive after SIGKILL (should be none).
    """
    pids = sorted({p for p in pids if pid_alive(p)})
    if not pids:
        return []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
                LOG.debug('sent %s to %d', sig.name, pid)
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    raise
        pids = wait_gone(pids, time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0))
        if not pids:
            return []
        LOG.warning('pids %s survived %s', pids, sig.name)
    return pids

