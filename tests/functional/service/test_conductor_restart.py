"""A conductor killed in the middle of a migration, and started again, settles it from what
the hypervisors say: a live migration's libvirt job runs on in the source's libvirtd and is
carried to its end; an interrupted cold copy is removed and the guest started again on its
source. api, conductor and agents are separate processes over the real RabbitMQ and
PostgreSQL; the agents copy cold disks at 4 MiB/s, so a copy of the 48 MiB written into the
local guest's disk lasts long enough to kill the conductor during it."""

import os
import subprocess
import sys
import uuid

import libvirt
import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import host as host_mod
from migrator.sandbox import probe
from tests.functional.service import processes
from tests.functional.service.conftest import guest_name
from tests.functional.service.test_live_migration import _base_config, _ready_api

CRAWL_MIB_S = 1
UNLIMITED_MIB_S = 1 << 20
COPY_MIB_S = 4
DATA_MIB = 48


def _set_bandwidth(cluster, host_name, guest, mib_per_s):
    host = next(h for h in cluster['hosts'] if h['name'] == host_name)
    conn = libvirt.open(host['uri'])
    try:
        conn.lookupByName(guest).migrateSetMaxSpeed(mib_per_s, 0)
    finally:
        conn.close()


class Services:
    """api and an agent per host, running for the module; conductors started and killed
    by the tests."""

    def __init__(self, workdir, config, hosts):
        self.workdir = workdir
        self.config = config
        self.hosts = hosts
        self.started = []
        self.conductor = None
        self.runs = 0

    def conf(self, name, host, **sections):
        values = {**self.config, 'DEFAULT': {**self.config['DEFAULT'], 'host': host}}
        if host in self.hosts:
            for section, options in host_mod.agent_options(self.hosts[host]).items():
                values[section] = {**values.get(section, {}), **options}
        for section, extra in sections.items():
            values[section] = {**values.get(section, {}), **extra}
        return processes.write_config(self.workdir / f'{name}.conf', values)

    def start_conductor(self):
        self.runs += 1
        self.conductor = processes.ServiceProcess(
            'migrator-conductor', self.conf('conductor', 'conductor1'),
            self.workdir / f'conductor-{self.runs}.log')

    def kill_conductor(self):
        """SIGKILL: no clean shutdown, as if its machine died."""
        self.conductor.proc.kill()
        self.conductor.proc.wait()
        self.conductor.stop()

    def logs(self):
        procs = self.started + ([self.conductor] if self.conductor else [])
        return '\n'.join(f'--- {p.script} log ---\n{p.log()[-4000:]}' for p in procs)


@pytest.fixture(scope='module')
def local_guest(sandbox):
    """A guest on a local (unshared) disk with data on it, on sandbox-host2."""
    guest = cluster_mod.add_guest(state_dir=sandbox['state_dir'], host='sandbox-host2',
                                  disks='local')
    cluster = cluster_mod.load(sandbox['state_dir'])
    probe.qemu_io(guest['name'], f'write -P 0x3c 8M {DATA_MIB}M', cluster=cluster,
                  timeout=60)
    return guest['name'], cluster


@pytest.fixture(scope='module')
def services(sandbox, local_guest, module_rabbit_url, tmp_path_factory):
    import psycopg2
    workdir = tmp_path_factory.mktemp('restart-services')
    name = f'migrator_restart_{uuid.uuid4().hex[:10]}'
    admin = psycopg2.connect(host='127.0.0.1', user='postgres', dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE {name}')
    port = processes.free_port()
    config = _base_config(f'postgresql+psycopg2://postgres@127.0.0.1/{name}', port,
                          module_rabbit_url)
    config['conductor'] = {'shutdown_timeout': 3}
    services = Services(workdir, config, {h['name']: h for h in sandbox['hosts']})
    try:
        api_conf = services.conf('api', 'api')
        subprocess.run([os.path.join(os.path.dirname(sys.executable), 'migrator-manage'),
                        '--config-file', str(api_conf), 'db', 'sync'], check=True)
        services.started.append(processes.ServiceProcess('migrator-api', api_conf,
                                                         workdir / 'api.log'))
        for host in services.hosts:
            services.started.append(processes.ServiceProcess(
                'migrator-compute',
                services.conf(host, host, compute={'disk_copy_bandwidth': COPY_MIB_S}),
                workdir / f'{host}.log'))
        services.start_conductor()
        services.api = _ready_api(port, sandbox)
        processes.wait_until(lambda: services.api.instance(local_guest[0]), 30,
                             'the local guest to be reported')
        yield services
    except BaseException:
        print(services.logs())
        raise
    finally:
        # The agents first, the conductor last: a report cast after the conductor left
        # would wait in its queue for nobody.
        for proc in list(reversed(services.started)) + \
                ([services.conductor] if services.conductor else []):
            proc.stop()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        admin.close()


def _slots_and_claims_given_back(api):
    processes.wait_until(
        lambda: all(h['migrations_in_flight'] == [] and h['memory_mb_claimed'] == 0
                    for h in api.get('/v1/hosts').json()['hosts']), 30,
        'the slots and claims to be given back')


def test_a_restarted_conductor_completes_the_live_migration_its_predecessor_started(
        services, sandbox):
    api, name = services.api, guest_name(sandbox)
    [source] = probe.where(name, cluster=sandbox)
    tick = probe.wait_for_tick(name, cluster=sandbox)
    try:
        _set_bandwidth(sandbox, source, name, CRAWL_MIB_S)
        try:
            response = api.post('/v1/migrations', {'instance': name})
            assert response.status_code == 202, response.text
            migration_id = response.json()['id']
            processes.wait_until(
                lambda: api.get(f'/v1/migrations/{migration_id}').json()['memory_total'], 60,
                'the libvirt job to report progress')
            services.kill_conductor()
            assert api.get(f'/v1/migrations/{migration_id}').json()['status'] == 'running'
            services.start_conductor()
        finally:
            _set_bandwidth(sandbox, source, name, UNLIMITED_MIB_S)

        done = api.wait_for_migration(migration_id, timeout=120)
        assert done['status'] == 'completed', done
        assert 'the conductor restarted' in done['events'][-1]['detail']
        target = done['target_host']
        assert probe.where(name, cluster=sandbox) == [target] != [source]
        probe.wait_for_tick(name, above=tick + 1, cluster=sandbox)
        _slots_and_claims_given_back(api)

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
        services.kill_conductor()
        console_size = os.path.getsize(guest['console_log'])   # the guest is off now
        services.start_conductor()

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
        _slots_and_claims_given_back(api)
    except BaseException:
        print(services.logs())
        raise


pytestmark = pytest.mark.functional
