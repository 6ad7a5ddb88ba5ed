"""Conductor liveness and take-over, lost messages and silent agents: the conductor's logic
over the real DB and the fake driver. A dead conductor is one whose heartbeat in the DB is
older than [conductor] takeover_after; its migrations are left as it would leave them."""

import datetime
import threading
import time

import oslo_messaging as messaging
import pytest
import sqlalchemy as sa
from oslo_config import cfg

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.conductor import manager
from migrator.db.models import conductors, migrations
from tests.unit.conductor import test_recovery

CONF = cfg.CONF
LIVE = 'conductor1'


def wait_for(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f'timed out waiting for {what}')


def _dead(db, name='dead-conductor'):
    db.conductor_register(name, f'{name}-incarnation', CONF.conductor.takeover_after)
    with db.engine.begin() as conn:
        conn.execute(sa.update(conductors).where(conductors.c.name == name).values(
            heartbeat_at=utcnow() - datetime.timedelta(
                seconds=CONF.conductor.takeover_after + 5)))
    return name


@pytest.fixture
def live(cluster):
    cluster.conductor.liveness.register()
    return cluster.conductor


def test_a_dead_conductors_running_migration_is_adopted_and_completed(db, cluster, live,
                                                                      monkeypatch):
    monkeypatch.setattr('migrator.conductor.recovery.POLL_SECONDS', 0.01)
    dead = _dead(db)
    mid, uuid = test_recovery._orphan(db, cluster, 'vm1', states.RUNNING, conductor=dead)
    cluster.cloud.hold_jobs = True
    cluster.drivers['host1'].live_migrate(uuid, 'fake://host2', None, lambda stats: None,
                                          lambda outcome: None)
    assert cluster.cloud.job_running.wait(5)

    taken = live.liveness.tick()
    assert taken['migrations'] == [mid]
    migration = db.migration_get(mid)
    assert (migration['conductor'], migration['generation']) == (LIVE, 2)
    # The dead one cannot move it on any more (fencing), even if it came back.
    with pytest.raises(exceptions.WorkTakenOver):
        db.migration_transition(mid, [states.RUNNING], states.FINISHING, owner=(dead, 1))
    assert live.liveness.tick()['migrations'] == [], 'adopted once'

    cluster.cloud.release_jobs()
    wait_for(lambda: db.migration_get(mid)['status'] == states.COMPLETED, 'completed')
    assert cluster.where(uuid) == ['host2']
    cluster.report_all()
    assert db.host_get('host1')['outbound_migrations'] == 0
    assert db.scheduler_active_count() == 0


def test_an_abort_of_a_dead_conductors_migration_works_once_adopted(db, cluster, live,
                                                                    monkeypatch):
    monkeypatch.setattr('migrator.conductor.recovery.POLL_SECONDS', 0.01)
    dead = _dead(db)
    mid, uuid = test_recovery._orphan(db, cluster, 'vm1', states.RUNNING, conductor=dead)
    cluster.cloud.hold_jobs = True
    cluster.drivers['host1'].live_migrate(uuid, 'fake://host2', None, lambda stats: None,
                                          lambda outcome: None)
    assert cluster.cloud.job_running.wait(5)
    live.liveness.tick()

    # The API sends the abort to the migration's conductor: the one that adopted it.
    assert db.migration_get(mid)['conductor'] == LIVE
    aborted = live.abort_migration(cluster.ctxt, mid, 'operator changed their mind')
    assert aborted['status'] == states.CANCELLING
    wait_for(lambda: db.migration_get(mid)['status'] == states.CANCELLED, 'cancelled')
    assert cluster.where(uuid) == ['host1']


def test_the_settling_keeps_asking_an_agent_that_does_not_answer(db, cluster, live,
                                                                 monkeypatch):
    monkeypatch.setattr('migrator.conductor.recovery.AGENT_RETRY_FIRST_DELAY', 0.01)
    dead = _dead(db)
    mid, uuid = test_recovery._orphan(db, cluster, 'vm1', states.RUNNING, conductor=dead)
    agent = cluster.compute_api.agents['host1']
    real = agent.migration_job_active
    silent = {'left': 3}

    def flaky(ctxt, instance_uuid):
        if silent['left']:
            silent['left'] -= 1
            raise messaging.MessagingTimeout('no answer')
        return real(ctxt, instance_uuid)

    monkeypatch.setattr(agent, 'migration_job_active', flaky)
    live.liveness.tick()
    wait_for(lambda: db.migration_get(mid)['status'] in states.TERMINAL, 'settled')
    # The job never moved the guest: rolled back, not `error`.
    assert db.migration_get(mid)['status'] == states.FAILED
    assert silent['left'] == 0


def test_adopted_migrations_are_settled_in_parallel(db, cluster, live, monkeypatch):
    monkeypatch.setattr('migrator.conductor.recovery.POLL_SECONDS', 0.01)
    dead = _dead(db)
    orphans = [test_recovery._orphan(db, cluster, f'vm{n}', states.RUNNING, conductor=dead)
               for n in range(3)]
    gate = threading.Event()
    inside = []
    agent = cluster.compute_api.agents['host1']
    real = agent.migration_job_active

    def slow(ctxt, instance_uuid):
        inside.append(instance_uuid)
        gate.wait(10)
        return real(ctxt, instance_uuid)

    monkeypatch.setattr(agent, 'migration_job_active', slow)
    assert sorted(live.liveness.tick()['migrations']) == sorted(m for m, _ in orphans)
    wait_for(lambda: len(inside) == 3, 'all three settled at once')
    gate.set()
    for mid, _uuid in orphans:
        wait_for(lambda mid=mid: db.migration_get(mid)['status'] == states.FAILED, 'failed')


def test_an_accepted_migration_whose_cast_was_lost_is_started(db, cluster, live):
    domain = cluster.drivers['host1'].add_domain('vm1', memory_mb=512, disk_dir='/shared')
    cluster.report_all()
    migration = db.migration_create({'instance_uuid': domain['uuid'], 'type': 'live'})
    live.liveness.tick()
    assert db.migration_get(migration['id'])['status'] == states.ACCEPTED, 'within grace'
    with db.engine.begin() as conn:
        conn.execute(sa.update(migrations).where(migrations.c.id == migration['id']).values(
            updated_at=utcnow() - datetime.timedelta(seconds=CONF.conductor.accept_grace + 1)))
    live.liveness.tick()
    wait_for(lambda: db.migration_get(migration['id'])['status'] == states.COMPLETED,
             'completed')


@pytest.fixture
def quick_poll():
    CONF.set_override('job_poll_interval', 1.0, group='conductor')
    yield
    CONF.clear_override('job_poll_interval', group='conductor')


def test_a_lost_job_end_costs_a_poll_not_the_migration_timeout(db, cluster, monkeypatch,
                                                               quick_poll):
    dropped = []
    monkeypatch.setattr(cluster.conductor_api, 'migration_job_done',
                        lambda ctxt, conductor, mid, outcome: dropped.append(mid))
    domain = cluster.drivers['host1'].add_domain('vm1', memory_mb=512, disk_dir='/shared')
    cluster.report_all()
    migration = db.migration_create({'instance_uuid': domain['uuid'], 'type': 'live'})
    started = time.monotonic()
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    wait_for(lambda: db.migration_get(migration['id'])['status'] == states.COMPLETED,
             'completed', timeout=20)
    assert time.monotonic() - started < CONF.conductor.migration_timeout
    assert dropped == [migration['id']]
    assert cluster.where(domain['uuid']) in (['host2'], ['host3'])
    details = ' '.join(e['detail'] or '' for e in db.migration_get(migration['id'])['events'])
    assert 'end of the libvirt job was not reported' in details


def test_a_second_conductor_under_a_live_name_refuses_to_start(db, cluster, live):
    twin = manager.ConductorManager(db, compute_api=cluster.compute_api, host=LIVE)
    with pytest.raises(exceptions.ConductorAlreadyRunning) as err:
        twin.start()
    assert LIVE in str(err.value) and 'another [DEFAULT] host' in str(err.value)


def test_a_plan_whose_conductor_died_does_not_stay_applying(db, cluster, live):
    for n in range(2):
        cluster.drivers['host1'].add_domain(f'vm{n}', memory_mb=512, disk_dir='/shared')
    cluster.report_all()
    dead = _dead(db)
    instance = db.instance_list(host='host1')[0]
    plan = db.plan_create({'goal': 'balance', 'min_gain': 0, 'score_before': 1,
                           'score_after': 0, 'memory_spread_before': 0,
                           'memory_spread_after': 0, 'vcpu_spread_before': 0,
                           'vcpu_spread_after': 0, 'predicted_seconds': 1, 'jobsets': 1},
                          [{'seq': 1, 'jobset': 1, 'instance_uuid': instance['uuid'],
                            'instance_name': instance['name'], 'source_host': 'host1',
                            'target_host': 'host2', 'memory_mb': 512, 'vcpus': 1,
                            'disk_gb': 0, 'gain': 1, 'score_after': 0,
                            'predicted_seconds': 1}])
    db.plan_transition(plan['id'], states.PLAN_PLANNED, states.PLAN_APPLYING)
    assert db.work_take('plan', plan['id'], dead, None, 0) == 1   # the dead one took it

    assert live.liveness.tick()['plans'] == [plan['id']]
    wait_for(lambda: db.plan_get(plan['id'])['status'] == states.PLAN_APPLIED, 'applied')
    assert cluster.where(instance['uuid']) == ['host2']
