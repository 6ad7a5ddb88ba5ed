"""Block live migration and abort against real libvirt, through the REST API.

One guest with a local disk (the default pool of its host, which no other host sees) and
one migrator-all process serve the three tests: a shared-storage-only request is refused,
an abort while the job runs leaves the guest on its source with nothing on the target, and
a block live migration moves the guest with its disk content and leaves no file behind.
"""

import os

import libvirt
import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

# MiB/s: slow enough that neither the disk copy nor the memory (the guest dirties 4 MiB/s)
# ends before the test aborts it.
CRAWL_BANDWIDTH = 1
UNLIMITED_BANDWIDTH = 1 << 20


@pytest.fixture(scope='module')
def local_guest(sandbox):
    record = cluster_mod.add_guest(state_dir=sandbox['state_dir'], host='sandbox-host1',
                                   disks='local')
    return record['name'], cluster_mod.load(sandbox['state_dir'])


@pytest.fixture(scope='module')
def api(sandbox, local_guest, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('block-abort')
    name, cluster = local_guest
    port = processes.free_port()
    conf = processes.write_config(workdir / 'all.conf', {
        'DEFAULT': {'host': 'all-in-one'},
        'database': {'connection': f'sqlite:///{workdir}/migrator.sqlite'},
        'api': {'port': port},
        'all': {'sandbox_state_dir': sandbox['state_dir']},
        'compute': {'report_interval': 2, 'progress_interval': 0.2},
        'libvirt': {'virt_type': 'qemu'},
    })
    proc = processes.ServiceProcess('migrator-all', conf, workdir / 'all.log')
    try:
        client = processes.ApiClient(f'http://127.0.0.1:{port}')
        processes.wait_until(client.answers, 60, 'the API to answer')
        processes.wait_until(lambda: client.hosts_up([h['name'] for h in cluster['hosts']]),
                             60, 'every compute agent to report')
        processes.wait_until(lambda: client.instance(name), 30, 'the guest to be reported')
        yield client
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-8000:]}')
        raise
    finally:
        proc.stop()


def _host(cluster, name):
    return next(h for h in cluster['hosts'] if h['name'] == name)


def _disk_file(cluster, host_name, guest):
    return os.path.join(_host(cluster, host_name)['image_dir_outside'], f'{guest}.qcow2')


def _set_bandwidth(cluster, host_name, guest, mib_per_s):
    conn = libvirt.open(_host(cluster, host_name)['uri'])
    try:
        conn.lookupByName(guest).migrateSetMaxSpeed(mib_per_s, 0)
    finally:
        conn.close()


def _where(cluster, guest):
    return probe.where(guest, cluster=cluster, active_only=False)


def test_shared_storage_only_is_refused_for_a_local_disk(api, local_guest):
    name, cluster = local_guest
    [source] = probe.where(name, cluster=cluster)
    before = api.get('/v1/migrations').json()['migrations']

    response = api.post('/v1/migrations', {'instance': name, 'block_migration': False})

    assert response.status_code == 409, response.text
    message = response.json()['error']['message']
    assert 'block_migration is false (shared storage only)' in message
    assert f'/var/lib/libvirt/images/{name}.qcow2' in message
    assert 'not on storage shared between' in message
    assert api.get('/v1/migrations').json()['migrations'] == before
    assert _where(cluster, name) == [source]


def test_abort_while_running_leaves_the_guest_on_its_source(api, local_guest):
    name, cluster = local_guest
    [source] = probe.where(name, cluster=cluster)
    target = next(h['name'] for h in cluster['hosts'] if h['name'] != source)
    _set_bandwidth(cluster, source, name, CRAWL_BANDWIDTH)
    try:
        response = api.post('/v1/migrations', {'instance': name, 'target_host': target})
        assert response.status_code == 202, response.text
        migration_id = response.json()['id']

        def job_reported():
            body = api.get(f'/v1/migrations/{migration_id}').json()
            assert body['status'] in ('accepted', 'scheduling', 'preparing', 'running'), body
            return body['status'] == 'running' and (body['disk_total'] or
                                                    body['memory_total'])
        processes.wait_until(job_reported, 60, 'the libvirt job to report progress')
        assert os.path.exists(_disk_file(cluster, target, name))   # pre-created
        tick = probe.wait_for_tick(name, cluster=cluster)

        response = api.request_delete(f'/v1/migrations/{migration_id}')
        assert response.status_code == 202, response.text
        done = api.wait_for_migration(migration_id, timeout=60)
    finally:
        _set_bandwidth(cluster, source, name, UNLIMITED_BANDWIDTH)

    assert done['status'] == 'cancelled', done
    assert [e['to_state'] for e in done['events']][-3:] == ['running', 'cancelling',
                                                            'cancelled']
    assert 'an operator asked to abort it' in done['error']
    assert _where(cluster, name) == [source]
    probe.wait_for_tick(name, above=tick + 1, cluster=cluster)
    assert not os.path.exists(_disk_file(cluster, target, name))
    assert os.path.exists(_disk_file(cluster, source, name))
    instance = api.instance(name)
    assert instance['host'] == source and instance['migration_id'] is None


def test_block_live_migration_moves_the_disk_content(api, local_guest):
    name, cluster = local_guest
    [source] = probe.where(name, cluster=cluster)
    tick = probe.wait_for_tick(name, cluster=cluster)
    probe.write_marker(name, cluster=cluster)

    response = api.post('/v1/migrations', {'instance': name})
    assert response.status_code == 202, response.text
    done = api.wait_for_migration(response.json()['id'])

    assert done['status'] == 'completed', done
    target = done['target_host']
    assert target != source and done['block_migration'] is True
    assert done['disk_total'], done
    running = next(e for e in done['events'] if e['to_state'] == 'running')
    assert 'block migration copying vda' in running['detail']
    assert _where(cluster, name) == [target]
    probe.wait_for_tick(name, above=tick + 1, cluster=cluster)
    assert probe.has_marker(name, cluster=cluster)
    assert os.path.exists(_disk_file(cluster, target, name))
    assert not os.path.exists(_disk_file(cluster, source, name))


pytestmark = pytest.mark.functional
