"""POST /v1/plans, GET /v1/plans[/{id}], POST /v1/plans/{id}/apply over the fake conductor,
which plans with the conductor's real planning code on the test's DB."""

import json

import pytest

from migrator.common import states
from migrator.conductor.tasks import rebalance
from tests.unit.api import fakes


@pytest.fixture
def skewed(db, conductor):
    """host1 carries four guests, host2 and host3 none; the conductor plans on this DB."""
    for name in ('host1', 'host2', 'host3'):
        fakes.add_host(db, name, memory_mb_used=0, vcpus_used=0)
    fakes.add_instances(db, 'host1', 'vm1', 'vm2', 'vm3', 'vm4')
    conductor.planner = lambda goal, **kw: rebalance.create_plan(db, goal, **kw)['id']
    return db


def _body(resp):
    return json.loads(resp.text)


def test_create_returns_a_plan_to_review_and_moves_nothing(client, skewed, conductor):
    resp = client.post('/v1/plans', {'goal': 'balance', 'max_moves': 10})
    assert resp.status_int == 201, resp.text
    plan = _body(resp)
    assert resp.headers['Location'].endswith(f"/v1/plans/{plan['id']}")
    assert plan['status'] == 'planned'
    assert plan['score_after'] < plan['score_before']
    assert plan['predicted_seconds'] > 0
    assert plan['move_count'] == len(plan['moves']) == 2
    assert {m['source_host'] for m in plan['moves']} == {'host1'}
    assert {m['target_host'] for m in plan['moves']} == {'host2', 'host3'}
    assert all(m['status'] == 'planned' and m['migration_id'] is None for m in plan['moves'])
    # Two moves from host1 share a host: two jobsets.
    assert sorted(m['jobset'] for m in plan['moves']) == [0, 1] and plan['jobsets'] == 2
    assert conductor.plan_requests == [{'goal': 'balance', 'max_moves': 10, 'min_gain': None,
                                        'max_parallel': None}]
    assert conductor.casts == []
    assert [i['host'] for i in skewed.instance_list()] == ['host1'] * 4

    assert _body(client.get(f"/v1/plans/{plan['id']}")) == plan
    listed = _body(client.get('/v1/plans'))['plans']
    assert [p['id'] for p in listed] == [plan['id']]
    assert 'moves' not in listed[0] and listed[0]['move_count'] == 2


def test_max_moves_is_honoured(client, skewed):
    plan = _body(client.post('/v1/plans', {'max_moves': 1}))
    assert len(plan['moves']) == 1
    assert 'max_moves' in plan['stop_reason']


@pytest.mark.parametrize('body, words', [
    ({'goal': 'chaos'}, ["field 'goal' must be one of \"balance\""]),
    ({'max_moves': 0}, ["field 'max_moves' must be at least 1, not 0"]),
    ({'max_moves': 'ten'}, ["field 'max_moves' must be an integer or null"]),
    ({'min_gain': -1}, ["field 'min_gain' must be at least 0"]),
    ({'max_parallel': 0}, ["field 'max_parallel' must be at least 1"]),
    ({'moves': 3}, ["unknown field 'moves'", 'goal, max_moves, min_gain, max_parallel']),
])
def test_bad_create_requests_are_400_and_plan_nothing(client, skewed, conductor, body, words):
    fakes.assert_error(client.post('/v1/plans', body), 400, *words)
    assert conductor.plan_requests == []
    assert skewed.plan_list() == []


def test_create_with_invalid_json_is_400(client, skewed):
    fakes.assert_error(client.post('/v1/plans', raw='{"goal": '), 400, 'not valid JSON')


def test_unknown_plan_is_404(client, skewed):
    fakes.assert_error(client.get('/v1/plans/nope'), 404, "Plan 'nope' is not known")
    fakes.assert_error(client.post('/v1/plans/nope/apply'), 404, "Plan 'nope' is not known")


def test_list_filters_and_refuses_bad_parameters(client, skewed):
    client.post('/v1/plans', {})
    assert len(_body(client.get('/v1/plans?status=planned'))['plans']) == 1
    assert _body(client.get('/v1/plans?status=applied'))['plans'] == []
    fakes.assert_error(client.get('/v1/plans?status=done'), 400, "'done' is not a plan state")
    fakes.assert_error(client.get('/v1/plans?limit=0'), 400, 'limit must be')
    fakes.assert_error(client.get('/v1/plans?sort=x'), 400, "unknown query parameter 'sort'")


def test_apply_hands_the_plan_to_the_conductor_once(client, skewed, conductor):
    plan = _body(client.post('/v1/plans', {}))
    resp = client.post(f"/v1/plans/{plan['id']}/apply")
    assert resp.status_int == 202, resp.text
    assert _body(resp)['status'] == 'applying'
    assert conductor.applied_plans == [plan['id']]
    again = client.post(f"/v1/plans/{plan['id']}/apply")
    fakes.assert_error(again, 409, 'is applying', 'only a plan that is planned')
    assert conductor.applied_plans == [plan['id']]


def test_apply_that_cannot_reach_the_conductor_fails_the_plan(client, skewed, conductor):
    from oslo_messaging import MessageDeliveryFailure
    plan = _body(client.post('/v1/plans', {}))
    conductor.apply_error = MessageDeliveryFailure('broker down')
    resp = client.post(f"/v1/plans/{plan['id']}/apply")
    assert resp.status_int == 503, resp.text
    stored = skewed.plan_get(plan['id'])
    assert stored['status'] == states.PLAN_FAILED
    assert 'could not reach migrator-conductor' in stored['error']


def test_plan_on_an_empty_cluster_is_409(client, db, conductor):
    conductor.planner = lambda goal, **kw: rebalance.create_plan(db, goal, **kw)['id']
    fakes.assert_error(client.post('/v1/plans', {}), 409, 'Cannot plan yet')


LATEST = {'OpenStack-API-Version': 'migration latest'}


def test_cancel_a_planned_plan_so_it_is_never_applied(client, skewed, conductor):
    plan = _body(client.post('/v1/plans', {'max_moves': 2}))
    resp = client.post(f"/v1/plans/{plan['id']}/cancel", headers=LATEST)
    assert resp.status_int == 200, resp.text
    cancelled = _body(resp)
    assert cancelled['status'] == 'cancelled' and cancelled['finished_at'] is not None
    assert skewed.plan_get(plan['id'])['status'] == states.PLAN_CANCELLED
    fakes.assert_error(client.post(f"/v1/plans/{plan['id']}/apply"), 409,
                       'is cancelled', 'only a plan that is planned can be applied')
    fakes.assert_error(client.post(f"/v1/plans/{plan['id']}/cancel", headers=LATEST), 409,
                       'is cancelled', 'only a plan that is planned can be cancelled')
    assert conductor.applied_plans == [] and conductor.casts == []
    listed = _body(client.get('/v1/plans?status=cancelled'))['plans']
    assert [p['id'] for p in listed] == [plan['id']]


def test_a_plan_being_applied_cannot_be_cancelled(client, skewed, conductor):
    plan = _body(client.post('/v1/plans', {'max_moves': 2}))
    assert client.post(f"/v1/plans/{plan['id']}/apply").status_int == 202
    fakes.assert_error(client.post(f"/v1/plans/{plan['id']}/cancel", headers=LATEST), 409,
                       'is applying', 'abort those')
    assert skewed.plan_get(plan['id'])['status'] == states.PLAN_APPLYING


def test_cancel_needs_microversion_1_5(client, skewed):
    plan = _body(client.post('/v1/plans', {'max_moves': 2}))
    old = {'OpenStack-API-Version': 'migration 1.5'}
    fakes.assert_error(client.post(f"/v1/plans/{plan['id']}/cancel", headers=old), 404)
    assert skewed.plan_get(plan['id'])['status'] == states.PLAN_PLANNED
    fakes.assert_error(client.post('/v1/plans/nope/cancel', headers=LATEST), 404)
