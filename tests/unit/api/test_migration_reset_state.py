"""POST /v1/migrations/{id}/action {"reset_state": {...}}: an administrator ends a
migration in flight that nothing will settle."""

import pytest

from migrator.common import states
from tests.unit.api.fakes import assert_error
from tests.unit.api.test_migration_convergence import _create, _running


def _reset(client, migration_id, **body):
    return client.post(f'/v1/migrations/{migration_id}/action', {'reset_state': body})


def test_reset_state_ends_the_migration_and_records_the_reason(client, cluster, conductor):
    migration = _create(client)
    _running(cluster, migration['id'])

    resp = _reset(client, migration['id'], state='error', reason='job lost; guest on host1')

    assert resp.status_int == 200, resp.text
    assert resp.json['status'] == 'error'
    assert resp.json['error'] == 'reset by an administrator: job lost; guest on host1'
    assert resp.json['events'][-1]['detail'] == (
        'reset by an administrator (was running): job lost; guest on host1')
    # The event names who reset it (here the API's caller without authentication); who
    # may is the policy's business: test_policy covers migrator:migration:reset_state.
    assert resp.json['events'][-1]['requester']['user_name'] == 'noauth'
    assert cluster.instance_get('vm1')['migration_id'] is None
    # Bookkeeping only: the conductor is not asked to do anything.
    assert conductor.force_completes == []
    # The instance can be migrated again.
    assert client.post('/v1/migrations', {'instance': 'vm1'}).status_int == 202


def test_reset_state_of_an_ended_migration_is_a_conflict(client, cluster):
    migration = _create(client)
    _reset(client, migration['id'], state='failed', reason='first')
    error = assert_error(_reset(client, migration['id'], state='error', reason='again'), 409,
                         'has already ended (failed)', 'only a migration in flight')
    assert error
    assert cluster.migration_get(migration['id'])['status'] == states.FAILED


@pytest.mark.parametrize('body, words', [
    ({'state': 'completed', 'reason': 'x'}, ("field 'reset_state.state' must be one of",
                                             '"error"', '"failed"')),
    ({'state': 'error'}, ("'reason'",)),
    ({'state': 'error', 'reason': ''}, ('reason',)),
    ({'state': 'error', 'reason': 'x', 'force': True}, ("unknown field",)),
])
def test_bad_reset_bodies_change_nothing(client, cluster, body, words):
    migration = _create(client)
    assert_error(client.post(f"/v1/migrations/{migration['id']}/action",
                             {'reset_state': body}), 400, *words)
    assert cluster.migration_get(migration['id'])['status'] == states.ACCEPTED


def test_reset_state_of_an_unknown_migration(client, cluster):
    assert_error(_reset(client, 'nope', state='error', reason='x'), 404, 'nope')
