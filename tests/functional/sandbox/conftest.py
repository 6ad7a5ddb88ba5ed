"""Fixtures of the sandbox's functional tests: one 3-host sandbox per session.

The sandbox is started through the CLI (``python -m migrator.sandbox.cli``) in
a temporary state dir and always torn down with ``down``, also on failure.
"""

import os
import shutil
import subprocess
import sys

import libvirt
import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def run_cli(*args, timeout=600, user=None):
    """Run ``python -m migrator.sandbox.cli ARGS``; returns the CompletedProcess."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    cmd = [sys.executable, '-m', 'migrator.sandbox.cli', *map(str, args)]
    if user is not None:
        cmd = ['setpriv', f'--reuid={user}', f'--regid={user}', '--clear-groups', *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def require_sandbox_prerequisites():
    if os.geteuid() != 0:
        pytest.skip('the sandbox needs root')
    if not os.path.exists('/usr/sbin/libvirtd') or not shutil.which('qemu-system-x86_64'):
        pytest.skip('libvirt/QEMU not installed (tools/install-deps.sh)')


# Package scope: the service tests bring up a sandbox of their own on the same addresses.
@pytest.fixture(scope='package')
def sandbox(tmp_path_factory):
    """A running 3-host sandbox with two guests on sandbox-host1.

    guest-1-1 has its disk in the shared dir, guest-1-2 in host1's private pool.
    Yields the cluster description (cluster.json).
    """
    require_sandbox_prerequisites()
    state_dir = str(tmp_path_factory.mktemp('sandbox') / 'state')
    try:
        r = run_cli('up', '--hosts', 3, '--guests-per-host', 0, '--state-dir', state_dir)
        assert r.returncode == 0, r.stderr
        for disks in ('shared', 'local'):
            r = run_cli('add-guest', '--host', 'sandbox-host1', '--disks', disks, '--no-wait',
                        '--state-dir', state_dir)
            assert r.returncode == 0, r.stderr
        cluster = cluster_mod.load(state_dir)
        for guest in cluster['guests']:
            probe.wait_for_tick(guest['console_log'], timeout=180)
        yield cluster
    finally:
        r = run_cli('down', '--state-dir', state_dir)
        assert r.returncode == 0, r.stderr


def guest_by_mode(cluster, mode):
    return next(g for g in cluster['guests'] if g['disk_mode'] == mode)


def host_by_name(cluster, name):
    return next(h for h in cluster['hosts'] if h['name'] == name)
