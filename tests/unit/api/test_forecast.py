"""Microversion 1.5: the convergence forecast of a dry run, a running migration's
convergence_verdict, and an instance's observations."""

from migrator.common import states
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error

MIB = 2 ** 20
V15 = {'OpenStack-API-Version': 'migration 1.5'}


def test_a_live_dry_run_at_1_5_answers_the_forecast(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                          'bandwidth_mib': 8}, headers=V15)
    assert resp.status_int == 200, resp.text
    fc = resp.json['dry_run']['forecast']
    assert fc['verdict'] == 'converges'
    assert fc['figures']['bandwidth'] == 8 * MIB
    # The request's controls over the defaults reach the conductor.
    assert conductor.dry_run_controls[-1]['bandwidth_mib'] == 8
    assert conductor.dry_run_controls[-1]['max_downtime_ms'] == 500
    assert cluster.migration_list() == []


def test_older_microversions_keep_the_old_dry_run_shape(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True})
    assert resp.status_int == 200, resp.text
    assert 'forecast' not in resp.json['dry_run']


def test_a_cold_dry_run_has_no_forecast(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                          'type': 'cold'}, headers=V15)
    assert resp.status_int == 200, resp.text
    assert conductor.dry_run_controls[-1] is None
    assert 'forecast' not in resp.json['dry_run']


def _stalled_migration(db):
    migration = db.migration_create({
        'instance_uuid': fakes.uuid_of('vm1'), 'instance_name': 'vm1', 'type': 'live',
        'source_host': 'host1', 'convergence': {'max_downtime_ms': 500, 'post_copy': False,
                                                'auto_converge': False}})
    for to_state in (states.SCHEDULING, states.PREPARING, states.RUNNING):
        current = db.migration_get(migration['id'])['status']
        db.migration_transition(migration['id'], [current], to_state,
                                values={'target_host': 'host2'})
    elapsed = 0
    for iteration, size in ((1, 128), (2, 32), (3, 32)):
        for k in range(4):
            db.migration_update_progress(migration['id'], {
                'iteration': iteration, 'memory_total': 128 * MIB,
                'memory_remaining': int(size * MIB * (1 - k / 8)), 'dirty_rate': 8 * MIB,
                'transfer_rate': 8 * MIB, 'downtime_limit_ms': 500, 'elapsed_ms': elapsed},
                sample=True)
            elapsed += 500
    return migration


def test_a_stalled_migration_shows_its_verdict_from_1_5(client, cluster):
    migration = _stalled_migration(cluster)
    resp = client.get(f"/v1/migrations/{migration['id']}", headers=V15)
    verdict = resp.json['convergence_verdict']
    assert verdict['verdict'] == 'stalled' and verdict['iteration'] == 3
    assert 'remaining data stopped falling' in verdict['reason']
    assert verdict['action'] == 'force_complete'
    assert 'convergence_verdict' not in client.get(f"/v1/migrations/{migration['id']}").json


def test_a_migration_that_converges_has_a_null_verdict(client, cluster):
    migration = cluster.migration_create({
        'instance_uuid': fakes.uuid_of('vm1'), 'instance_name': 'vm1', 'type': 'live',
        'source_host': 'host1'})
    resp = client.get(f"/v1/migrations/{migration['id']}", headers=V15)
    assert resp.json['convergence_verdict'] is None


def test_observations_of_an_instance(client, cluster):
    cluster.observation_create({'instance_uuid': fakes.uuid_of('vm1'), 'migration_id': 'm-1',
                                'dirty_rate': 2 * MIB, 'iterations': 4,
                                'duration_seconds': 25.3, 'downtime_ms': 40})
    resp = client.get('/v1/instances/vm1/observations', headers=V15)
    assert resp.status_int == 200, resp.text
    assert resp.json['instance_uuid'] == fakes.uuid_of('vm1')
    [seen] = resp.json['observations']
    assert seen['migration_id'] == 'm-1' and seen['iterations'] == 4
    assert seen['dirty_rate'] == 2 * MIB and seen['duration_seconds'] == 25.3


def test_observations_need_1_5_and_a_known_instance(client, cluster):
    assert_error(client.get('/v1/instances/vm1/observations'), 404, 'version 1.5')
    assert_error(client.get('/v1/instances/nope/observations', headers=V15), 404, 'nope')


def test_the_effective_rate_shows_from_1_8(client, cluster, conductor):
    shown = {}
    for version in ('1.7', '1.8'):
        resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                              'bandwidth_mib': 8},
                           headers={'OpenStack-API-Version': f'migration {version}'})
        assert resp.status_int == 200, resp.text
        shown[version] = resp.json['dry_run']['forecast']['figures']
    assert 'overhead_source' in shown['1.7'] and 'effective_bandwidth' not in shown['1.7']
    assert shown['1.8']['effective_bandwidth'] == 8 * MIB
    assert shown['1.8']['effective_bandwidth_source'] == 'default'
    cluster.observation_create({'instance_uuid': fakes.uuid_of('vm1'), 'migration_id': 'm-1',
                                'effective_rate': 10 * MIB, 'bandwidth_mib': 8})
    for version, present in (('1.7', False), ('1.8', True)):
        rows = client.get('/v1/instances/vm1/observations',
                          headers={'OpenStack-API-Version': f'migration {version}'}
                          ).json['observations']
        assert ('effective_rate' in rows[0]) is present
        if present:
            assert rows[0]['effective_rate'] == 10 * MIB


def _forecasts_at(client, *versions):
    """The forecast of vm1's live dry run under a cap of 8 MiB/s, at each microversion."""
    shown = []
    for version in versions:
        resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                              'bandwidth_mib': 8},
                           headers={'OpenStack-API-Version': f'migration {version}'})
        assert resp.status_int == 200, resp.text
        shown.append(resp.json['dry_run']['forecast'])
    return shown


def test_a_borderline_forecast_shows_from_1_9(client, cluster, conductor):
    # 7 MiB/s measured as 5-9.5 against a cap of 8: below 6.4 pre-copy converges, above it
    # the passes stop shrinking.
    conductor.dirty_rate, conductor.dirty_rate_interval = 7 * MIB, (5 * MIB, int(9.5 * MIB))
    old, new = _forecasts_at(client, '1.8', '1.9')
    assert 'borderline' not in old and 'verdict_at_low' not in old
    assert 'dirty_rate_low' not in old['figures']
    assert new['borderline'] is True
    assert new['verdict'] == 'converges_with_auto_converge'
    assert new['verdict_at_low'] == 'converges'
    assert new['figures']['dirty_rate_low'] == 5 * MIB
    assert new['figures']['dirty_rate_high'] == int(9.5 * MIB)
    assert 'borderline' in new['borderline_note'] and '5.0 MiB/s' in new['borderline_note']
    assert 'verdict_at_high' not in new and 'cautious' not in new


def test_from_1_10_a_borderline_forecast_is_the_likeliest_verdict(client, cluster, conductor):
    # 5 MiB/s measured as 3-7.5 against a cap of 8: at 5 pre-copy converges (the likeliest),
    # at 7.5 it needs auto-converge (the cautious side).
    conductor.dirty_rate, conductor.dirty_rate_interval = 5 * MIB, (3 * MIB, int(7.5 * MIB))
    old, new = _forecasts_at(client, '1.9', '1.10')
    # 1.9: the cautious side, as that version promised.
    assert old['verdict'] == 'converges_with_auto_converge' and old['borderline'] is True
    assert old['expected_outcome'] != 'completes'
    assert 'verdict_at_high' not in old and 'cautious' not in old
    # 1.10: the likeliest, both ends, and the help the cautious side needs.
    assert new['verdict'] == 'converges' and new['borderline'] is True
    assert new['verdict_at_low'] == 'converges'
    assert new['verdict_at_high'] == 'converges_with_auto_converge'
    assert new['expected_outcome'] == 'completes'
    assert new['suggested_action'] == 'auto_converge'
    assert new['predicted_seconds'] < old['predicted_seconds']
    assert new['reason'].startswith('borderline: ') and 'At the measured rate' in new['reason']
    assert 'cautious' not in new
    # Not borderline: verdict_at_high is null.
    conductor.dirty_rate_interval = (1 * MIB, 3 * MIB)
    conductor.dirty_rate = 2 * MIB
    plain = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                           'bandwidth_mib': 8},
                        headers={'OpenStack-API-Version': 'migration 1.10'}).json
    assert plain['dry_run']['forecast']['verdict_at_high'] is None


def test_at_1_9_a_forecast_of_an_older_conductor_is_not_borderline(client, cluster, conductor,
                                                                   monkeypatch):
    answer_of = conductor.schedule_dry_run

    def older(*args, **kwargs):   # the release before 1.9 judged no interval
        answer = answer_of(*args, **kwargs)
        for key in ('borderline', 'verdict_at_low', 'borderline_note'):
            answer['forecast'].pop(key)
        for key in ('dirty_rate_low', 'dirty_rate_high'):
            answer['forecast']['figures'].pop(key)
        return answer

    monkeypatch.setattr(conductor, 'schedule_dry_run', older)
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                          'bandwidth_mib': 8},
                       headers={'OpenStack-API-Version': 'migration 1.9'})
    assert resp.status_int == 200, resp.text
    fc = resp.json['dry_run']['forecast']
    assert fc['borderline'] is False and fc['verdict_at_low'] is None
    assert fc['figures']['dirty_rate_low'] is None and fc['figures']['dirty_rate_high'] is None


V19 = {'OpenStack-API-Version': 'migration 1.9'}


def test_a_dry_run_that_asks_for_no_forecast_measures_nothing(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                          'forecast': False}, headers=V19)
    assert resp.status_int == 200, resp.text
    # No controls, no forecast: the conductor has nothing to measure the guest for.
    assert conductor.dry_run_controls[-1] is None
    assert 'forecast' not in resp.json['dry_run']
    assert resp.json['dry_run']['possible'] is True
    # The controls the migration would run with are still answered (1.6).
    assert resp.json['dry_run']['convergence']['max_downtime_ms'] == 500


def test_forecast_false_needs_1_9_and_a_live_dry_run(client, cluster, conductor):
    body = {'instance': 'vm1', 'dry_run': True, 'forecast': False}
    v18 = {'OpenStack-API-Version': 'migration 1.8'}
    assert_error(client.post('/v1/migrations', body, headers=v18), 400, 'microversion 1.9')
    for wrong in (dict(body, type='cold'), dict(body, dry_run=False)):
        assert_error(client.post('/v1/migrations', wrong, headers=V19), 400,
                     'dry runs of live migrations')
    assert conductor.dry_run_controls == []
    assert cluster.migration_list() == []


def test_at_1_10_a_borderline_forecast_of_a_1_9_conductor_says_its_verdict_is_the_high_end(
        client, cluster, conductor, monkeypatch):
    conductor.dirty_rate, conductor.dirty_rate_interval = 5 * MIB, (3 * MIB, int(7.5 * MIB))
    answer_of = conductor.schedule_dry_run

    def older(*args, **kwargs):   # the 1.9 release answered the cautious side as the verdict
        answer = answer_of(*args, **kwargs)
        forecast = answer['forecast']
        forecast.update(forecast.pop('cautious'))
        forecast.pop('verdict_at_high')
        return answer

    monkeypatch.setattr(conductor, 'schedule_dry_run', older)
    [fc] = _forecasts_at(client, '1.10')
    assert fc['borderline'] is True
    assert fc['verdict'] == fc['verdict_at_high'] == 'converges_with_auto_converge'
    assert fc['figures']['vcpu_busy'] is None and fc['figures']['working_set_source'] is None


def test_whether_the_guest_writes_in_bursts_shows_from_1_11(client, cluster, conductor,
                                                             monkeypatch):
    conductor.writes_in_bursts = True
    at_1_10, at_1_11 = _forecasts_at(client, '1.10', '1.11')
    assert 'writes_in_bursts' not in at_1_10['figures']
    assert at_1_11['figures']['writes_in_bursts'] is True
    # A conductor of the release before says nothing of it: null.
    answer_of = conductor.schedule_dry_run

    def older(*args, **kwargs):
        answer = answer_of(*args, **kwargs)
        del answer['forecast']['figures']['writes_in_bursts']
        return answer

    monkeypatch.setattr(conductor, 'schedule_dry_run', older)
    [fc] = _forecasts_at(client, '1.11')
    assert fc['figures']['writes_in_bursts'] is None
