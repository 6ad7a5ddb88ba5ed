"""The compute agent survives its own restart and its libvirtd's, against the real sandbox.

api, conductor and an agent per host run as separate processes over the real RabbitMQ and
PostgreSQL. A live migration is slowed to 1 MiB/s (libvirt's own bandwidth cap on the
domain) so that the faults land while its libvirt job runs:

- the source agent SIGKILLed and started again re-attaches to the job from the record in
  the domain's metadata: progress samples resume, force-complete works, and the end is
  reported as usual (completed); an abort after the restart cancels the job;
- the source's libvirtd restarted during the job: the agent reports its host down, the job
  fails with the guest on the source, the agent reconnects and reports its host up again;
- a cold migration's disk copy cut by a restart of the target agent (which runs the copy)
  is rolled back: the copy removed, the guest running again on its source.

Figures (time from agent restart to progress resuming, from libvirtd back to the host up)
are printed; run with -s to see them.
"""

import datetime
import os
import threading
import time

import pytest

from migrator.sandbox import cluster as cluster_mod
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
from tests.functional.service.test_live_migration import _base_config, _ready_api

COPY_MIB_S = 4


def _start_agent(services, host):
    services.start_agent(host, compute={'disk_copy_bandwidth': COPY_MIB_S})


@pytest.fixture(scope='module')
def services(sandbox, local_guest, module_rabbit_url, tmp_path_factory):
    """api, conductor and one agent per host; agents are killed and started by the tests."""
    workdir = tmp_path_factory.mktemp('agent-faults')
    with processes.postgres_database('migrator_agentf') as db_url:
        port = processes.free_port()
        config = _base_config(db_url, port, module_rabbit_url)
        config['conductor'] = {'shutdown_timeout': 3, 'disk_copy_check_interval': 1}
        # The agents' records of their qemu-nbd and qemu-img processes, and their keys.
        config['DEFAULT'] = {**config['DEFAULT'], 'state_path': str(workdir / 'state')}
        services = Services(workdir, config, {h['name']: h for h in sandbox['hosts']})
        with services.serving():
            services.sync_db()
            services.start('migrator-api', 'api')
            services.start('migrator-conductor', 'conductor1')
            for host in services.hosts:
                _start_agent(services, host)
            # Five services start at once on a busy machine: a generous bound for the first.
            processes.wait_until(processes.ApiClient(f'http://127.0.0.1:{port}').answers, 240,
                                 'the API to answer')
            services.api = _ready_api(port, sandbox)
            processes.wait_until(lambda: services.api.instance(local_guest[0]), 30,
                                 'the local guest to be reported')
            yield services


def _migration(api, migration_id):
    return api.get(f'/v1/migrations/{migration_id}').json()


def _start_crawling_migration(api, sandbox, name, source):
    """A live migration of name at 1 MiB/s, once its job reports progress."""
    set_bandwidth(sandbox, source, name, CRAWL_MIB_S)
    response = api.post('/v1/migrations', {'instance': name})
    assert response.status_code == 202, response.text
    migration_id = response.json()['id']
    processes.wait_until(lambda: _migration(api, migration_id)['memory_processed'], 90,
                         'the libvirt job to report progress')
    return migration_id


def _restart_agent_and_wait_for_progress(services, source, migration_id):
    """Kills the source agent, starts it again; seconds from the start to the first
    progress sample of the new process."""
    api = services.api
    services.kill(source)
    before = _migration(api, migration_id)
    assert before['status'] == 'running', before
    started = time.monotonic()
    _start_agent(services, source)
    # At 1 MiB/s a sample of the new process is ahead of any the old one left in flight
    # by far more than a MiB.
    processes.wait_until(
        lambda: (_migration(api, migration_id)['memory_processed'] or 0)
        > before['memory_processed'] + 2 ** 20, 90, 'progress samples to resume')
    return time.monotonic() - started


def _log_seconds(log, first, then):
    """Seconds between the log lines containing first and then (oslo.log timestamps)."""
    def at(text):
        line = next(ln for ln in log.splitlines() if text in ln)
        return datetime.datetime.strptime(line[:23], '%Y-%m-%d %H:%M:%S.%f')
    return (at(then) - at(first)).total_seconds()


def test_a_restarted_source_agent_reattaches_to_the_running_live_migration(services, sandbox):
    api, name = services.api, guest_name(sandbox)
    [source] = probe.where(name, cluster=sandbox)
    tick = probe.wait_for_tick(name, cluster=sandbox)
    try:
        migration_id = _start_crawling_migration(api, sandbox, name, source)
        resumed = _restart_agent_and_wait_for_progress(services, source, migration_id)
        log = services.running[source].log()
        assert 're-attached to its libvirt job' in log
        print(f'\nFIGURE agent restart -> progress samples resume: {resumed:.2f} s '
              f'(agent listening -> job re-attached: '
              f'{_log_seconds(log, "Listening on", "re-attached to its libvirt job"):.2f} s)')

        # Force-complete reaches the re-attached job: the guest is paused to finish.
        response = api.post(f'/v1/migrations/{migration_id}/action', {'force_complete': None})
        assert response.status_code == 202, response.text
        assert response.json()['forced'] == 'paused'
        set_bandwidth(sandbox, source, name, UNLIMITED_MIB_S)

        done = api.wait_for_migration(migration_id, timeout=120)
        assert done['status'] == 'completed', done
        assert 'paused to finish it' in done['events'][-2]['detail'], done['events']
        assert probe.where(name, cluster=sandbox) == [done['target_host']] != [source]
        probe.wait_for_tick(name, above=tick + 1, cluster=sandbox)
        slots_and_claims_given_back(api)
    except BaseException:
        print(services.logs())
        raise
    finally:
        for host in probe.where(name, cluster=sandbox):
            set_bandwidth(sandbox, host, name, UNLIMITED_MIB_S)


def test_an_abort_after_the_agent_restart_cancels_the_job(services, sandbox):
    api, name = services.api, guest_name(sandbox)
    [source] = probe.where(name, cluster=sandbox)
    tick = probe.wait_for_tick(name, cluster=sandbox)
    try:
        migration_id = _start_crawling_migration(api, sandbox, name, source)
        _restart_agent_and_wait_for_progress(services, source, migration_id)

        response = api.request_delete(f'/v1/migrations/{migration_id}')
        assert response.status_code == 202, response.text
        done = api.wait_for_migration(migration_id, timeout=120)
        assert done['status'] == 'cancelled', done
        assert probe.where(name, cluster=sandbox) == [source]
        assert probe.where(name, cluster=sandbox, active_only=False) == [source]
        probe.wait_for_tick(name, above=tick + 1, cluster=sandbox)
        slots_and_claims_given_back(api)
    except BaseException:
        print(services.logs())
        raise
    finally:
        set_bandwidth(sandbox, source, name, UNLIMITED_MIB_S)


def _host(api, name):
    return next(h for h in api.get('/v1/hosts').json()['hosts'] if h['name'] == name)


def test_a_source_libvirtd_restart_fails_the_migration_with_the_guest_on_its_source(
        services, sandbox):
    api, name = services.api, guest_name(sandbox)
    [source] = probe.where(name, cluster=sandbox)
    tick = probe.wait_for_tick(name, cluster=sandbox)
    seen_down = threading.Event()

    def while_the_daemon_is_away():
        # The agent reported its host down when the connection closed (at SIGTERM, long
        # before the old daemon finished exiting).
        if _host(api, source)['state'] == 'down':
            seen_down.set()

    try:
        migration_id = _start_crawling_migration(api, sandbox, name, source)
        cluster_mod.restart_libvirtd(sandbox['state_dir'], source,
                                     between=while_the_daemon_is_away)
        back = time.monotonic()
        assert seen_down.is_set(), _host(api, source)
        processes.wait_until(lambda: _host(api, source)['state'] == 'up', 60,
                             f'{source} to be reported up again')
        print(f'\nFIGURE libvirtd back -> host reported up: {time.monotonic() - back:.2f} s')

        done = api.wait_for_migration(migration_id, timeout=120)
        assert done['status'] == 'failed', done
        # The agent's word once it reconnected, or (should the conductor's poll of a silent
        # job get there first) what the hypervisors then say: the same end either way.
        assert ('libvirtd stopped during the job' in done['error']
                or 'without moving the guest' in done['error']), done
        assert probe.where(name, cluster=sandbox) == [source]
        assert probe.where(name, cluster=sandbox, active_only=False) == [source]
        probe.wait_for_tick(name, above=tick + 1, cluster=sandbox)
        slots_and_claims_given_back(api)
        assert 'Reconnected to libvirtd' in services.running[source].log()

        # The reconnected agent works as before: the guest moves.
        set_bandwidth(sandbox, source, name, UNLIMITED_MIB_S)
        response = api.post('/v1/migrations', {'instance': name})
        assert response.status_code == 202, response.text
        assert api.wait_for_migration(response.json()['id'])['status'] == 'completed'
    except BaseException:
        print(services.logs())
        raise
    finally:
        for host in probe.where(name, cluster=sandbox):
            set_bandwidth(sandbox, host, name, UNLIMITED_MIB_S)


def test_a_cold_copy_cut_by_a_target_agent_restart_is_rolled_back(services, local_guest):
    api = services.api
    name, cluster = local_guest
    guest = next(g for g in cluster['guests'] if g['name'] == name)
    [source] = probe.where(name, cluster=cluster)
    target = next(h for h in cluster['hosts'] if h['name'] != source)
    copy = os.path.join(target['image_dir_outside'], os.path.basename(guest['disk']))
    try:
        response = api.post('/v1/migrations', {'instance': name, 'type': 'cold',
                                               'target_host': target['name']})
        assert response.status_code == 202, response.text
        migration_id = response.json()['id']
        processes.wait_until(
            lambda: (_migration(api, migration_id)['disk_processed'] or 0) > 0, 90,
            'the disk copy to make progress')
        assert os.path.exists(copy)
        services.kill(target['name'])
        console_size = os.path.getsize(guest['console_log'])   # the guest is off now
        _start_agent(services, target['name'])

        done = api.wait_for_migration(migration_id, timeout=120)
        assert done['status'] == 'failed', done
        assert 'without reporting its end' in done['error'], done
        assert probe.where(name, cluster=cluster) == [source]   # running again
        assert not os.path.exists(copy)
        # The qemu-img the killed agent left writing was stopped by the next one, and the
        # source's export by the rollback: no tool, record or key is left.
        state = str(services.workdir / 'state' / 'disk-copy')
        assert not [os.path.join(d, f) for d, _, files in os.walk(state) for f in files]
        assert not processes.processes_naming(state)

        def ticked_again():
            with open(guest['console_log'], 'rb') as f:
                f.seek(console_size)
                return probe.TICK_RE.search(f.read())
        processes.wait_until(ticked_again, 120, 'a new tick on the serial console',
                             interval=0.2)
        slots_and_claims_given_back(api)
    except BaseException:
        print(services.logs())
        raise


pytestmark = pytest.mark.functional
