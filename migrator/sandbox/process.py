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
import subprocess
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


# -- servers the sandbox starts (Keystone, Horizon), each known by its pid file ------------

def pidfile_process(path):
    """The pid recorded in ``path`` if that process still exists, else None."""
    pid = read_pidfile(path)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def spawn_server(argv, pid_file, log_path, env=None, cwd=None):
    """Start a server in a session of its own, its output appended to ``log_path``, its pid
    written to ``pid_file``; returns the Popen."""
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    with open(pid_file, 'w') as f:
        f.write(f'{proc.pid}\n')
    return proc


def wait_serving(proc, answers, timeout, *, what, url, logs, error, stop):
    """Wait until ``answers()``; if the server exits first, or ``timeout`` s pass (then
    ``stop()`` is called), raise ``error`` with where to look (``logs``)."""
    deadline = time.monotonic() + timeout
    while not answers():
        if proc.poll() is not None:
            raise error(f"{what} exited with status {proc.returncode}; see {logs}")
        if time.monotonic() > deadline:
            stop()
            raise error(f'{what} did not answer on {url} within {timeout} s; see {logs}')
        time.sleep(0.2)


def stop_pidfile(pid_file, timeout=20):
    """Stop the server recorded in ``pid_file`` (SIGTERM, then SIGKILL after ``timeout``
    s) and remove the file; True when one was running."""
    pid = pidfile_process(pid_file)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        try:  # our own child (the tests): reap it, or it stays a zombie that kill(0) sees
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    os.unlink(pid_file)
    return True
