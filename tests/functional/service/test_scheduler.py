"""The scheduler on the real sandbox, with api, two conductors and four compute agents as
separate processes over the real RabbitMQ and PostgreSQL.

Six 128 MiB guests start on sandbox-host1. sandbox-host4's agent reserves more memory than
the machine has, so it is always full (until the last test gives it room for one guest).
The conductors pack (negative RAM weight): without a filter they would pick the fullest
host that fits, which makes "not chosen" observable.
"""

import concurrent.futures
import os
import subprocess
import sys
import threading
import uuid

import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

GUESTS = 6
IN_FLIGHT = ('scheduling', 'preparing', 'running', 'post_copy', 'finishing', 'cancelling',
             'rolling_back')
TERMINAL = ('completed', 'failed', 'cancelled', 'error')


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('sched-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=4, guests_per_host=0, state_dir=state_dir)
        guests = [cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1',
                                        memory_mib=128, dirty_rate_mib=1, disks='shared',
                                        wait=False) for _ in range(GUESTS)]
        for guest in guests:
            probe.wait_for_tick(guest['console_log'], 0, 180)
        yield cluster_mod.load(state_dir)
    finally:
        cluster_mod.down(state_dir)


class Services:
    """The API client, and the agents' processes so a test can restart one."""

    def __init__(self, api, agents, agent_config):
        self.api = api
        self.agents = agents
        self._agent_config = agent_config

    def restart_agent(self, host, **compute):
        """Restart host's agent with these [compute] options."""
        self.agents[host].stop()
        self.agents[host] = self._agent_config(host, compute)


@pytest.fixture(scope='module')
def services(sandbox, module_rabbit_url, tmp_path_factory):
    """api, conductor1, conductor2 and an agent per host, as Services."""
    import psycopg2
    workdir = tmp_path_factory.mktemp('sched-services')
    name = f'migrator_sched_{uuid.uuid4().hex[:10]}'
    admin = psycopg2.connect(host='127.0.0.1', user='postgres', dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE {name}')
    port = processes.free_port()
    base = {
        'DEFAULT': {'transport_url': module_rabbit_url},
        'database': {'connection': f'postgresql+psycopg2://postgres@127.0.0.1/{name}'},
        'api': {'port': port},
        'compute': {'report_interval': 2, 'progress_interval': 0.2},
        'scheduler': {'ram_weight_multiplier': -1.0, 'queue_poll_interval': 2},
        'libvirt': {'virt_type': 'qemu'},
    }

    def config(filename, host, **sections):
        values = {**base, 'DEFAULT': {**base['DEFAULT'], 'host': host}}
        for section, extra in sections.items():
            values[section] = {**values.get(section, {}), **extra}
        return processes.write_config(workdir / filename, values)

    started, agents = [], {}

    def start_agent(host, compute):
        conf = config(f'{host["name"]}.conf', host['name'],
                      libvirt={'connection_uri': host['uri']}, compute=compute)
        agents[host['name']] = processes.ServiceProcess(
            'migrator-compute', conf, workdir / f"{host['name']}.log")
        return agents[host['name']]

    by_name = {h['name']: h for h in sandbox['hosts']}
    try:
        api_conf = config('api.conf', 'api')
        subprocess.run([os.path.join(os.path.dirname(sys.executable), 'migrator-manage'),
                        '--config-file', str(api_conf), 'db', 'sync'], check=True)
        started.append(processes.ServiceProcess('migrator-api', api_conf, workdir / 'api.log'))
        for conductor in ('conductor1', 'conductor2'):
            started.append(processes.ServiceProcess(
                'migrator-conductor', config(f'{conductor}.conf', conductor),
                workdir / f'{conductor}.log'))
        for host in sandbox['hosts']:
            start_agent(host, {'reserved_host_memory_mb': 10 ** 7}
                        if host['index'] == 4 else {})
        api = processes.ApiClient(f'http://127.0.0.1:{port}')
        processes.wait_until(api.answers, 300, 'the API to answer')
        processes.wait_until(lambda: api.hosts_up([h['name'] for h in sandbox['hosts']]), 300,
                             'every compute agent to report')
        processes.wait_until(
            lambda: all(api.instance(g['name']) for g in sandbox['guests']), 120,
            'the guests to be reported')
        yield Services(api, agents, lambda name, compute: start_agent(by_name[name], compute))
    except BaseException:
        for proc in started + list(agents.values()):
            print(f'--- {proc.script} log ---\n{proc.log()[-3000:]}')
        raise
    finally:
        for proc in list(agents.values()) + list(reversed(started)):
            proc.stop()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        admin.close()


def _put(api, path, body):
    import requests
    return requests.put(api.url + path, json=body, timeout=30)


def _where(api, name):
    return api.instance(name)['host']


def _intervals(migration):
    """(start, end) of each stretch the migration held a slot: from entering scheduling to
    leaving for queued or a final state, taken from its event history."""
    spans, start = [], None
    for event in migration['events']:
        if event['to_state'] == 'scheduling':
            start = event['time']
        elif start is not None and event['to_state'] in ('queued',) + TERMINAL:
            spans.append((start, event['time']))
            start = None
    return spans


def test_six_from_one_host_run_at_most_two_at_a_time(services, sandbox):
    api = services.api
    names = [g['name'] for g in sandbox['guests']]
    ids = []
    for name in names:
        response = api.post('/v1/migrations', {'instance': name})
        assert response.status_code == 202, response.text
        ids.append(response.json()['id'])

    most = 0

    def all_done():
        nonlocal most
        # One listing is one query: a snapshot of all six at one moment.
        listed = {m['id']: m for m in api.get('/v1/migrations', limit=50).json()['migrations']}
        migrations = [listed[i] for i in ids]
        most = max(most, sum(m['status'] in IN_FLIGHT for m in migrations))
        return ids if all(m['status'] in TERMINAL for m in migrations) else None

    processes.wait_until(all_done, 600, 'the six migrations to end', interval=0.05)
    finals = [api.get(f'/v1/migrations/{i}').json() for i in ids]
    assert [m['status'] for m in finals] == ['completed'] * GUESTS, finals
    assert 1 <= most <= 2
    # Exactly, from the recorded history: never more than two held a slot at once.
    edges = sorted([(s, 1) for m in finals for s, _ in _intervals(m)]
                   + [(e, -1) for m in finals for _, e in _intervals(m)],
                   key=lambda edge: (edge[0], edge[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak <= 2, finals
    queued = [m for m in finals if 'queued' in [e['to_state'] for e in m['events']]]
    assert len(queued) >= GUESTS - 2
    assert {m['target_host'] for m in finals} <= {'sandbox-host2', 'sandbox-host3'}
    for name, migration in zip(names, finals, strict=True):
        assert probe.where(name, cluster=sandbox) == [migration['target_host']]
    assert all(h['migrations_in_flight'] == [] for h in _hosts(api).values())
    # A landed guest's memory stays claimed until its new host's agent counts it.
    processes.wait_until(
        lambda: all(h['memory_mb_claimed'] == 0 for h in _hosts(api).values()), 30,
        'the targets to report their guests and the claims to be given back')


def test_disabled_host_is_not_chosen_and_forced_onto_it_is_409(services, sandbox):
    api = services.api
    guest = sandbox['guests'][0]['name']
    source = _where(api, guest)
    fuller = 'sandbox-host3' if source == 'sandbox-host2' else 'sandbox-host2'
    response = _put(api, f'/v1/hosts/{fuller}', {'status': 'disabled', 'reason': 'test'})
    assert response.status_code == 200, response.text
    try:
        dry = api.post('/v1/migrations', {'instance': guest, 'dry_run': True}).json()['dry_run']
        assert dry['target_host'] == 'sandbox-host1', dry
        removed = {f['filter']: f['removed'] for f in dry['filters']}
        assert removed['HostStatusFilter'] == 1 and removed['MemoryFilter'] == 1

        refused = api.post('/v1/migrations', {'instance': guest, 'target_host': fuller})
        assert refused.status_code == 409
        assert 'refused by HostStatusFilter' in refused.json()['error']['message']

        response = api.post('/v1/migrations', {'instance': guest})
        assert response.status_code == 202, response.text
        done = api.wait_for_migration(response.json()['id'])
        assert done['status'] == 'completed' and done['target_host'] == 'sandbox-host1'
        assert probe.where(guest, cluster=sandbox) == ['sandbox-host1']
    finally:
        _put(api, f'/v1/hosts/{fuller}', {'status': 'enabled'})


def test_full_host_is_refused_naming_the_memory_filter(services, sandbox):
    api = services.api
    guest = sandbox['guests'][1]['name']
    before = api.get('/v1/migrations').json()['migrations']
    refused = api.post('/v1/migrations', {'instance': guest, 'target_host': 'sandbox-host4'})
    assert refused.status_code == 409
    message = refused.json()['error']['message']
    assert 'refused by MemoryFilter' in message and 'needs 128 MiB' in message
    assert api.get('/v1/migrations').json()['migrations'] == before


def test_anti_affinity_keeps_group_members_apart(services, sandbox):
    api = services.api
    first, second = (g['name'] for g in sandbox['guests'][:2])
    processes.wait_until(lambda: _where(api, first) == 'sandbox-host1', 30,
                         'the first guest to show on sandbox-host1')
    response = api.post('/v1/server-groups', {'name': 'apart', 'policy': 'anti-affinity',
                                              'members': [first, second]})
    assert response.status_code == 201, response.text
    try:
        refused = api.post('/v1/migrations', {'instance': second,
                                              'target_host': 'sandbox-host1'})
        assert refused.status_code == 409
        assert 'ServerGroupAntiAffinityFilter' in refused.json()['error']['message']
        dry = api.post('/v1/migrations',
                       {'instance': second, 'dry_run': True}).json()['dry_run']
        removed = {f['filter']: f['removed'] for f in dry['filters']}
        assert removed['ServerGroupAntiAffinityFilter'] == 1, dry

        response = api.post('/v1/migrations', {'instance': second})
        assert response.status_code == 202, response.text
        done = api.wait_for_migration(response.json()['id'])
        assert done['status'] == 'completed'
        assert done['target_host'] not in ('sandbox-host1', 'sandbox-host4', done['source_host'])
        assert probe.where(second, cluster=sandbox) == [done['target_host']]
    finally:
        # The later tests move these guests too: the group must not refuse them.
        assert api.request_delete('/v1/server-groups/apart').status_code == 204


ROOM_MB = 200   # room for one 128 MiB guest, not for two


def _hosts(api):
    return {h['name']: h for h in api.get('/v1/hosts').json()['hosts']}


def _submit_at_once(api, names):
    """POST a migration of each guest from its own thread, all released together; returns
    the responses."""
    start = threading.Barrier(len(names))

    def submit(name):
        start.wait()
        return api.post('/v1/migrations', {'instance': name})

    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(submit, names))


def _accepted_or_refused_for_memory(responses):
    """Ids of the accepted requests. The API asks a conductor whether the request can be
    placed, so one that comes after a claim is seen may be refused at once: with a 409
    naming the memory filter, and nothing created."""
    ids = []
    for response in responses:
        if response.status_code == 202:
            ids.append(response.json()['id'])
        else:
            assert response.status_code == 409, response.text
            assert 'MemoryFilter' in response.json()['error']['message'], response.text
    return ids


def test_two_conductors_never_overcommit_a_host_with_room_for_one(services, sandbox):
    """Only sandbox-host4 may take guests, and it has room for exactly one. Five migrations
    sent at once reach both conductors, whose host caches (refreshed at most once a second)
    all still show the room, so each chooses sandbox-host4 and only the claim in the DB
    stands between them and an overcommit. A fifth is sent the moment the first completes,
    when the winner's claim has just been given back. Without atomic claims, or with a
    claim given back before the host's usage counts the guest, two guests would end on
    sandbox-host4."""
    api = services.api
    capacity = _hosts(api)['sandbox-host4']['memory_mb']
    services.restart_agent('sandbox-host4', reserved_host_memory_mb=capacity - ROOM_MB)
    others = ('sandbox-host1', 'sandbox-host2', 'sandbox-host3')
    try:
        processes.wait_until(
            lambda: (_hosts(api)['sandbox-host4']['memory_mb_capacity'] == ROOM_MB
                     and api.hosts_up(['sandbox-host4'])), 60,
            'sandbox-host4 to report its room for one guest')
        for name in others:
            response = _put(api, f'/v1/hosts/{name}',
                            {'status': 'disabled', 'reason': 'test: only host4 takes guests'})
            assert response.status_code == 200, response.text
        names = [g['name'] for g in sandbox['guests']]
        assert not any(_where(api, n) == 'sandbox-host4' for n in names)

        ids = _accepted_or_refused_for_memory(_submit_at_once(api, names[:5]))
        assert len(ids) >= 2, 'fewer than two decisions raced'
        burst = list(ids)

        def first_completed():
            listed = {m['id']: m for m in
                      api.get('/v1/migrations', limit=50).json()['migrations']}
            mine = [listed[i] for i in ids]
            done = [m for m in mine if m['status'] == 'completed']
            if done:
                return done[0]
            return 'none completed' if all(m['status'] in TERMINAL for m in mine) else None

        winner = processes.wait_until(first_completed, 300, 'a first migration to complete',
                                      interval=0.02)
        ids += _accepted_or_refused_for_memory(
            [api.post('/v1/migrations', {'instance': names[5]})])
        finals = [api.wait_for_migration(i, timeout=300) for i in ids]

        assert winner != 'none completed', finals
        completed = [m for m in finals if m['status'] == 'completed']
        assert [m['id'] for m in completed] == [winner['id']], finals
        assert winner['target_host'] == 'sandbox-host4'
        for refused in finals:
            if refused['id'] != winner['id']:
                assert refused['status'] == 'failed', refused
                assert 'MemoryFilter' in refused['error'], refused
        # Both conductors took part: the race was between processes, not threads.
        assert {m['conductor'] for m in finals[:len(burst)]} == {'conductor1', 'conductor2'}, \
            finals
        # What libvirt runs, not what the DB says: one guest on sandbox-host4, and every
        # guest on exactly one host.
        placement = {n: probe.where(n, cluster=sandbox) for n in names}
        assert all(len(hosts) == 1 for hosts in placement.values()), placement
        assert [n for n, hosts in placement.items() if hosts == ['sandbox-host4']] == \
            [winner['instance_name']], placement
        processes.wait_until(
            lambda: (_hosts(api)['sandbox-host4']['memory_mb_used'] == 128
                     and _hosts(api)['sandbox-host4']['memory_mb_claimed'] == 0), 60,
            "sandbox-host4's report to count the guest and its claim to be given back")
    finally:
        for name in others:
            _put(api, f'/v1/hosts/{name}', {'status': 'enabled'})
        services.restart_agent('sandbox-host4', reserved_host_memory_mb=10 ** 7)


pytestmark = pytest.mark.functional
