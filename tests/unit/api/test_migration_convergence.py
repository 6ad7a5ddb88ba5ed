"""Convergence controls on POST /v1/migrations, the samples sub-resource and the action
endpoint."""

import pytest

from migrator.common import states
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error


def _running(db, migration_id):
    for to_state in (states.SCHEDULING, states.PREPARING, states.RUNNING):
        current = db.migration_get(migration_id)['status']
        db.migration_transition(migration_id, [current], to_state,
                                values={'target_host': 'host2'})


def _create(client, **fields):
    resp = client.post('/v1/migrations', {'instance': 'vm1', **fields})
    assert resp.status_int == 202, resp.text
    return resp.json


def test_defaults_are_recorded_as_the_effective_settings(client, cluster):
    migration = _create(client)
    assert migration['convergence'] == {
        'max_downtime_ms': 500, 'downtime_steps': 10, 'bandwidth_mib': 0,
        'auto_converge': False, 'post_copy': False, 'completion_timeout_per_gib': 800,
        'timeout_action': 'abort'}


def test_request_fields_override_defaults(client, cluster):
    migration = _create(client, max_downtime_ms=300, downtime_steps=3, bandwidth_mib=16,
                        auto_converge=True, post_copy=True, completion_timeout_per_gib=60,
                        timeout_action='force_complete')
    assert migration['convergence'] == {
        'max_downtime_ms': 300, 'downtime_steps': 3, 'bandwidth_mib': 16,
        'auto_converge': True, 'post_copy': True, 'completion_timeout_per_gib': 60,
        'timeout_action': 'force_complete'}
    assert cluster.migration_get(migration['id'])['convergence']['bandwidth_mib'] == 16


@pytest.mark.parametrize('fields, words', [
    ({'max_downtime_ms': 0}, ("field 'max_downtime_ms' must be at least 1, not 0",)),
    ({'downtime_steps': 101}, ("field 'downtime_steps' must be at most 100, not 101",)),
    ({'bandwidth_mib': -1}, ("field 'bandwidth_mib' must be at least 0",)),
    ({'bandwidth_mib': '16'}, ("field 'bandwidth_mib' must be an integer or null",)),
    ({'auto_converge': 'yes'}, ("field 'auto_converge' must be a boolean or null",)),
    ({'post_copy': 1}, ("field 'post_copy' must be a boolean or null",)),
    ({'completion_timeout_per_gib': 1.5},
     ("field 'completion_timeout_per_gib' must be an integer or null",)),
    ({'timeout_action': 'pause'}, ("field 'timeout_action' must be one of", '"abort"',
                                   '"force_complete"', 'not "pause"')),
])
def test_bad_control_values_are_refused(client, cluster, conductor, fields, words):
    resp = client.post('/v1/migrations', {'instance': 'vm1', **fields})
    assert_error(resp, 400, *words)
    assert cluster.migration_list() == []
    assert conductor.casts == []


# -- samples ---------------------------------------------------------------------------------


def test_samples_oldest_first_with_limit_and_marker(client, cluster):
    migration = _create(client)
    _running(cluster, migration['id'])
    for remaining in (80, 60, 70, 10):
        cluster.migration_update_progress(
            migration['id'], {'progress': 100 - remaining, 'data_total': 100,
                              'data_remaining': remaining, 'iteration': 1, 'elapsed_ms': 5},
            sample=True)

    body = client.get(f"/v1/migrations/{migration['id']}/samples").json
    samples = body['samples']
    assert [s['data_remaining'] for s in samples] == [80, 60, 70, 10]
    # The percentage as the migration shows it: never backwards, also in the history.
    assert [s['progress'] for s in samples] == [20, 40, 40, 90]
    assert samples[0]['elapsed_ms'] == 5 and samples[0]['time'].endswith('Z')

    last_two = client.get(f"/v1/migrations/{migration['id']}/samples?limit=2").json
    assert [s['data_remaining'] for s in last_two['samples']] == [70, 10]
    after = client.get(f"/v1/migrations/{migration['id']}/samples",
                       headers={}).json['samples'][1]['id']
    newer = client.get(f"/v1/migrations/{migration['id']}/samples?marker={after}").json
    assert [s['data_remaining'] for s in newer['samples']] == [70, 10]

    shown = client.get(f"/v1/migrations/{migration['id']}").json
    assert shown['samples_count'] == 4
    assert shown['progress'] == 90


def test_samples_errors(client, cluster):
    assert_error(client.get('/v1/migrations/nope/samples'), 404, 'nope')
    migration = _create(client)
    assert_error(client.get(f"/v1/migrations/{migration['id']}/samples?marker=x"), 400,
                 'marker must be the integer id of a sample')
    assert_error(client.get(f"/v1/migrations/{migration['id']}/samples?limit=0"), 400,
                 'limit')
    assert_error(client.get(f"/v1/migrations/{migration['id']}/samples?since=1"), 400,
                 "unknown query parameter 'since'")


# -- action ----------------------------------------------------------------------------------


def test_force_complete_of_a_running_migration(client, cluster, conductor):
    migration = _create(client)
    _running(cluster, migration['id'])
    resp = client.post(f"/v1/migrations/{migration['id']}/action", {'force_complete': None})
    assert resp.status_int == 202, resp.text
    assert resp.json['forced'] == 'paused'
    assert resp.json['id'] == migration['id']
    assert conductor.force_completes == [migration['id']]


def test_force_complete_when_not_running_is_a_conflict(client, cluster, conductor):
    migration = _create(client)
    assert_error(client.post(f"/v1/migrations/{migration['id']}/action",
                             {'force_complete': None}),
                 409, 'accepted', 'only a running live migration')
    assert conductor.force_completes == []


@pytest.mark.parametrize('body, words', [
    ({}, ('must name an action', 'force_complete')),
    ({'force_complete': None, 'abort': None}, ("unknown field 'abort'",)),
    ({'pause': None}, ("unknown field 'pause'",)),
    ({'force_complete': True}, ("field 'force_complete' must be null",)),
])
def test_bad_action_bodies(client, cluster, conductor, body, words):
    migration = _create(client)
    _running(cluster, migration['id'])
    assert_error(client.post(f"/v1/migrations/{migration['id']}/action", body), 400, *words)
    assert conductor.force_completes == []


def test_action_on_unknown_migration(client, cluster):
    assert_error(client.post('/v1/migrations/nope/action', {'force_complete': None}), 404,
                 'nope')


def test_conductor_conflict_passes_through(client, cluster, conductor):
    from migrator.common import exceptions
    migration = _create(client)
    _running(cluster, migration['id'])
    conductor.force_result = exceptions.Conflict('no migration job of x runs on host1')
    assert_error(client.post(f"/v1/migrations/{migration['id']}/action",
                             {'force_complete': None}), 409, 'no migration job')


__all__ = ['fakes']


def test_a_tcg_source_with_old_qemu_runs_one_downtime_step(client, cluster, conductor):
    # The default source of vm1 reports QEMU 9.0; this one is Debian 12's 7.2 under TCG,
    # whose jobs must not change while they run.
    fakes.add_host(cluster, 'host1', virt_type='qemu', hypervisor_version=7002022)
    migration = _create(client, max_downtime_ms=400, downtime_steps=4)
    assert migration['convergence']['downtime_steps'] == 1
    assert migration['convergence']['max_downtime_ms'] == 400
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True},
                       headers={'OpenStack-API-Version': 'migration 1.6'})
    assert resp.status_int == 200, resp.text
    assert conductor.dry_run_controls[-1]['downtime_steps'] == 1
