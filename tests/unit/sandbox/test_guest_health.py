"""The fault harness's console check for a guest kernel hurt by a migration."""

from tests.functional.faults import guest_health

BEFORE = b'MIGRATOR-READY dirty_mib=4 wss_mib=64 mem_kib=223620\nMIGRATOR-TICK 1\n'
# The first lines as a sandbox guest printed them after bare-libvirt live migrations; the
# last in the shape of the fault run's slab corruption.
OOPS = (b'MIGRATOR-TICK 45\n'
        b'[   49.912524] list_del corruption. next->prev should be fffff01f000a5988, '
        b'but was ffffffffa183a3f0. (next=fffff01f000a3688)\n'
        b'[   49.918739] kernel BUG at lib/list_debug.c:62!\n'
        b'[   49.920299] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\n'
        b'[  606.120000] general protection fault, probably for non-canonical address '
        b'0x6b6b6b6b6b6b6b6b: 0000 [#2] PREEMPT SMP NOPTI\n')
LOCKUP = (b'[  120.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [init:1]\n'
          b'[  121.000000] rcu: INFO: rcu_sched self-detected stall on CPU\n'
          b'MIGRATOR-TICK 2\n')


def _console(tmp_path, data):
    path = tmp_path / 'guest.log'
    path.write_bytes(data)
    return str(path)


def test_oops_written_after_the_mark_is_reported(tmp_path):
    path = _console(tmp_path, BEFORE)
    mark = guest_health.console_mark(path)
    with open(path, 'ab') as f:
        f.write(OOPS)
    problems = guest_health.trouble_since(path, mark)
    assert len(problems) == 1
    assert 'list_del corruption' in problems[0]
    assert 'kernel BUG at lib/list_debug.c:62!' in problems[0]
    assert '(+1 more)' in problems[0]


def test_oops_before_the_mark_is_not_this_scenarios(tmp_path):
    path = _console(tmp_path, BEFORE + OOPS)
    mark = guest_health.console_mark(path)
    with open(path, 'ab') as f:
        f.write(b'MIGRATOR-TICK 46\n')
    assert guest_health.trouble_since(path, mark) == []


def test_lockup_and_stall_warnings_are_not_corruption(tmp_path):
    path = _console(tmp_path, BEFORE)
    mark = guest_health.console_mark(path)
    with open(path, 'ab') as f:
        f.write(LOCKUP)
    assert guest_health.trouble_since(path, mark) == []


def test_missing_console_is_no_trouble(tmp_path):
    path = str(tmp_path / 'absent.log')
    assert guest_health.console_mark(path) == 0
    assert guest_health.trouble_since(path, 0) == []


def test_console_watch_reads_from_where_it_began(tmp_path):
    path = _console(tmp_path, BEFORE + OOPS)
    cluster = {'guests': [{'name': 'other', 'console_log': str(tmp_path / 'x.log')},
                          {'name': 'guest-1-1', 'console_log': path}]}
    watch = guest_health.ConsoleWatch(cluster, 'guest-1-1')
    assert watch.trouble() == []
    with open(path, 'ab') as f:
        f.write(OOPS)
    assert 'list_del corruption' in watch.trouble()[0]
