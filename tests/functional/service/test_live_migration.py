"""The whole service against real libvirt: REST API -> bus -> conductor -> agents -> libvirt.

Once with api, conductor and three compute agents as separate processes over the real
RabbitMQ and PostgreSQL, once with migrator-all on SQLite and its in-process bus.
"""

import os
import subprocess
import sys

import pytest

from migrator.sandbox import probe
from tests.functional.service import processes
from tests.functional.service.conftest import current_host, guest_name


def _base_config(db_url, api_port, transport_url):
    return {
        'DEFAULT': {'transport_url': transport_url},
        'database': {'connection': db_url},
        'api': {'port': api_port},
        'compute': {'report_interval': 2, 'progress_interval': 0.2},
        'libvirt': {'virt_type': 'qemu'},
    }


def _ready_api(port, cluster):
    """The API once it answers and every agent has reported the sandbox's hosts and guest."""
    api = processes.ApiClient(f'http://127.0.0.1:{port}')
    processes.wait_until(api.answers, 60, 'the API to answer')
    processes.wait_until(lambda: api.hosts_up([h['name'] for h in cluster['hosts']]), 60,
                         'every compute agent to report')
    processes.wait_until(lambda: api.instance(guest_name(cluster)), 30,
                         'the guest to be reported')
    return api


def _migrate_and_check(api, cluster):
    name = guest_name(cluster)
    source = current_host(cluster)
    tick_before = probe.wait_for_tick(name, cluster=cluster)
    probe.write_marker(name, cluster=cluster)

    response = api.post('/v1/migrations', {'instance': name, 'type': 'live'})
    assert response.status_code == 202, response.text
    migration = response.json()
    assert response.headers['Location'].endswith(f"/v1/migrations/{migration['id']}")

    done = api.wait_for_migration(migration['id'])
    assert done['status'] == 'completed', done
    assert done['source_host'] == source and done['target_host'] != source
    assert done['progress'] == 100
    assert [e['to_state'] for e in done['events']] == [
        'accepted', 'scheduling', 'preparing', 'running', 'finishing', 'completed']
    # The sandbox runs QEMU 7.2 under TCG: the job's downtime limit is set once, before it
    # starts, and never changed while it runs ([libvirt] live_migration_downtime_stepping).
    assert done['convergence']['downtime_steps'] == 1
    samples = api.get(f"/v1/migrations/{migration['id']}/samples").json()['samples']
    assert {s['downtime_limit_ms'] for s in samples} <= {done['convergence']['max_downtime_ms']}

    # The hypervisors agree: on the target only, still ticking, with its disk marker.
    assert probe.where(name, cluster=cluster) == [done['target_host']]
    assert probe.where(name, cluster=cluster, active_only=False) == [done['target_host']]
    probe.wait_for_tick(name, above=tick_before + 1, cluster=cluster)
    assert probe.has_marker(name, cluster=cluster)
    processes.wait_until(
        lambda: (api.instance(name) or {}).get('host') == done['target_host'], 30,
        'the instance to show on its new host')
    return done


def test_separate_processes_over_rabbitmq_and_postgresql(sandbox, pg_url, rabbit_url,
                                                        workdir):
    port = processes.free_port()
    config = _base_config(pg_url, port, rabbit_url)
    api_conf = processes.write_config(workdir / 'api.conf',
                                      {**config, 'DEFAULT': {**config['DEFAULT'],
                                                             'host': 'api'}})
    started = []
    try:
        subprocess.run([os.path.join(os.path.dirname(sys.executable), 'migrator-manage'),
                        '--config-file', str(api_conf), 'db', 'sync'], check=True)
        started.append(processes.ServiceProcess('migrator-api', api_conf, workdir / 'api.log'))
        conductor_conf = processes.write_config(
            workdir / 'conductor.conf',
            {**config, 'DEFAULT': {**config['DEFAULT'], 'host': 'conductor1'}})
        started.append(processes.ServiceProcess('migrator-conductor', conductor_conf,
                                                workdir / 'conductor.log'))
        for host in sandbox['hosts']:
            conf = processes.write_config(
                workdir / f"{host['name']}.conf",
                {**config, 'DEFAULT': {**config['DEFAULT'], 'host': host['name']},
                 'libvirt': {'virt_type': 'qemu', 'connection_uri': host['uri']}})
            started.append(processes.ServiceProcess('migrator-compute', conf,
                                                    workdir / f"{host['name']}.log"))
        api = _ready_api(port, sandbox)

        _migrate_and_check(api, sandbox)
    except BaseException:
        for proc in started:
            print(f'--- {proc.script} log ---\n{proc.log()[-4000:]}')
        raise
    finally:
        for proc in reversed(started):
            proc.stop()


def test_migrator_all_on_sqlite(sandbox, workdir):
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
        api = _ready_api(port, sandbox)
        _migrate_and_check(api, sandbox)

        # A second request for a guest whose target has no room is refused, nothing created.
        before = api.get('/v1/migrations').json()['migrations']
        response = api.post('/v1/migrations', {'instance': guest_name(sandbox),
                                               'target_host': 'no-such-host'})
        assert response.status_code == 404
        assert "'no-such-host' is not known" in response.json()['error']['message']
        assert api.get('/v1/migrations').json()['migrations'] == before
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-6000:]}')
        raise
    finally:
        proc.stop()


pytestmark = pytest.mark.functional
