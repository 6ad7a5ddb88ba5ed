"""Reaps a sandbox host's exited processes at once, as a host's init (systemd) does.

libvirtd starts every QEMU as an orphan (it forks twice), and `libvirtd --daemon` orphans
itself, so on a real host both are children of systemd, which reaps them the moment they
exit. libvirt relies on that: when a guest powers off, QEMU exits and libvirt then polls the
pid (every 200 ms, virProcessKillPainfully) until it is gone before it reports the domain
shut off. Whatever runs as pid 1 on a test machine may reap late: on the project's machine
an exited QEMU stayed a zombie for 1.2-1.7 s, which was most of a sandbox guest's
"shutdown" (the guest itself powered off in 0.1-0.5 s), and every destroy and every
migration's source teardown paid it too.

So the sandbox starts each libvirtd under this process: it marks itself a child subreaper
(PR_SET_CHILD_SUBREAPER), so the orphans of everything it starts are re-parented to it
instead of to pid 1, runs the command it is given (unshare ... libvirtd --daemon) in the
foreground, exits with that command's status, and a background copy of itself keeps
reaping until it has no child left: it ends by itself once the host's libvirtd and QEMUs
are gone (`sandbox down` stops those by pid).

    python -m migrator.sandbox.reaper COMMAND [ARG...]
"""

import ctypes
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def reap_until_childless():
    """Blocks in wait() for each exited child; returns when none is left."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _detach_stdio():
    # The caller captures the foreground command's output until EOF: the reaper that stays
    # must not hold those pipes open.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write('usage: python -m migrator.sandbox.reaper COMMAND [ARG...]\n')
        return 2
    status_r, status_w = os.pipe()
    if os.fork():
        # The foreground: the command's exit status, once the reaper has it.
        os.close(status_w)
        with os.fdopen(status_r, 'rb') as status:
            data = status.read()
        return int(data) if data.strip() else 1
    os.close(status_r)
    try:
        os.setsid()           # no signal for the caller's terminal or process group
        become_subreaper()
        code = subprocess.call(argv)
    except OSError as exc:
        sys.stderr.write(f'reaper: cannot run {argv[0]}: {exc}\n')
        code = 127
    os.write(status_w, str(code).encode())
    os.close(status_w)
    _detach_stdio()
    reap_until_childless()
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
