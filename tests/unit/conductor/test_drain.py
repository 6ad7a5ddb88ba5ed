"""Drain jobs over the fake driver: bookkeeping of each guest's outcome, partial drains,
cancel, orphan takeover, and undrain's return through the REST API."""

import datetime
import json
import threading
import time

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from migrator.api import app as api_app
from migrator.common import states
from migrator.common.timeutils import utcnow
from migrator.conductor import manager
from migrator.conductor.tasks import drain as drain_task
from migrator.db import drain_models as dm
from migrator.db.models import conductors
from tests.unit.api import fakes as api_fakes
from tests.unit.conductor import fakes

CONF = cfg.CONF


@pytest.fixture
def cluster(db):
    conductors = []

    def factory(compute_api):
        conductor = manager.ConductorManager(db, compute_api=compute_api, host='conductor1')
        conductors.append(conductor)
        return conductor

    cluster = fakes.FakeCluster(factory)
    cluster.cloud.shared_dirs.add('/shared')
    yield cluster
    for conductor in conductors:
        conductor.stop()
        conductor.drains.stop(wait=True)
        conductor.executor.shutdown(wait=True)


def wait_for(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.01)


def _create(db, host, mode='live', max_parallel=2, target_hosts=None):
    """Records a drain as the API does: the host's guests as items, host in maintenance."""
    return db.drain_create(
        {'kind': 'drain', 'host': host, 'mode': mode, 'max_parallel': max_parallel,
         'target_hosts': target_hosts},
        items=[{'instance_uuid': g['uuid'], 'instance_name': g['name'], 'source_host': host}
               for g in db.instance_list(host=host)],
        host_status=('maintenance', 'drain'))


def _run(db, cluster, job):
    cluster.conductor.drain(cluster.ctxt, job['id'])
    assert cluster.conductor.drains.join(job['id'], timeout=30)
    return db.drain_get(job['id'])


def _items(job):
    return {i['instance_name']: i for i in job['items']}


def test_drain_moves_every_guest_and_records_each_outcome(db, cluster):
    uuids = [cluster.drivers['host1'].add_domain(f'vm{n}')['uuid'] for n in range(4)]
    cluster.report_all()

    job = _run(db, cluster, _create(db, 'host1'))

    assert job['status'] == states.DRAIN_COMPLETED, job
    assert job['conductor'] == 'conductor1' and job['finished_at'] is not None
    for name, item in _items(job).items():
        assert item['status'] == states.DRAIN_ITEM_MOVED, item
        assert item['target_host'] in ('host2', 'host3')
        assert item['migration_type'] == 'live' and item['attempts'] == 1
        migration = db.migration_get(item['migration_id'])
        assert migration['status'] == states.COMPLETED
        assert migration['instance_name'] == name
        assert migration['events'][0]['detail'] == f"requested by drain {job['id']}"
    assert all(cluster.where(u) != ['host1'] for u in uuids)
    assert db.instance_list(host='host1') == []
    assert db.host_get('host1')['status'] == 'maintenance'
    assert db.drain_active('host1') is None


def test_max_parallel_one_runs_migrations_one_after_another(db, cluster):
    for n in range(3):
        cluster.drivers['host1'].add_domain(f'vm{n}')
    cluster.report_all()

    job = _run(db, cluster, _create(db, 'host1', max_parallel=1))

    assert job['status'] == states.DRAIN_COMPLETED
    migrations = sorted((db.migration_get(i['migration_id']) for i in job['items']),
                        key=lambda m: m['created_at'])
    for before, after in zip(migrations, migrations[1:], strict=False):
        assert after['created_at'] >= before['finished_at']


def _start_order(db, job):
    migrations = sorted((db.migration_get(i['migration_id']) for i in job['items']),
                        key=lambda m: (m['created_at'], m['id']))
    return [m['instance_name'] for m in migrations]


def test_guests_expected_to_take_longest_start_first(db, cluster):
    # Listed smallest first; a guest without history is expected to take its memory over
    # the assumed bandwidth, so the biggest goes first and the smallest is left for the tail.
    for name, memory_mb in (('a-small', 256), ('b-big', 4096), ('c-middle', 1024)):
        cluster.drivers['host1'].add_domain(name, memory_mb=memory_mb)
    cluster.report_all()

    job = _run(db, cluster, _create(db, 'host1', max_parallel=1))

    assert job['status'] == states.DRAIN_COMPLETED
    assert _start_order(db, job) == ['b-big', 'c-middle', 'a-small']


def test_a_guests_observed_migration_time_outweighs_its_memory(db, cluster):
    # A small guest that took long last time (say, a busy writer) goes before a bigger one
    # never migrated, whose estimate is its memory over the assumed bandwidth.
    CONF.set_override('assumed_bandwidth_mib_s', 1000, group='planner')
    CONF.set_override('migration_overhead_seconds', 2, group='planner')
    try:
        cluster.drivers['host1'].add_domain('big', memory_mb=4096)   # expected 6.1 s
        cluster.drivers['host1'].add_domain('quick', memory_mb=512)
        slow = cluster.drivers['host1'].add_domain('slow-writer', memory_mb=256)
        cluster.report_all()
        db.observation_create({'instance_uuid': slow['uuid'], 'migration_id': 'earlier',
                               'duration_seconds': 40.0})

        job = _run(db, cluster, _create(db, 'host1', max_parallel=1))

        assert job['status'] == states.DRAIN_COMPLETED
        assert _start_order(db, job) == ['slow-writer', 'big', 'quick']
    finally:
        CONF.clear_override('assumed_bandwidth_mib_s', group='planner')
        CONF.clear_override('migration_overhead_seconds', group='planner')


def test_the_end_of_a_migration_starts_the_next_guest_without_waiting_for_a_poll(db, cluster):
    # With the poll an hour away, only the wake-up on each migration's end moves the job on.
    CONF.set_override('poll_interval', 3600, group='drain')
    try:
        for n in range(3):
            cluster.drivers['host1'].add_domain(f'vm{n}')
        cluster.report_all()
        job = _create(db, 'host1', max_parallel=1)

        cluster.conductor.drain(cluster.ctxt, job['id'])

        assert cluster.conductor.drains.join(job['id'], timeout=30)
        assert db.drain_get(job['id'])['status'] == states.DRAIN_COMPLETED
    finally:
        CONF.clear_override('poll_interval', group='drain')


def test_guest_that_fits_nowhere_is_reported_and_others_move(db, cluster):
    huge = cluster.drivers['host1'].add_domain('huge', memory_mb=7800)
    small = [cluster.drivers['host1'].add_domain(f'vm{n}')['uuid'] for n in range(2)]
    cluster.report_all()

    job = _run(db, cluster, _create(db, 'host1'))

    assert job['status'] == states.DRAIN_PARTIAL
    items = _items(job)
    assert items['huge']['status'] == states.DRAIN_ITEM_FAILED
    assert 'needs 7800 MiB' in items['huge']['reason'], items['huge']
    assert items['huge']['migration_id'] is None
    assert cluster.where(huge['uuid']) == ['host1']
    assert [items[f'vm{n}']['status'] for n in range(2)] == [states.DRAIN_ITEM_MOVED] * 2
    assert all(cluster.where(u) != ['host1'] for u in small)


def test_target_hosts_limit_where_guests_go(db, cluster):
    for n in range(3):
        cluster.drivers['host1'].add_domain(f'vm{n}')
    cluster.report_all()

    job = _run(db, cluster, _create(db, 'host1', target_hosts=['host3']))

    assert job['status'] == states.DRAIN_COMPLETED
    assert {i['target_host'] for i in job['items']} == {'host3'}


def test_disabled_targets_leave_guests_reported(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    db.host_set_status('host2', 'disabled', 'firmware')

    job = _run(db, cluster, _create(db, 'host1', target_hosts=['host2']))

    assert job['status'] == states.DRAIN_PARTIAL
    assert 'host2 is disabled: firmware' in _items(job)['vm1']['reason']


def test_live_then_cold_moves_cold_what_live_could_not(db, cluster):
    guest = cluster.drivers['host1'].add_domain('stubborn', disk_dir='/local')
    cluster.report_all()
    cluster.cloud.fail_next_migration = 'simulated: the live job failed'

    job = _run(db, cluster, _create(db, 'host1', mode='live_then_cold'))

    item = _items(job)['stubborn']
    assert job['status'] == states.DRAIN_COMPLETED
    assert item['status'] == states.DRAIN_ITEM_MOVED
    assert item['migration_type'] == 'cold'
    assert cluster.where(guest['uuid']) not in ([], ['host1'])
    live = db.migration_list(instance=guest['uuid'], status=[states.FAILED])
    assert len(live) == 1 and live[0]['type'] == 'live'


def test_shut_off_guest_is_not_live_migrated(db, cluster):
    domain = cluster.drivers['host1'].add_domain('off')
    domain.update(active=False, power_state='shutoff')
    cluster.report_all()

    job = _run(db, cluster, _create(db, 'host1'))

    item = _items(job)['off']
    assert item['status'] == states.DRAIN_ITEM_FAILED and item['migration_id'] is None
    assert 'live migration needs a running guest' in item['reason']


def test_empty_host_drain_completes(db, cluster):
    cluster.report_all()
    job = _run(db, cluster, _create(db, 'host1'))
    assert job['status'] == states.DRAIN_COMPLETED and job['items'] == []


class HeldConductor:
    """The real conductor, except that migrate() only records the migration until the
    test lets it go: a drain's first migration stays in flight as long as the test wants."""

    def __init__(self, real):
        self.real = real
        self.held = []

    def select_destination(self, *args, **kwargs):
        return self.real.select_destination(*args, **kwargs)

    def migrate(self, ctxt, migration_id):
        self.held.append(migration_id)

    def release(self):
        for migration_id in self.held:
            self.real.migrate(None, migration_id)


def test_cancel_stops_what_has_not_started_and_lets_the_running_one_finish(db, cluster):
    for n in range(3):
        cluster.drivers['host1'].add_domain(f'vm{n}')
    cluster.report_all()
    job = db.drain_transition(_create(db, 'host1', max_parallel=1)['id'], [states.DRAIN_ACCEPTED],
                              states.DRAIN_RUNNING, values={'conductor': 'conductor1'})
    held = HeldConductor(cluster.conductor)
    task = drain_task.DrainTask(cluster.ctxt, db, held, job, host='conductor1')
    thread = threading.Thread(target=task.run)
    thread.start()
    try:
        wait_for(lambda: held.held, 'the first migration to be started')

        cancelled = task.cancel()
        assert cancelled['status'] == states.DRAIN_CANCELLING
        held.release()
    finally:
        thread.join(30)
    assert not thread.is_alive()

    job = db.drain_get(job['id'])
    assert job['status'] == states.DRAIN_CANCELLED
    statuses = sorted(i['status'] for i in job['items'])
    assert statuses == [states.DRAIN_ITEM_CANCELLED, states.DRAIN_ITEM_CANCELLED,
                        states.DRAIN_ITEM_MOVED]
    assert len(db.instance_list(host='host1')) == 2
    assert len(held.held) == 1


def _make_stale(db, job_id, seconds):
    with db.engine.begin() as conn:
        conn.execute(sa.update(dm.drains).where(dm.drains.c.id == job_id).values(
            updated_at=utcnow() - datetime.timedelta(seconds=seconds)))


def _stop_beating(db, name, seconds):
    with db.engine.begin() as conn:
        conn.execute(sa.update(conductors).where(conductors.c.name == name).values(
            heartbeat_at=utcnow() - datetime.timedelta(seconds=seconds)))


def test_orphaned_drain_is_taken_over_and_finished(db, cluster):
    for n in range(2):
        cluster.drivers['host1'].add_domain(f'vm{n}')
    cluster.report_all()
    job = db.drain_transition(_create(db, 'host1')['id'], [states.DRAIN_ACCEPTED],
                              states.DRAIN_RUNNING,
                              values={'conductor': 'dead-conductor'})
    db.conductor_register('dead-conductor', 'incarnation-1', CONF.conductor.takeover_after)
    assert cluster.conductor.drains.adopt_orphans() == []  # still beating: not an orphan

    _stop_beating(db, 'dead-conductor', CONF.conductor.takeover_after + 5)
    assert cluster.conductor.drains.adopt_orphans() == [job['id']]
    assert cluster.conductor.drains.join(job['id'], timeout=30)

    job = db.drain_get(job['id'])
    assert job['conductor'] == 'conductor1' and job['status'] == states.DRAIN_COMPLETED
    assert db.instance_list(host='host1') == []


def test_guest_with_a_migration_in_flight_waits_for_its_end(db, cluster):
    cluster.drivers['host1'].add_domain('busy')
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    busy = db.instance_get('busy')
    foreign = db.migration_create({'instance_uuid': busy['uuid'], 'type': 'live'})
    job = _create(db, 'host1')
    cluster.conductor.drain(cluster.ctxt, job['id'])

    wait_for(lambda: _items(db.drain_get(job['id']))['vm1']['status'] == states.DRAIN_ITEM_MOVED,
             'vm1 to move')
    assert _items(db.drain_get(job['id']))['busy']['status'] == states.DRAIN_ITEM_PENDING
    db.migration_transition(foreign['id'], [states.ACCEPTED], states.FAILED,
                            detail='given up', values={'error': 'given up'})

    assert cluster.conductor.drains.join(job['id'], timeout=30)
    job = db.drain_get(job['id'])
    assert job['status'] == states.DRAIN_COMPLETED
    assert _items(job)['busy']['migration_id'] != foreign['id']


def test_drain_whose_cast_was_lost_is_adopted(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    job = _create(db, 'host1')  # accepted, and no conductor ever heard of it
    cluster.conductor.liveness.register()
    cluster.conductor.liveness.tick()
    assert db.drain_get(job['id'])['status'] == states.DRAIN_ACCEPTED, 'within the grace: untouched'
    _make_stale(db, job['id'], CONF.conductor.accept_grace + 1)

    cluster.conductor.liveness.tick()   # the watchdog's pass starts it
    assert cluster.conductor.drains.join(job['id'], timeout=30)

    assert db.drain_get(job['id'])['status'] == states.DRAIN_COMPLETED
    cluster.conductor.drain(cluster.ctxt, job['id'])  # the late cast changes nothing
    assert db.drain_get(job['id'])['status'] == states.DRAIN_COMPLETED


def test_migration_that_never_ends_fails_its_item_after_item_timeout(db, cluster):
    cluster.drivers['host1'].add_domain('stuck')
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    stuck = db.instance_get('stuck')
    # A migration some dead conductor took and will never end.
    migration = db.migration_create({'instance_uuid': stuck['uuid'], 'type': 'live'})
    db.migration_transition(migration['id'], [states.ACCEPTED], states.SCHEDULING,
                            values={'conductor': 'dead-conductor'})
    job = _create(db, 'host1')
    item = _items(job)['stuck']
    old = utcnow() - datetime.timedelta(seconds=CONF.drain.item_timeout + 1)
    db.drain_item_update(item['id'], [states.DRAIN_ITEM_PENDING], {
        'status': states.DRAIN_ITEM_RUNNING, 'migration_id': migration['id'],
        'migration_type': 'live',
        'attempts': 1, 'started_at': old})

    job = _run(db, cluster, job)

    assert job['status'] == states.DRAIN_PARTIAL
    items = _items(job)
    assert items['stuck']['status'] == states.DRAIN_ITEM_FAILED
    assert 'did not end within' in items['stuck']['reason']
    assert items['vm1']['status'] == states.DRAIN_ITEM_MOVED


def test_conductor_restart_adopts_its_own_unfinished_drain(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    job = db.drain_transition(_create(db, 'host1')['id'], [states.DRAIN_ACCEPTED],
                              states.DRAIN_RUNNING,
                              values={'conductor': 'conductor1'})

    cluster.conductor.start()  # as after a restart: its previous life's jobs are its own

    wait_for(lambda: db.drain_get(job['id'])['status'] == states.DRAIN_COMPLETED,
             'the drain to end')


def test_undrain_returns_the_guests_through_the_api(db, cluster):
    for n in range(3):
        cluster.drivers['host1'].add_domain(f'vm{n}')
    cluster.report_all()
    client = api_fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=cluster.conductor))

    resp = client.post('/v1/hosts/host1/drain', body={'max_parallel': 3})
    assert resp.status_int == 202, resp.text
    drain_id = json.loads(resp.text)['id']
    assert cluster.conductor.drains.join(drain_id, timeout=30)
    assert json.loads(client.get('/v1/hosts/host1/drain').text)['status'] == states.DRAIN_COMPLETED
    # An operator moves one guest elsewhere meanwhile: it is not brought back.
    moved_on = _items(db.drain_get(drain_id))['vm0']
    elsewhere = 'host3' if moved_on['target_host'] == 'host2' else 'host2'
    client.post('/v1/migrations', body={'instance': 'vm0', 'target_host': elsewhere})
    wait_for(lambda: db.instance_get('vm0')['host'] == elsewhere, 'vm0 to move on')

    resp = client.post('/v1/hosts/host1/undrain', body={'return_guests': True})
    assert resp.status_int == 202, resp.text
    ret = json.loads(resp.text)['return']
    assert sorted(i['instance_name'] for i in ret['items']) == ['vm1', 'vm2']
    assert cluster.conductor.drains.join(ret['id'], timeout=30)

    ret = json.loads(client.get(f"/v1/drains/{ret['id']}").text)
    assert ret['status'] == states.DRAIN_COMPLETED and ret['kind'] == 'return'
    assert sorted(i['name'] for i in db.instance_list(host='host1')) == ['vm1', 'vm2']
    assert db.instance_get('vm0')['host'] == elsewhere
    assert db.host_get('host1')['status'] == 'enabled'
