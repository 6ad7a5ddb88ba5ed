"""One small sandbox for the convergence tests: two hosts under migrator-all on SQLite, and
for each test a guest of its own that dirties its memory faster than the bandwidth cap the
tests set.

The figures were found on this machine (TCG, QEMU 7.2): a 128 MiB guest rewriting its 32 MiB
working set at 32 MiB/s, sent at 16 MiB/s, does not converge at a 500 ms downtime (each
iteration leaves the whole working set dirty again); the first pass over its memory takes
~8 s.

Why a guest per test: such a guest's kernel crashed (double fault, oops) after some of the
migrations that completed with it here -- after auto-converge, after a forced pause and after
post-copy, also when driven by plain libvirt calls without migrator -- never after one that was
aborted. So a test that completes a migration checks what libvirt says of the domain (running
on the target, gone from the source), not the guest's health afterwards, and a guest broken
by one test must not fail the next.
"""

import os

import libvirt
import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

GUEST_MEMORY_MIB = 128
GUEST_DIRTY_MIB = 32
BANDWIDTH_MIB = 16


@pytest.fixture(scope='package')
def sandbox(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('convergence-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
        yield cluster_mod.load(state_dir)
    finally:
        cluster_mod.down(state_dir)


@pytest.fixture(scope='package')
def service(sandbox, tmp_path_factory):
    """migrator-all over the sandbox; yields an API client."""
    workdir = tmp_path_factory.mktemp('convergence-service')
    port = processes.free_port()
    conf = processes.write_config(workdir / 'all.conf', {
        'DEFAULT': {'host': 'all-in-one'},
        'database': {'connection': f'sqlite:///{workdir}/migrator.sqlite'},
        'api': {'port': port},
        'all': {'sandbox_state_dir': sandbox['state_dir']},
        'compute': {'report_interval': 2, 'progress_interval': 0.5},
        # These tests watch the downtime stepping itself, which KVM hosts (and QEMU >= 9.0)
        # run; on this TCG sandbox `auto` would set it once (test_live_migration checks that).
        'libvirt': {'virt_type': 'qemu', 'live_migration_downtime_stepping': 'always'},
    })
    proc = processes.ServiceProcess('migrator-all', conf, workdir / 'all.log')
    try:
        api = processes.ApiClient(f'http://127.0.0.1:{port}')
        processes.wait_until(api.answers, 60, 'the API to answer')
        processes.wait_until(lambda: api.hosts_up([h['name'] for h in sandbox['hosts']]), 60,
                             'every compute agent to report')
        api.log = proc.log
        yield api
    finally:
        proc.stop()


@pytest.fixture
def guest(service, sandbox):
    """A fresh busy guest on sandbox-host1, known to the API; removed afterwards."""
    name = cluster_mod.add_guest(state_dir=sandbox['state_dir'], host='sandbox-host1',
                                 disks='shared', memory_mib=GUEST_MEMORY_MIB,
                                 dirty_rate_mib=GUEST_DIRTY_MIB)['name']
    try:
        processes.wait_until(lambda: service.instance(name), 30, f'{name} to be reported')
        yield name
    finally:
        for host in sandbox['hosts']:
            conn = probe.open_host(host)
            try:
                dom = conn.lookupByName(name)
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except libvirt.libvirtError:
                pass
            finally:
                conn.close()


def domain_state(sandbox, host_name, name):
    """libvirt's (state, reason) of guest `name` on one host."""
    host = [h for h in sandbox['hosts'] if h['name'] == host_name][0]
    conn = probe.open_host(host)
    try:
        return tuple(conn.lookupByName(name).state())
    finally:
        conn.close()
