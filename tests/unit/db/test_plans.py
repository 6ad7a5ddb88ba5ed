import pytest

from migrator.common import exceptions, states
from migrator.db import models
from tests.unit.db.test_migrations import run_concurrently

PLAN = {'goal': 'balance', 'max_moves': 10, 'min_gain': 1e-6, 'score_before': 0.9,
        'score_after': 0.1, 'memory_spread_before': 0.4, 'memory_spread_after': 0.05,
        'vcpu_spread_before': 0.5, 'vcpu_spread_after': 0.05, 'predicted_seconds': 12.5,
        'jobsets': 2, 'stop_reason': 'no move lowers the score'}


def _move(seq, jobset, name):
    return {'seq': seq, 'jobset': jobset, 'instance_uuid': f'u-{name}', 'instance_name': name,
            'source_host': 'h1', 'target_host': 'h2', 'memory_mb': 512, 'vcpus': 1,
            'disk_gb': 10, 'gain': 0.1, 'score_after': 0.5, 'predicted_seconds': 6.25}


def test_create_get_and_list(db):
    plan = db.plan_create(PLAN, [_move(2, 1, 'b'), _move(1, 0, 'a')])
    assert plan['status'] == states.PLAN_PLANNED
    assert [m['seq'] for m in plan['moves']] == [1, 2]
    assert all(m['status'] == states.MOVE_PLANNED for m in plan['moves'])
    assert db.plan_get(plan['id']) == plan
    empty = db.plan_create(PLAN, [])
    listed = db.plan_list()
    assert [p['id'] for p in listed] == [empty['id'], plan['id']]
    assert [p['move_count'] for p in listed] == [0, 2]
    assert db.plan_list(status=states.PLAN_APPLIED) == []
    assert len(db.plan_list(limit=1)) == 1
    with pytest.raises(exceptions.PlanNotFound):
        db.plan_get('nope')
    with pytest.raises(ValueError):
        db.plan_create({**PLAN, 'status': 'applied'}, [])


def test_transitions_are_compare_and_swap(db):
    plan = db.plan_create(PLAN, [_move(1, 0, 'a')])
    results, errors = run_concurrently(4, lambda i: db.plan_transition(
        plan['id'], states.PLAN_PLANNED, states.PLAN_APPLYING))
    assert len(results) == 1 and len(errors) == 3
    assert all(isinstance(e, exceptions.InvalidPlanTransition) for e in errors)
    assert results[0]['started_at'] is not None

    assert db.plan_move_transition(plan['id'], 1, states.MOVE_PLANNED, states.MOVE_RUNNING,
                                   {'migration_id': 'm1'})
    assert not db.plan_move_transition(plan['id'], 1, states.MOVE_PLANNED,
                                       states.MOVE_SKIPPED, {'reason': 'late'})
    assert db.plan_move_transition(plan['id'], 1, states.MOVE_RUNNING, states.MOVE_COMPLETED)
    done = db.plan_transition(plan['id'], states.PLAN_APPLYING, states.PLAN_APPLIED,
                              {'conductor': 'c1'})
    move = done['moves'][0]
    assert (move['status'], move['migration_id'], move['reason']) == ('completed', 'm1', None)
    assert move['started_at'] <= move['finished_at']
    assert done['finished_at'] is not None and done['conductor'] == 'c1'
    with pytest.raises(ValueError):
        db.plan_transition(plan['id'], states.PLAN_APPLIED, states.PLAN_PLANNED)
    with pytest.raises(exceptions.PlanNotFound):
        db.plan_transition('nope', states.PLAN_PLANNED, states.PLAN_APPLYING)


def test_deleting_a_plan_deletes_its_moves(db):
    plan = db.plan_create(PLAN, [_move(1, 0, 'a')])
    with db.engine.begin() as conn:
        conn.execute(models.plans.delete().where(models.plans.c.id == plan['id']))
        left = conn.execute(models.plan_moves.select()).all()
    assert left == []
