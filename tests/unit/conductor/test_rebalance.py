"""Plans applied by the real conductor over the fake virt driver: jobset by jobset, each
move a live migration; moves that cannot go are skipped with the reason."""

import pytest

from migrator.common import states
from migrator.conductor import manager
from migrator.conductor.tasks import rebalance
from migrator.conf import CONF
from tests.functional.service import processes
from tests.unit.conductor import fakes


@pytest.fixture
def cluster(db):
    CONF.set_override('apply_poll_interval', 0.05, group='planner')
    conductors = []

    def factory(compute_api):
        conductor = manager.ConductorManager(db, compute_api=compute_api, host='conductor1')
        conductors.append(conductor)
        return conductor

    cluster = fakes.FakeCluster(factory, memory_mb=4096)
    cluster.cloud.shared_dirs.add('/shared')
    yield cluster
    for conductor in conductors:
        conductor.executor.shutdown(wait=True)
    CONF.clear_override('apply_poll_interval', group='planner')


def _skew(db, cluster, count=4):
    uuids = [cluster.drivers['host1'].add_domain(f'vm{i}', memory_mb=512)['uuid']
             for i in range(1, count + 1)]
    cluster.report_all()
    return uuids


def _apply(db, cluster, plan):
    db.plan_transition(plan['id'], states.PLAN_PLANNED, states.PLAN_APPLYING)
    cluster.conductor.apply_plan(cluster.ctxt, plan['id'])
    return processes.wait_until(
        lambda: (lambda p: p if p['status'] != states.PLAN_APPLYING else None)(
            db.plan_get(plan['id'])), 30, 'the plan to end', interval=0.05)


def test_plan_applies_jobset_by_jobset_and_lowers_the_score(db, cluster):
    uuids = _skew(db, cluster)
    plan_id = cluster.conductor.create_plan(cluster.ctxt, 'balance', max_moves=10)
    plan = db.plan_get(plan_id)
    assert plan['status'] == states.PLAN_PLANNED and len(plan['moves']) == 2
    assert all(cluster.where(u) == ['host1'] for u in uuids)  # planning moved nothing

    done = _apply(db, cluster, plan)

    assert done['status'] == states.PLAN_APPLIED, done
    assert done['finished_at'] is not None and done['conductor'] == 'conductor1'
    for move in done['moves']:
        assert move['status'] == states.MOVE_COMPLETED, move
        migration = db.migration_get(move['migration_id'])
        assert migration['status'] == states.COMPLETED
        assert migration['target_host'] == move['target_host']
        assert cluster.where(move['instance_uuid']) == [move['target_host']]
        assert f"plan {plan_id}" in migration['events'][0]['detail']
    # Jobsets ran in order: the second started after the first ended.
    first, second = sorted(done['moves'], key=lambda m: m['jobset'])
    assert first['finished_at'] <= second['started_at']
    # Every guest runs on exactly one host, and the cluster is more even than before.
    assert all(len(cluster.where(u)) == 1 for u in uuids)
    cluster.report_all()
    after = rebalance.cluster_from_db(db)
    from migrator.planner import score
    assert score.cluster_score(after).total == pytest.approx(done['score_after'])
    assert done['score_after'] < done['score_before']


def test_moves_that_cannot_go_are_skipped_and_the_rest_moves(db, cluster):
    _skew(db, cluster)
    plan = db.plan_get(cluster.conductor.create_plan(cluster.ctxt, 'balance'))
    moved, blocked = plan['moves']
    # One guest moved by hand since planning; nothing else changed.
    cluster.cloud.domains['host3'][moved['instance_uuid']] = (
        cluster.cloud.domains['host1'].pop(moved['instance_uuid']))
    cluster.report_all()

    done = _apply(db, cluster, plan)

    assert done['status'] == states.PLAN_PARTIAL
    by_seq = {m['seq']: m for m in done['moves']}
    assert by_seq[moved['seq']]['status'] == states.MOVE_SKIPPED
    assert 'has moved since planning: it runs on host3' in by_seq[moved['seq']]['reason']
    assert by_seq[moved['seq']]['migration_id'] is None
    assert by_seq[blocked['seq']]['status'] == states.MOVE_COMPLETED
    assert '1 of 2 moves completed' in done['error']


def test_a_target_that_no_longer_fits_is_skipped(db, cluster):
    _skew(db, cluster, count=2)
    plan = db.plan_get(cluster.conductor.create_plan(cluster.ctxt, 'balance'))
    assert len(plan['moves']) == 1
    target = plan['moves'][0]['target_host']
    cluster.drivers[target].add_domain('hog', memory_mb=3800)
    cluster.report_all()

    done = _apply(db, cluster, plan)

    assert done['status'] == states.PLAN_FAILED
    move = done['moves'][0]
    assert move['status'] == states.MOVE_SKIPPED
    assert 'the target cannot take it now' in move['reason'] and target in move['reason']


def test_a_failed_migration_fails_its_move(db, cluster):
    uuids = _skew(db, cluster, count=2)
    plan = db.plan_get(cluster.conductor.create_plan(cluster.ctxt, 'balance'))
    cluster.cloud.fail_next_migration = 'operation failed: job: unexpectedly failed'

    done = _apply(db, cluster, plan)

    assert done['status'] == states.PLAN_FAILED
    move = done['moves'][0]
    assert move['status'] == states.MOVE_FAILED
    assert 'migration failed' in move['reason'] and 'unexpectedly failed' in move['reason']
    assert all(cluster.where(u) == ['host1'] for u in uuids)


def test_observed_dirty_rate_makes_the_planner_move_a_quieter_guest(db, cluster):
    _skew(db, cluster, count=2)
    first = db.plan_get(cluster.conductor.create_plan(cluster.ctxt, 'balance'))
    busy = first['moves'][0]['instance_uuid']
    migration = db.migration_create({'instance_uuid': busy, 'type': 'live'})
    db.migration_update_progress(migration['id'], {'dirty_rate': 900 * 2 ** 20})
    db.migration_transition(migration['id'], [states.ACCEPTED], states.FAILED)
    assert rebalance.observed_dirty_rates(db) == {busy: 900.0 * 2 ** 20}

    second = db.plan_get(cluster.conductor.create_plan(cluster.ctxt, 'balance'))

    # Same size, same gain: the guest that is quicker to move goes instead.
    assert second['moves'][0]['instance_uuid'] != busy
    assert second['score_after'] == pytest.approx(first['score_after'])
