"""Claims and the agents' reported usage never count one guest twice (issue 11): a host that
is exactly full is drained, and every guest is returned to it while the guests dirty their
memory. migrator-all (SQLite, in-process bus) over a 3-host sandbox with three small guests
on sandbox-host1.

Every host offers exactly three guests' memory ([compute] reserved_host_memory_mb keeps the
rest), so sandbox-host1 is full before the drain and full again after the return. The agents
report every 10 s (and at once on a domain event), so a claim that stayed counted beside the
guest's own usage after it landed -- or beside its incoming domain while it arrived -- would
refuse the last guests of the return for lack of room.
"""

import os

import libvirt
import pytest
import requests

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

FULL = 'sandbox-host1'
GUESTS = 3
GUEST_MIB = 128


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('full-host-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=3, guests_per_host=0, memory_mib=GUEST_MIB, dirty_rate_mib=2,
                       state_dir=state_dir)
        names = [cluster_mod.add_guest(state_dir=state_dir, host=FULL, wait=False)['name']
                 for _ in range(GUESTS)]
        cluster = cluster_mod.load(state_dir)
        for name in names:
            probe.wait_for_tick(name, cluster=cluster, timeout=120)
        yield cluster
    finally:
        cluster_mod.down(state_dir)


@pytest.fixture(scope='module')
def api(sandbox, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('full-host-service')
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
        'compute': {'report_interval': 10, 'progress_interval': 0.5,
                    'reserved_host_memory_mb': memory_mb - GUESTS * GUEST_MIB},
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
        yield client
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-8000:]}')
        raise
    finally:
        proc.stop()


def _answers(client):
    """The API answers (migrator-all serves only once every agent has started, which takes
    a while on a busy machine: a connection accepted but not answered yet is no answer)."""
    try:
        return client.answers()
    except requests.RequestException:
        return False


def _wait_for_job(api, job_id):
    def ended():
        body = api.get(f'/v1/drains/{job_id}').json()
        return body if body['status'] in ('completed', 'partial', 'cancelled',
                                           'failed') else None
    return processes.wait_until(ended, 300, f'job {job_id} to end', interval=0.2)


def test_every_guest_of_an_exactly_full_host_returns_to_it(sandbox, api):
    names = [g['name'] for g in sandbox['guests']]
    full = api.get(f'/v1/hosts/{FULL}').json()
    assert full['memory_mb_used'] == GUESTS * GUEST_MIB, full

    response = api.post(f'/v1/hosts/{FULL}/drain', {'mode': 'live'})
    assert response.status_code == 202, response.text
    job = _wait_for_job(api, response.json()['id'])
    assert job['status'] == 'completed', job

    ticks = {name: probe.latest_tick(name, cluster=sandbox) for name in names}
    response = api.post(f'/v1/hosts/{FULL}/undrain', {'return_guests': True})
    assert response.status_code == 202, response.text
    back = response.json()['return']
    assert len(back['items']) == GUESTS, back
    job = _wait_for_job(api, back['id'])
    assert job['status'] == 'completed', job
    assert all(i['status'] == 'moved' for i in job['items']), job['items']
    for name in names:
        assert probe.where(name, cluster=sandbox) == [FULL], name
        probe.wait_for_tick(name, above=ticks[name] + 1, cluster=sandbox)
    # Exactly full again, each guest counted once: nothing claimed beside the usage.
    processes.wait_until(
        lambda: api.get(f'/v1/hosts/{FULL}').json()['memory_mb_claimed'] == 0, 30,
        'the landed claims to be given back')
    assert api.get(f'/v1/hosts/{FULL}').json()['memory_mb_used'] == GUESTS * GUEST_MIB


pytestmark = pytest.mark.functional
