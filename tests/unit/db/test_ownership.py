"""Conductor incarnations, adoption of work and fencing, on every backend."""

import datetime
import threading

import pytest

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db.models import conductors


def _age_heartbeat(db, name, seconds):
    with db.engine.begin() as conn:
        conn.execute(conductors.update().where(conductors.c.name == name).values(
            heartbeat_at=utcnow() - datetime.timedelta(seconds=seconds)))


def test_a_second_incarnation_under_a_live_name_is_refused(db):
    assert db.conductor_register('c1', 'inc-a', 30, machine='m', pid=1) is None
    with pytest.raises(exceptions.ConductorAlreadyRunning) as err:
        db.conductor_register('c1', 'inc-b', 30, machine='m2', pid=2)
    assert 'c1' in str(err.value) and 'm, pid 1' in str(err.value)
    # The one proven dead by the caller, a stale one, or one stopped cleanly is replaced.
    assert db.conductor_register('c1', 'inc-b', 30, dead_incarnation='inc-a')['pid'] == 1
    assert not db.conductor_heartbeat('c1', 'inc-a'), 'the old incarnation is fenced off'
    assert db.conductor_heartbeat('c1', 'inc-b')
    _age_heartbeat(db, 'c1', 31)
    db.conductor_register('c1', 'inc-c', 30)
    db.conductor_stopped('c1', 'inc-c')
    db.conductor_register('c1', 'inc-d', 30)
    assert db.conductor_get('c1')['incarnation'] == 'inc-d'


def test_an_incarnation_records_its_version_and_the_list_shows_every_name(db):
    db.conductor_register('c2', 'inc-a', 30, machine='m', pid=1, version='0.1.0')
    db.conductor_register('c1', 'inc-b', 30)
    listed = db.conductor_list()
    assert [(c['name'], c['version']) for c in listed] == [('c1', None), ('c2', '0.1.0')]
    # A new incarnation under the name records its own version.
    db.conductor_stopped('c2', 'inc-a')
    db.conductor_register('c2', 'inc-c', 30, version='0.2.0')
    assert db.conductor_get('c2')['version'] == '0.2.0'


def test_orphans_are_the_work_of_dead_conductors_and_exactly_one_taker_wins(
        db, add_instance):
    db.conductor_register('dead', 'i1', 30)
    db.conductor_register('alive', 'i2', 30)
    add_instance('u1', host='src')
    add_instance('u2', host='src')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    other = db.migration_create({'instance_uuid': 'u2', 'type': 'live'})
    mig = db.migration_transition(mig['id'], [states.ACCEPTED], states.SCHEDULING,
                                  values={'conductor': 'dead'})
    db.migration_transition(other['id'], [states.ACCEPTED], states.SCHEDULING,
                            values={'conductor': 'alive'})
    assert db.work_orphans('migration', 30) == []
    _age_heartbeat(db, 'dead', 31)
    orphans = db.work_orphans('migration', 30)
    assert [o['id'] for o in orphans] == [mig['id']]

    for i in range(4):
        db.conductor_register(f'c{i}', f'inc-{i}', 30)
    results = []
    barrier = threading.Barrier(4)

    def take(name):
        barrier.wait()
        results.append(db.work_take('migration', mig['id'], name, 'dead',
                                    orphans[0]['generation']))

    threads = [threading.Thread(target=take, args=(f'c{i}',)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [1, None, None, None]
    owner = db.migration_get(mig['id'])['conductor']
    assert db.work_owner_is('migration', mig['id'], owner, 1)
    assert db.work_orphans('migration', 30) == [], 'the winner is alive'

    # The old owner's transition is a CAS on its generation: it fails, and says why.
    with pytest.raises(exceptions.WorkTakenOver):
        db.migration_transition(mig['id'], [states.SCHEDULING], states.QUEUED,
                                owner=('dead', 0))
    assert db.migration_get(mig['id'])['status'] == states.SCHEDULING
    moved = db.migration_transition(mig['id'], [states.SCHEDULING], states.QUEUED,
                                    owner=(owner, 1))
    assert moved['status'] == states.QUEUED


def test_unowned_work_is_an_orphan_only_after_the_grace(db):
    plan = db.plan_create({'goal': 'balance', 'min_gain': 0, 'score_before': 1,
                           'score_after': 0, 'memory_spread_before': 0,
                           'memory_spread_after': 0, 'vcpu_spread_before': 0,
                           'vcpu_spread_after': 0, 'predicted_seconds': 0, 'jobsets': 0,
                           'conductor': 'creator'}, [])
    db.conductor_register('creator', 'i', 30)
    applying = db.plan_transition(plan['id'], states.PLAN_PLANNED, states.PLAN_APPLYING)
    assert applying['conductor'] is None, 'whoever takes the apply request owns it'
    assert db.work_orphans('plan', 30, unowned_before=utcnow() - datetime.timedelta(
        seconds=5)) == []
    orphans = db.work_orphans('plan', 30, unowned_before=utcnow() + datetime.timedelta(
        seconds=1))
    assert [o['id'] for o in orphans] == [plan['id']]
    assert db.work_take('plan', plan['id'], 'me', None, 0) == 1
    with pytest.raises(exceptions.InvalidPlanTransition):
        db.plan_transition(plan['id'], states.PLAN_APPLYING, states.PLAN_APPLIED,
                           owner=('creator', 0))
    assert db.plan_transition(plan['id'], states.PLAN_APPLYING, states.PLAN_APPLIED,
                              owner=('me', 1))['status'] == states.PLAN_APPLIED


def test_a_drain_of_a_dead_conductor_is_an_orphan(db):
    db.host_report('h1', {'memory_mb': 1024, 'vcpus': 2})
    drain = db.drain_create({'kind': 'drain', 'host': 'h1', 'mode': 'live',
                             'max_parallel': 1})
    db.conductor_register('c1', 'i', 30)
    taken = db.drain_transition(drain['id'], [states.DRAIN_ACCEPTED], states.DRAIN_RUNNING,
                                values={'conductor': 'c1'})
    assert db.work_orphans('drain', 30) == []
    db.conductor_stopped('c1', 'i')
    assert [d['id'] for d in db.work_orphans('drain', 30)] == [drain['id']]
    generation = db.work_take('drain', drain['id'], 'c2', 'c1', taken['generation'])
    assert generation == taken['generation'] + 1
    with pytest.raises(exceptions.InvalidDrainTransition):
        db.drain_transition(drain['id'], [states.DRAIN_RUNNING], states.DRAIN_COMPLETED,
                            conductor='c1')
