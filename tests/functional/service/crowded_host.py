"""A sandbox with several small guests crowded on one host, and migrator-all over it with
every host offering only a given amount of memory: for the drain and full-host tests."""

import contextlib
import os

import libvirt
import pytest
import requests

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes


@contextlib.contextmanager
def sandbox_with_guests(tmp_path_factory, label, host, guests, memory_mib, dirty_rate_mib):
    """Three sandbox hosts with `guests` guests of `memory_mib` on `host`, each ticking;
    yields the cluster."""
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp(f'{label}-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=3, guests_per_host=0, memory_mib=memory_mib,
                       dirty_rate_mib=dirty_rate_mib, state_dir=state_dir)
        names = [cluster_mod.add_guest(state_dir=state_dir, host=host, wait=False)['name']
                 for _ in range(guests)]
        cluster = cluster_mod.load(state_dir)
        for name in names:
            probe.wait_for_tick(name, cluster=cluster, timeout=120)
        yield cluster
    finally:
        cluster_mod.down(state_dir)


def _answers(client):
    """The API answers (migrator-all serves only once every agent has started, which takes
    a while on a busy machine: a connection accepted but not answered yet is no answer)."""
    try:
        return client.answers()
    except requests.RequestException:
        return False


@contextlib.contextmanager
def all_in_one(sandbox, workdir, offered_mb, compute):
    """migrator-all (SQLite, in-process bus) on the sandbox, every host offering
    `offered_mb` of memory ([compute] reserved_host_memory_mb keeps the rest), with the
    [compute] options `compute`; yields (api client, config file) once every host and guest
    is reported."""
    conn = libvirt.open(sandbox['hosts'][0]['uri'])
    try:
        memory_mb = conn.getInfo()[1]
    finally:
        conn.close()
    port = processes.free_port()
    conf = processes.write_config(workdir / 'all.conf', {
        'DEFAULT': {'host': 'all-in-one'},
        'database': {'connection': f'sqlite:///{workdir}/migrator.sqlite'},
        'api': {'port': port},
        'all': {'sandbox_state_dir': sandbox['state_dir']},
        'compute': {**compute, 'reserved_host_memory_mb': memory_mb - offered_mb},
        'libvirt': {'virt_type': 'qemu'},
        'drain': {'max_parallel': 2, 'poll_interval': 0.1},
    })
    proc = processes.ServiceProcess('migrator-all', conf, workdir / 'all.log')
    try:
        client = processes.ApiClient(f'http://127.0.0.1:{port}')
        processes.wait_until(lambda: _answers(client), 240, 'the API to answer')
        processes.wait_until(lambda: client.hosts_up([h['name'] for h in sandbox['hosts']]),
                             240, 'every compute agent to report')
        processes.wait_until(lambda: all(client.instance(g['name'])
                                         for g in sandbox['guests']), 30,
                             'the guests to be reported')
        yield client, conf
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-8000:]}')
        raise
    finally:
        proc.stop()
