"""A conductor killed in the middle of a migration, and started again, settles it from what
the hypervisors say: a live migration's libvirt job runs on in the source's libvirtd and is
carried to its end; an interrupted cold copy is removed and the guest started again on its
source. api, conductor and agents are separate processes over the real RabbitMQ and
PostgreSQL; the agents copy cold disks at 4 MiB/s, so a copy of the 48 MiB written into the
local guest's disk lasts long enough to kill the conductor during it."""

import os

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
from tests.functional.service.test_live_migration import _base_config, _ready_api

COPY_MIB_S = 4
CONDUCTOR = 'conductor1'


@pytest.fixture(scope='module')
def services(sandbox, local_guest, module_rabbit_url, tmp_path_factory):
    """api and an agent per host, running for the module; the conductor started and killed
    by the tests."""
    workdir = tmp_path_factory.mktemp('restart-services')
    with processes.postgres_database('migrator_restart') as db_url:
        port = processes.free_port()
        config = _base_config(db_url, port, module_rabbit_url)
        config['conductor'] = {'shutdown_timeout': 3}
        services = Services(workdir, config, {h['name']: h for h in sandbox['hosts']})
        with services.serving():
            services.sync_db()
            services.start('migrator-api', 'api')
            for host in services.hosts:
                services.start_agent(host, compute={'disk_copy_bandwidth': COPY_MIB_S})
            services.start('migrator-conductor', CONDUCTOR)
            services.api = _ready_api(port, sandbox)
            processes.wait_until(lambda: services.api.instance(local_guest[0]), 30,
                                 'the local guest to be reported')
            yield services


def test_a_restarted_conductor_completes_the_live_migration_its_predecessor_started(
        services, sandbox):
    api, name = services.api, guest_name(sandbox)
    [source] = probe.where(name, cluster=sandbox)
    tick = probe.wait_for_tick(name, cluster=sandbox)
    try:
        set_bandwidth(sandbox, source, name, CRAWL_MIB_S)
        try:
            response = api.post('/v1/migrations', {'instance': name})
            assert response.status_code == 202, response.text
            migration_id = response.json()['id']
            processes.wait_until(
                lambda: api.get(f'/v1/migrations/{migration_id}').json()['memory_total'], 60,
                'the libvirt job to report progress')
            services.kill(CONDUCTOR)
            assert api.get(f'/v1/migrations/{migration_id}').json()['status'] == 'running'
            services.start('migrator-conductor', CONDUCTOR)
        finally:
            set_bandwidth(sandbox, source, name, UNLIMITED_MIB_S)

        done = api.wait_for_migration(migration_id, timeout=120)
        assert done['status'] == 'completed', done
        assert 'the conductor restarted' in done['events'][-1]['detail']
        target = done['target_host']
        assert probe.where(name, cluster=sandbox) == [target] != [source]
        probe.wait_for_tick(name, above=tick + 1, cluster=sandbox)
        slots_and_claims_given_back(api)

        # The restarted conductor works as any: the guest goes back.
        response = api.post('/v1/migrations', {'instance': name, 'target_host': source})
        assert response.status_code == 202, response.text
        assert api.wait_for_migration(response.json()['id'])['status'] == 'completed'
        assert probe.where(name, cluster=sandbox) == [source]
    except BaseException:
        print(services.logs())
        raise


def test_an_interrupted_cold_copy_is_removed_and_the_guest_runs_again_on_its_source(
        services, local_guest):
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
            lambda: (api.get(f'/v1/migrations/{migration_id}').json()['disk_processed']
                     or 0) > 0, 90, 'the disk copy to make progress')
        assert os.path.exists(copy)
        services.kill(CONDUCTOR)
        console_size = os.path.getsize(guest['console_log'])   # the guest is off now
        services.start('migrator-conductor', CONDUCTOR)

        done = api.wait_for_migration(migration_id, timeout=120)
        assert done['status'] == 'failed', done
        assert 'the conductor restarted while the cold migration was copying' in done['error']
        assert probe.where(name, cluster=cluster) == [source]   # running again
        assert not os.path.exists(copy)

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
