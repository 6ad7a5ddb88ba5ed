"""Host drain and undrain against real libvirt: migrator-all (SQLite, in-process bus) over a
3-host sandbox with four small memory-dirtying guests on sandbox-host1.

Every host reserves all but 1 GiB of its memory for itself ([compute]
reserved_host_memory_mb), so the four 128 MiB guests fit on the others while a 1.5 GiB guest
fits nowhere.
"""

import os
import subprocess
import sys

import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import crowded_host, processes

SOURCE = 'sandbox-host1'
OFFERED_MB = 1024


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    with crowded_host.sandbox_with_guests(tmp_path_factory, 'drain', SOURCE, guests=4,
                                          memory_mib=128, dirty_rate_mib=1) as cluster:
        yield cluster


@pytest.fixture(scope='module')
def service(sandbox, tmp_path_factory):
    """migrator-all on the sandbox; yields (api client, config file)."""
    with crowded_host.all_in_one(sandbox, tmp_path_factory.mktemp('drain-service'),
                                 OFFERED_MB,
                                 {'report_interval': 2, 'progress_interval': 0.2}) as service:
        yield service


def _wait_for_job(api, job_id, timeout=300):
    def ended():
        body = api.get(f'/v1/drains/{job_id}').json()
        return body if body['status'] in ('completed', 'partial', 'cancelled',
                                           'failed') else None
    return processes.wait_until(ended, timeout, f'job {job_id} to end', interval=0.2)


def _ticks(cluster, names):
    return {name: probe.latest_tick(name, cluster=cluster) for name in names}


def _assert_running_on(cluster, names, ticks, not_on=None, on=None):
    for name in names:
        hosts = probe.where(name, cluster=cluster)
        assert len(hosts) == 1, f'{name} runs on {hosts}'
        if not_on is not None:
            assert hosts[0] != not_on, f'{name} still on {not_on}'
        if on is not None:
            assert hosts[0] == on, f'{name} runs on {hosts[0]}, not {on}'
        probe.wait_for_tick(name, above=ticks[name] + 1, cluster=cluster)


def _manage(conf, *argv):
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'migrator-manage'),
         '--config-file', str(conf)] + list(argv),
        capture_output=True, text=True, timeout=300)


def test_drain_empties_host_and_undrain_returns_guests(sandbox, service):
    api, conf = service
    names = [g['name'] for g in sandbox['guests']]
    ticks = _ticks(sandbox, names)

    response = api.post(f'/v1/hosts/{SOURCE}/drain', {'mode': 'live'})
    assert response.status_code == 202, response.text
    job = response.json()
    assert sorted(i['instance_name'] for i in job['items']) == sorted(names)
    assert api.get(f'/v1/hosts/{SOURCE}').json()['status'] == 'maintenance'

    job = _wait_for_job(api, job['id'])
    assert job['status'] == 'completed', job
    assert all(i['status'] == 'moved' and i['target_host'] != SOURCE for i in job['items'])
    _assert_running_on(sandbox, names, ticks, not_on=SOURCE)
    processes.wait_until(lambda: api.get('/v1/instances', host=SOURCE).json()['instances']
                         == [], 30, 'the API to show the host empty')
    assert api.get(f'/v1/hosts/{SOURCE}').json()['status'] == 'maintenance'

    ticks = _ticks(sandbox, names)
    result = _manage(conf, 'host', 'undrain', SOURCE, '--return-guests', '--wait')
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'Host {SOURCE} is enabled.' in result.stdout
    assert 'ended completed: 4 guests: 4 moved.' in result.stdout
    _assert_running_on(sandbox, names, ticks, on=SOURCE)
    assert api.get(f'/v1/hosts/{SOURCE}/drain').json()['kind'] == 'return'


def test_guest_that_fits_nowhere_is_reported_while_others_move(sandbox, service):
    api, _conf = service
    small = [g['name'] for g in sandbox['guests']]
    big = cluster_mod.add_guest(state_dir=sandbox['state_dir'], host=SOURCE,
                                memory_mib=OFFERED_MB + 512)['name']
    cluster = cluster_mod.load(sandbox['state_dir'])
    processes.wait_until(lambda: api.instance(big), 30, 'the big guest to be reported')
    ticks = _ticks(cluster, small + [big])

    response = api.post(f'/v1/hosts/{SOURCE}/drain', {'mode': 'live', 'max_parallel': 3})
    assert response.status_code == 202, response.text
    job = _wait_for_job(api, response.json()['id'])

    assert job['status'] == 'partial', job
    items = {i['instance_name']: i for i in job['items']}
    assert items[big]['status'] == 'failed'
    assert f'needs {OFFERED_MB + 512} MiB' in items[big]['reason'], items[big]
    assert items[big]['migration_id'] is None
    assert all(items[name]['status'] == 'moved' for name in small), items
    _assert_running_on(cluster, small, ticks, not_on=SOURCE)
    _assert_running_on(cluster, [big], ticks, on=SOURCE)


pytestmark = pytest.mark.functional
