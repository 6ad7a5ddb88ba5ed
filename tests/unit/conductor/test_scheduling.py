"""The conductor with its scheduler and queue over the fake virt driver and a real DB."""

import threading
import time

import pytest

from migrator.common import exceptions, states
from migrator.conductor import manager
from migrator.conf import CONF
from tests.unit.conductor import fakes


@pytest.fixture
def cluster(db):
    # Every decision re-reads what changed (host status set straight in the DB here).
    CONF.set_override('host_cache_refresh_interval', 0, group='scheduler')
    conductors = []

    def factory(compute_api):
        conductor = manager.ConductorManager(db, compute_api=compute_api, host='conductor1')
        conductors.append(conductor)
        return conductor

    cluster = fakes.FakeCluster(factory, hosts=('host1', 'host2', 'host3', 'host4'))
    cluster.cloud.shared_dirs.add('/shared')
    yield cluster
    if cluster.cloud.gate is not None:
        cluster.cloud.gate.set()
    for conductor in conductors:
        conductor.executor.shutdown(wait=True)
    CONF.clear_override('host_cache_refresh_interval', group='scheduler')


def _submit(db, cluster, name, target=None, priority=0):
    instance = db.instance_get(name)
    migration = db.migration_create({
        'instance_uuid': instance['uuid'], 'instance_name': instance['name'], 'type': 'live',
        'source_host': instance['host'], 'requested_target': target, 'priority': priority})
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    return migration['id']


def _wait(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.01)


def _ended(db, ids):
    return all(db.migration_get(i)['status'] in states.TERMINAL for i in ids)


def test_forced_target_failing_a_filter_names_it(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    db.host_set_status('host2', 'maintenance', 'new disks')

    with pytest.raises(exceptions.NoValidHost) as raised:
        cluster.conductor.select_destination(cluster.ctxt, 'vm1', 'live', 'host2')
    assert 'refused by HostStatusFilter: host2 is maintenance: new disks' in str(raised.value)


def test_cpu_model_the_target_cannot_run(db, cluster):
    cluster.drivers['host1'].add_domain('vm1', cpu_model='Icelake-Server')
    cluster.drivers['host3'].cpu_models.append('Icelake-Server')
    cluster.report_all()
    assert cluster.conductor.select_destination(cluster.ctxt, 'vm1', 'live') == 'host3'
    with pytest.raises(exceptions.NoValidHost) as raised:
        cluster.conductor.select_destination(cluster.ctxt, 'vm1', 'live', 'host2')
    assert 'CpuCompatibilityFilter' in str(raised.value)


def test_no_host_fits_says_what_each_filter_removed(db, cluster):
    cluster.drivers['host1'].add_domain('huge', memory_mb=7000)
    cluster.drivers['host2'].add_domain('big', memory_mb=4000)
    cluster.report_all()
    db.host_set_status('host3', 'disabled', 'broken fan')
    db.host_set_status('host4', 'disabled')

    with pytest.raises(exceptions.NoValidHost) as raised:
        cluster.conductor.select_destination(cluster.ctxt, 'huge', 'live')
    message = str(raised.value)
    assert 'HostStatusFilter removed 2' in message and 'broken fan' in message
    assert 'NotSourceFilter removed 1' in message
    assert 'MemoryFilter removed 1' in message and 'needs 7000 MiB' in message


def test_dry_run_explains_and_claims_nothing(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.drivers['host2'].add_domain('big', memory_mb=4096)
    cluster.report_all()
    db.host_set_status('host4', 'disabled', 'spare')

    answer = cluster.conductor.schedule_dry_run(cluster.ctxt, 'vm1', 'live')

    assert answer['possible'] and answer['target_host'] == 'host3'
    assert 'host3 passed every filter' in answer['reason']
    removed = {f['filter']: f['removed'] for f in answer['filters']}
    assert removed['HostStatusFilter'] == 1 and removed['NotSourceFilter'] == 1
    assert [w['host'] for w in answer['weights']] == ['host3', 'host2']
    assert answer['slots']['would_queue'] is False
    assert db.claim_list() == [] and db.migration_list() == []
    assert all(h['claimed_memory_mb'] == 0 for h in db.host_list())


def test_anti_affinity_keeps_members_apart(db, cluster):
    a = cluster.drivers['host1'].add_domain('a')
    b = cluster.drivers['host2'].add_domain('b')
    cluster.drivers['host3'].add_domain('c')
    cluster.report_all()
    db.server_group_create('web', 'anti-affinity', [a['uuid'], b['uuid']])
    for host in ('host3', 'host4'):
        db.host_set_status(host, 'disabled', 'test')

    with pytest.raises(exceptions.NoValidHost) as raised:
        cluster.conductor.select_destination(cluster.ctxt, 'a', 'live')
    assert "ServerGroupAntiAffinityFilter removed 1" in str(raised.value)
    db.host_set_status('host3', 'enabled')
    assert cluster.conductor.select_destination(cluster.ctxt, 'a', 'live') == 'host3'


def test_anti_affinity_counts_members_on_their_way(db, cluster):
    """Two members moved at once must not both land on the one free host."""
    a = cluster.drivers['host1'].add_domain('a')
    b = cluster.drivers['host1'].add_domain('b')
    cluster.report_all()
    db.server_group_create('web', 'anti-affinity', [a['uuid'], b['uuid']])
    db.host_set_status('host4', 'disabled', 'test')
    cluster.cloud.gate = threading.Event()
    first = _submit(db, cluster, 'a', target='host2')
    _wait(lambda: db.migration_get(first)['status'] == states.RUNNING, 'a running')

    with pytest.raises(exceptions.NoValidHost) as raised:
        cluster.conductor.select_destination(cluster.ctxt, 'b', 'live', 'host2')
    assert 'ServerGroupAntiAffinityFilter' in str(raised.value)
    cluster.cloud.gate.set()
    _wait(lambda: _ended(db, [first]), 'the migration to end')


def test_full_host_is_not_chosen_and_claims_count(db, cluster):
    for name in ('a', 'b'):
        cluster.drivers['host1'].add_domain(name, memory_mb=3000)
    cluster.report_all()
    for host in ('host3', 'host4'):
        db.host_set_status(host, 'disabled', 'test')
    # host2 has room for one 3000 MiB guest after the reserved 512 MiB... and 8192 total.
    CONF.set_override('ram_allocation_ratio', 0.5, group='scheduler')
    cluster.conductor.scheduler.cache.refresh()
    try:
        cluster.cloud.gate = threading.Event()
        first = _submit(db, cluster, 'a')
        _wait(lambda: db.migration_get(first)['status'] == states.RUNNING, 'a running')
        assert db.host_get('host2')['claimed_memory_mb'] == 3000
        second = _submit(db, cluster, 'b')
        _wait(lambda: _ended(db, [second]), 'b to fail')
        failed = db.migration_get(second)
        assert failed['status'] == states.FAILED
        assert 'MemoryFilter' in failed['error'] and 'claimed' in failed['error']
        cluster.cloud.gate.set()
        _wait(lambda: _ended(db, [first]), 'a to end')
        assert db.migration_get(first)['status'] == states.COMPLETED
        # The guest's memory stays claimed on host2 until host2's agent counts it...
        host2 = db.host_get('host2')
        assert host2['claimed_memory_mb'] + host2['memory_mb_used'] >= 3000
        cluster.report_all()
        # ... and then it is counted once, as used.
        host2 = db.host_get('host2')
        assert (host2['claimed_memory_mb'], host2['memory_mb_used']) == (0, 3000)
    finally:
        CONF.clear_override('ram_allocation_ratio', group='scheduler')


def test_six_from_one_host_run_two_at_a_time_in_priority_order(db, cluster):
    names = [f'vm{i}' for i in range(6)]
    for name in names:
        cluster.drivers['host1'].add_domain(name, memory_mb=128)
    cluster.report_all()
    cluster.cloud.gate = threading.Event()

    ids = [_submit(db, cluster, name, priority=5 if name == 'vm5' else 0) for name in names]

    def in_flight():
        return [m for m in db.migration_list(limit=None)
                if m['status'] not in states.TERMINAL | {states.QUEUED, states.ACCEPTED}]

    _wait(lambda: len(in_flight()) == 2 and all(
        m['status'] == states.RUNNING for m in in_flight()), 'two running')
    queued = db.migration_list(status=states.QUEUED, limit=None)
    assert len(queued) == 4
    assert db.host_get('host1')['outbound_migrations'] == 2
    assert db.migration_list_queued()[0]['instance_name'] == 'vm5'  # priority first

    # Let them finish one by one; never more than two in flight.
    cluster.cloud.gate.set()
    seen = 0
    deadline = time.monotonic() + 30
    while not _ended(db, ids):
        seen = max(seen, len(in_flight()))
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert seen <= 2
    finals = [db.migration_get(i) for i in ids]
    assert [m['status'] for m in finals] == [states.COMPLETED] * 6
    for migration in finals:
        assert states.QUEUED in [e['to_state'] for e in migration['events']] or \
            migration['id'] in ids[:2]
    def left_queue(migration_id):
        return next(e['time'] for e in db.migration_get(migration_id)['events']
                    if e['from_state'] == states.QUEUED)

    # Slots are handed out in priority order (their tasks may then race to `preparing`).
    assert all(left_queue(ids[5]) < left_queue(i) for i in ids[2:5])
    assert db.scheduler_active_count() == 0
    assert db.host_get('host1')['outbound_migrations'] == 0


def test_forced_target_at_its_inbound_limit_waits_in_the_queue(db, cluster):
    CONF.set_override('max_inbound_per_host', 1, group='scheduler')
    try:
        cluster.drivers['host1'].add_domain('vm1', memory_mb=128)
        cluster.drivers['host1'].add_domain('vm2', memory_mb=128)
        cluster.report_all()
        cluster.cloud.gate = threading.Event()
        first = _submit(db, cluster, 'vm1', target='host2')
        _wait(lambda: db.migration_get(first)['status'] == states.RUNNING, 'vm1 running')

        # The API's check ignores the full inbound slot: the request would wait, not fail.
        assert cluster.conductor.select_destination(cluster.ctxt, 'vm2', 'live',
                                                    'host2') == 'host2'
        second = _submit(db, cluster, 'vm2', target='host2')
        _wait(lambda: db.migration_get(second)['status'] == states.QUEUED, 'vm2 requeued')
        history = [e['to_state'] for e in db.migration_get(second)['events']]
        assert history == ['accepted', 'scheduling', 'queued']
        assert 'InboundLimitFilter' in db.migration_get(second)['events'][-1]['detail']
        assert db.host_get('host1')['outbound_migrations'] == 1  # vm2 gave its slot back

        cluster.cloud.gate.set()
        _wait(lambda: _ended(db, [first, second]), 'both to end')
        assert db.migration_get(second)['status'] == states.COMPLETED
        assert db.migration_get(second)['target_host'] == 'host2'
    finally:
        CONF.clear_override('max_inbound_per_host', group='scheduler')
