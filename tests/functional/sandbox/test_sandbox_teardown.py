"""`sandbox down` leaves nothing behind: processes, mounts, listeners, files."""

import os
import subprocess

from migrator.sandbox import host as host_mod
from migrator.sandbox import process
from tests.functional.sandbox.conftest import run_cli


def _mounts_mentioning(path, mountinfo):
    try:
        with open(mountinfo) as f:
            return [ln for ln in f if path in ln]
    except OSError:
        return []


def test_down_leaves_nothing(sandbox):
    state_dir = sandbox['state_dir']
    pids = {h['pid'] for h in sandbox['hosts']}
    for h in sandbox['hosts']:
        pids.update(host_mod.sandbox_pids(h))
    qemu_pids = [p for p in pids if process.exe_name(p) == 'qemu-system-x86_64']
    assert len(qemu_pids) >= 2 and all(process.pid_alive(p) for p in pids)
    # the bind mounts live only in the daemons' namespaces
    assert _mounts_mentioning(state_dir, '/proc/self/mountinfo') == []
    assert _mounts_mentioning(state_dir, f'/proc/{sandbox["hosts"][0]["pid"]}/mountinfo')

    r = run_cli('down', '--state-dir', state_dir)
    assert r.returncode == 0, r.stderr

    assert [p for p in pids if process.pid_alive(p)] == []
    assert not os.path.exists(state_dir)
    for entry in os.listdir('/proc'):     # no mount from the state dir, in any namespace
        if entry.isdigit():
            assert _mounts_mentioning(state_dir, f'/proc/{entry}/mountinfo') == [], entry
    listeners = subprocess.run(['ss', '-Hltn'], capture_output=True, text=True,
                               check=True).stdout
    for h in sandbox['hosts']:
        assert f'{h["address"]}:' not in listeners

    r = run_cli('down', '--state-dir', state_dir)       # idempotent
    assert r.returncode == 0 and 'nothing to do' in r.stdout
