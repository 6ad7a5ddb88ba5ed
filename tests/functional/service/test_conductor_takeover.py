"""Conductor take-over and lost messages, with the services as separate processes over the
real RabbitMQ and PostgreSQL and real libvirt: two conductors, one SIGKILLed for good in the
middle of a live migration, the other adopting and settling it; a job-end message lost with
its source agent (SIGKILL during the job, started again after it); a second conductor under a
live one's name refused. The defaults of [conductor] takeover_after, heartbeat_interval and
job_poll_interval are used, and the times they give are printed (run with -s to see them)."""

import json
import os
import subprocess
import sys
import time

import pytest

from migrator.sandbox import probe
from tests.functional.service import processes
from tests.functional.service.conductor_services import (
    CRAWL_MIB_S,
    UNLIMITED_MIB_S,
    Services,
    set_bandwidth,
    slots_and_claims_given_back,
)
from tests.functional.service.conftest import guest_name
from tests.functional.service.test_live_migration import _base_config

CONDUCTORS = ('conductor-a', 'conductor-b')


def _ready_api(port, cluster):
    """The API once it answers and every agent has reported (generous bounds: seven
    Python services start at once on a busy 2-core machine)."""
    api = processes.ApiClient(f'http://127.0.0.1:{port}')
    processes.wait_until(api.answers, 240, 'the API to answer')
    processes.wait_until(lambda: api.hosts_up([h['name'] for h in cluster['hosts']]), 240,
                         'every compute agent to report')
    processes.wait_until(lambda: api.instance(guest_name(cluster)), 60,
                         'the guest to be reported')
    return api


@pytest.fixture(scope='module')
def services(sandbox, module_rabbit_url, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('takeover-services')
    with processes.postgres_database('migrator_takeover') as db_url:
        port = processes.free_port()
        config = _base_config(db_url, port, module_rabbit_url)
        services = Services(workdir, config, {h['name']: h for h in sandbox['hosts']})
        with services.serving():
            services.sync_db()
            services.start('migrator-api', 'api')
            for host in services.hosts:
                services.start_agent(host)
            for conductor in CONDUCTORS:
                services.start('migrator-conductor', conductor)
            services.api = _ready_api(port, sandbox)
            for conductor in CONDUCTORS:
                processes.wait_until(
                    lambda c=conductor: 'Listening on migrator-conductor' in
                    services.running[c].log(), 240, f'{conductor} to listen')
            yield services


def _start_crawling_migration(services, sandbox, name, source, **request):
    """A live migration whose job crawls at 1 MiB/s, once it reports progress."""
    api = services.api
    set_bandwidth(sandbox, source, name, CRAWL_MIB_S)
    response = api.post('/v1/migrations', {'instance': name, **request})
    assert response.status_code == 202, response.text
    migration_id = response.json()['id']
    processes.wait_until(
        lambda: api.get(f'/v1/migrations/{migration_id}').json()['memory_total'], 90,
        'the libvirt job to report progress')
    return api.get(f'/v1/migrations/{migration_id}').json()


def test_a_second_conductor_under_a_live_ones_name_refuses_to_start(services):
    conf = services.conf('twin', CONDUCTORS[0])
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable),
                                          'migrator-conductor'), '--config-file', str(conf)],
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f'Another conductor runs under the name {CONDUCTORS[0]}' in result.stderr
    assert 'Traceback' not in result.stderr


def test_a_live_migration_of_a_conductor_killed_for_good_is_settled_by_the_other(
        services, sandbox):
    api, name = services.api, guest_name(sandbox)
    [source] = probe.where(name, cluster=sandbox)
    tick = probe.wait_for_tick(name, cluster=sandbox)
    try:
        try:
            migration = _start_crawling_migration(services, sandbox, name, source)
            owner = migration['conductor']
            assert owner in CONDUCTORS and migration['status'] == 'running', migration
            services.kill(owner)
            killed_at = time.monotonic()
        finally:
            set_bandwidth(sandbox, source, name, UNLIMITED_MIB_S)

        done = api.wait_for_migration(migration['id'], timeout=240, interval=0.2)
        settled_after = time.monotonic() - killed_at
        print(f'\nconductor SIGKILL (never restarted) -> adopted by the other and '
              f'{done["status"]}: {settled_after:.1f}s')
        assert done['status'] == 'completed', done
        assert done['conductor'] != owner
        assert 'taken over' in done['events'][-1]['detail'], done['events'][-1]
        target = done['target_host']
        assert probe.where(name, cluster=sandbox) == [target] != [source]
        probe.wait_for_tick(name, above=tick + 1, cluster=sandbox)
        slots_and_claims_given_back(api)
        _status_shows_the_dead_conductor(api, owner, done['conductor'])
    except BaseException:
        print(services.logs())
        raise


def _status_shows_the_dead_conductor(api, dead, alive):
    """`migrator-manage status` as an operator runs it: the killed conductor is dead (its
    work was adopted), the other alive, both with their version, and the exit status 2."""
    from migrator.common import version
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'migrator-manage'), '--url', api.url,
         'status', '-f', 'json'], capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stdout + result.stderr
    services = {s['host']: s for s in json.loads(result.stdout)['services']
                if s['binary'] == 'migrator-conductor'}
    assert services[dead]['state'] == 'dead', services
    assert services[alive]['state'] == 'alive', services
    assert services[dead]['version'] == services[alive]['version'] == version.version_string()


def test_a_job_end_lost_with_its_source_agent_costs_seconds_not_the_timeout(
        services, sandbox):
    api, name = services.api, guest_name(sandbox)
    [source] = probe.where(name, cluster=sandbox)
    tick = probe.wait_for_tick(name, cluster=sandbox)
    try:
        try:
            migration = _start_crawling_migration(services, sandbox, name, source)
            services.kill(source)   # the agent that would report the job's end
        finally:
            set_bandwidth(sandbox, source, name, UNLIMITED_MIB_S)
        target = migration['target_host']
        processes.wait_until(lambda: probe.where(name, cluster=sandbox) == [target], 120,
                             'the libvirt job to move the guest', interval=0.2)
        job_ended_at = time.monotonic()
        services.start_agent(source)
        done = api.wait_for_migration(migration['id'], timeout=180, interval=0.2)
        print(f'\nlibvirt job end (its end message lost with the agent) -> '
              f'{done["status"]}: {time.monotonic() - job_ended_at:.1f}s')
        assert done['status'] == 'completed', done
        assert probe.where(name, cluster=sandbox) == [target]
        probe.wait_for_tick(name, above=tick + 1, cluster=sandbox)
        slots_and_claims_given_back(api)
    except BaseException:
        print(services.logs())
        raise


pytestmark = pytest.mark.functional
