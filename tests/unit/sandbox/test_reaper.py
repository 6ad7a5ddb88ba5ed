"""The sandbox's reaper: the command's status in the foreground, orphans reaped at once."""

import os
import subprocess
import sys
import time

import pytest

from migrator.sandbox import process, reaper


def _ppid(pid):
    with open(f'/proc/{pid}/stat') as f:
        return int(f.read().rsplit(')', 1)[1].split()[1])


def _state(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_exit_status_of_the_command_and_orphan_adopted_and_reaped():
    hold_r, hold_w = os.pipe()
    try:
        # The command leaves an orphan behind (as `libvirtd --daemon` does) that runs until
        # the test closes the pipe it reads, and exits 3.
        proc = subprocess.run(
            [sys.executable, '-m', 'migrator.sandbox.reaper', 'sh', '-c',
             'exec 3<&0; cat <&3 >/dev/null 2>&1 & echo $!; exit 3'],
            stdin=hold_r, capture_output=True, text=True, timeout=30)
        os.close(hold_r)
        assert proc.returncode == 3
        orphan = int(proc.stdout.split()[0])
        keeper = _ppid(orphan)
        assert keeper not in (1, os.getpid())
        with open(f'/proc/{keeper}/cmdline') as f:
            assert 'migrator.sandbox.reaper' in f.read()
    finally:
        os.close(hold_w)          # the orphan reads EOF and exits
    # Reaped by the reaper, not left a zombie; the reaper, childless, ends too.
    assert _wait_for(lambda: _state(orphan) is None)
    assert _wait_for(lambda: not process.pid_alive(keeper))


def test_a_missing_command_is_a_failure():
    proc = subprocess.run([sys.executable, '-m', 'migrator.sandbox.reaper',
                           '/nonexistent/command'], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 127
    assert 'cannot run /nonexistent/command' in proc.stderr


def test_no_command_is_a_usage_error(capsys):
    assert reaper.main([]) == 2
    assert 'usage' in capsys.readouterr().err


def test_reap_until_childless_returns_when_every_child_is_gone():
    children = [subprocess.Popen(['true']) for _ in range(3)]
    reaper.reap_until_childless()
    for child in children:
        with pytest.raises(ChildProcessError):
            os.waitpid(child.pid, os.WNOHANG)
