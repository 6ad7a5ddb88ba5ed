"""Clear errors, and nothing left behind, when the sandbox cannot start.

These run before the session sandbox exists (file order), since some of them
need the first host address (127.0.0.2 by default) free.
"""

import os
import socket

import pytest

from migrator.sandbox import cluster, preflight, process
from migrator.sandbox import host as host_mod
from migrator.sandbox.errors import SandboxError
from tests.functional.sandbox.conftest import require_sandbox_prerequisites, run_cli


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('error: ')
    assert 'Traceback' not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def processes_using(path):
    """Pids of processes whose mount namespace has a mount from ``path``."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/mountinfo') as f:
                if path in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def test_address_in_use(tmp_path):
    require_sandbox_prerequisites()
    state_dir = str(tmp_path / 'state')
    address = host_mod.host_address(1)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind((address, 16509))
    except OSError:
        pytest.skip(f'{address}:16509 is already taken by something else')
    blocker.listen(1)
    try:
        r = run_cli('up', '--hosts', 2, '--guests-per-host', 0, '--state-dir', state_dir)
    finally:
        blocker.close()
    assert_one_line_error(r, f'{address}:16509', 'in use')
    assert not os.path.exists(os.path.join(state_dir, 'cluster.json'))
    assert processes_using(state_dir) == []


def test_not_root(monkeypatch, tmp_path):
    # In-process with a non-root euid: running the CLI as another user would need a venv
    # that user can read, which tox's (0700) is not.
    require_sandbox_prerequisites()
    monkeypatch.setattr(os, 'geteuid', lambda: 65534)
    with pytest.raises(SandboxError, match='root'):
        cluster.up(hosts=1, guests_per_host=0, state_dir=str(tmp_path / 'state'))
    assert not os.path.exists(tmp_path / 'state')


def test_missing_package_is_named(monkeypatch, tmp_path):
    require_sandbox_prerequisites()
    monkeypatch.setitem(preflight.REQUIRED_BINARIES, '/usr/sbin/no-such-daemon',
                        'no-such-package')
    with pytest.raises(SandboxError, match='no-such-package.*install-deps'):
        cluster.up(hosts=1, guests_per_host=0, state_dir=str(tmp_path / 'state'))
    assert not os.path.exists(tmp_path / 'state')


def test_bad_arguments(tmp_path):
    require_sandbox_prerequisites()
    r = run_cli('up', '--hosts', 0, '--state-dir', tmp_path / 'state')
    assert_one_line_error(r, '--hosts')
    r = run_cli('up', '--state-dir', '/var/lib/libvirt/x')
    assert_one_line_error(r, 'overlaps')


def test_down_after_crash_finds_daemons_without_records(tmp_path):
    """cluster.json lost (a crash in `up`): `down` still finds the daemon by its
    pid file and namespace, stops it and removes the state dir."""
    require_sandbox_prerequisites()
    state_dir = str(tmp_path / 'state')
    r = run_cli('up', '--hosts', 1, '--guests-per-host', 0, '--state-dir', state_dir)
    assert r.returncode == 0, r.stderr
    pid = cluster.load(state_dir)['hosts'][0]['pid']
    assert process.pid_alive(pid)
    os.unlink(os.path.join(state_dir, 'cluster.json'))
    r = run_cli('down', '--state-dir', state_dir)
    assert r.returncode == 0, r.stderr
    assert not process.pid_alive(pid)
    assert not os.path.exists(state_dir)
    assert processes_using(state_dir) == []
    r = run_cli('down', '--state-dir', state_dir)      # idempotent
    assert r.returncode == 0 and 'nothing to do' in r.stdout


def test_failed_up_stops_what_it_started(monkeypatch, tmp_path):
    """A failure half-way (daemons up, a guest fails) leaves nothing behind."""
    require_sandbox_prerequisites()
    from migrator.sandbox import guest
    state_dir = str(tmp_path / 'state')
    started = {}

    def failing_create(conn, host, name, **kwargs):
        started['pids'] = [h['pid'] for h in cluster.load(state_dir)['hosts']]
        raise SandboxError(f'injected failure creating {name}')

    monkeypatch.setattr(guest, 'create', failing_create)
    with pytest.raises(SandboxError, match='injected failure'):
        cluster.up(hosts=2, guests_per_host=1, state_dir=state_dir)
    assert len(started['pids']) == 2
    assert not any(process.pid_alive(p) for p in started['pids'])
    assert not os.path.exists(state_dir)
    assert processes_using(state_dir) == []
