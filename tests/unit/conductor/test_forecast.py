"""The conductor's convergence forecast (where its figures come from), what a completed
migration teaches, and the stall watch on progress reports."""

import datetime

import oslo_messaging as messaging
import pytest

from migrator import conf  # noqa: F401 - registers the options
from migrator.common import convergence, exceptions, states
from migrator.conductor import forecast
from tests.unit.api import fakes

MIB = 2 ** 20


class Compute:
    """An agent of this release: one reading per 1 s period (readings: the periods' own,
    else the rate in eight), then one over a 6 s period (long: that one's, else the rate:
    no working set shows), and its busiest vCPU's share of time (busy)."""
    def __init__(self, rate=None, error=None, readings=None, long=None, busy=None, slots=None):
        self.rate, self.error, self.calls = rate, error, []
        self.readings, self.long, self.busy, self.slots = readings, long, busy, slots

    def measure_dirty_rate(self, ctxt, host, instance_uuid, seconds):
        self.calls.append((host, instance_uuid, seconds))
        if self.error is not None:
            raise self.error
        readings = self.readings or [self.rate] * 8
        return {'dirty_rate': int(sum(readings) / len(readings)), 'readings': readings,
                'period_seconds': 1, 'seconds': seconds, 'mode': 'page-sampling',
                'long_reading': self.long if self.long is not None else readings[0],
                'long_period_seconds': 6, 'vcpu_busy': self.busy,
                **({'vcpu_slots': self.slots, 'vcpu_slot_seconds': 0.05} if self.slots else {})}


@pytest.fixture
def vm(db):
    fakes.add_host(db, 'host1')
    fakes.add_host(db, 'host2')
    return fakes.add_instances(db, 'host1', 'vm1', memory_mb=128)[0]


def _controls(**fields):
    return convergence.effective(fields)


def test_the_dry_run_uses_the_dirty_rate_the_source_measures(db, vm):
    compute = Compute(rate=2 * MIB)
    result = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=8))
    assert compute.calls == [('host1', vm['uuid'], 14)]   # [convergence] default
    figures = result['figures']
    assert figures['dirty_rate'] == 2 * MIB and figures['dirty_rate_source'] == 'measured'
    assert 'calc-dirty-rate (page-sampling, 8 x 1 s + 1 x 6 s) on host1' in \
        figures['dirty_rate_note']
    # 8 periods of 64 sampled pages: 2 MiB/s is good to about +-1.5 (Wilson, z = 2).
    assert '2.0 MiB/s +- 1.5 (1.0-4.0, 8 period(s) of 64 sampled pages)' in \
        figures['dirty_rate_note']
    assert figures['dirty_rate_low'] < 2 * MIB < figures['dirty_rate_high']
    assert result['borderline'] is False and result['verdict_at_low'] is None
    assert figures['bandwidth'] == 8 * MIB and figures['bandwidth_source'] == 'bandwidth_mib'
    assert figures['memory_bytes'] == 128 * MIB
    assert figures['completion_timeout_seconds'] == 100.0   # 800 s per GiB of 128 MiB
    assert result['verdict'] == 'converges'
    assert result['expected_outcome'] == 'completes'


@pytest.mark.parametrize('error, words', [
    (messaging.UnsupportedVersion('1.8'), 'too old to measure it'),
    (exceptions.Conflict('QEMU cannot measure'), 'QEMU cannot measure'),
])
def test_without_a_measurement_the_last_migration_then_the_default(db, vm, error, words):
    compute = Compute(error=error)
    result = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=8))
    assert result['figures']['dirty_rate_source'] == 'default'
    assert result['figures']['dirty_rate'] == 8 * MIB   # [planner] default_dirty_rate_mib_s
    assert words in result['figures']['dirty_rate_note']
    assert result['verdict'] == 'converges_with_auto_converge'

    db.observation_create({'instance_uuid': vm['uuid'], 'migration_id': 'm-1',
                           'dirty_rate': MIB, 'working_set_bytes': 16 * MIB})
    result = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=8))
    assert result['figures']['dirty_rate_source'] == 'last_migration'
    assert result['figures']['dirty_rate'] == MIB
    assert result['figures']['working_set_bytes'] == 16 * MIB
    assert 'observed in migration m-1' in result['figures']['dirty_rate_note']
    assert result['verdict'] == 'converges'


def _completed_migration(db, vm, samples):
    migration = db.migration_create({
        'instance_uuid': vm['uuid'], 'instance_name': 'vm1', 'type': 'live',
        'source_host': 'host1', 'convergence': _controls(bandwidth_mib=8)})
    for to_state in (states.SCHEDULING, states.PREPARING, states.RUNNING):
        current = db.migration_get(migration['id'])['status']
        db.migration_transition(migration['id'], [current], to_state,
                                values={'target_host': 'host2'})
    for sample in samples:
        db.migration_update_progress(migration['id'], sample, sample=True)
    return migration


def _sample(iteration, remaining_mib, dirty_mib, elapsed_ms):
    return {'iteration': iteration, 'memory_total': 128 * MIB,
            'memory_remaining': remaining_mib * MIB, 'dirty_rate': dirty_mib * MIB,
            'transfer_rate': 8 * MIB, 'elapsed_ms': elapsed_ms, 'downtime_limit_ms': 500}


def test_a_completed_migration_records_what_it_showed(db, vm):
    samples = [_sample(1, 100, 0, 1000), _sample(2, 30, 2, 17000), _sample(2, 10, 2, 19000),
               _sample(3, 6, 3, 21000)]
    migration = _completed_migration(db, vm, samples)
    db.migration_update_progress(migration['id'], {'downtime_ms': 40, 'iteration': 3})
    db.migration_transition(migration['id'], [states.RUNNING], states.FINISHING)
    db.migration_transition(migration['id'], [states.FINISHING], states.COMPLETED)
    recorded = forecast.record_observation(db, migration['id'])
    assert recorded['dirty_rate'] == 3 * MIB   # from the passes after the second
    assert recorded['transfer_rate'] == 8 * MIB
    assert recorded['iterations'] == 3
    assert recorded['downtime_ms'] == 40
    assert recorded['bandwidth_mib'] == 8
    assert recorded['memory_bytes'] == 128 * MIB
    assert recorded['working_set_bytes'] >= 30 * MIB
    assert db.observation_list(vm['uuid'])[0]['migration_id'] == migration['id']


def test_a_migration_that_did_not_complete_teaches_nothing(db, vm):
    migration = _completed_migration(db, vm, [_sample(1, 100, 0, 1000)])
    assert forecast.record_observation(db, migration['id']) is None
    assert db.observation_list(vm['uuid']) == []


def test_the_stall_watch_says_it_once_and_applies_the_policy(db, vm):
    # Every half second: 128 MiB at 8 MiB/s, then passes of 32 MiB that stay 32 MiB.
    samples = [_sample(1, 128 - 4 * k, 8, 500 * k) for k in range(32)]
    samples += [_sample(2, 32 - 4 * k, 8, 16000 + 500 * k) for k in range(8)]
    samples += [_sample(3, 31, 8, 20100)]
    migration = _completed_migration(db, vm, samples)
    forced = []
    watch = forecast.StallWatch(db, lambda ctxt, mid: forced.append(mid) or
                                {'forced': 'paused'})
    assert watch.check(None, migration['id'], {'iteration': 2}) is None
    verdict = watch.check(None, migration['id'], {'iteration': 3})
    assert verdict['verdict'] == 'stalled'
    assert watch.check(None, migration['id'], {'iteration': 3}) is None   # said once
    notes = [e for e in db.migration_get(migration['id'])['events']
             if e['detail'] and e['detail'].startswith('convergence: stalled')]
    assert len(notes) == 1 and notes[0]['from_state'] == notes[0]['to_state'] == 'running'
    assert 'Suggested action: force_complete' in notes[0]['detail']
    assert forced == []   # [convergence] stall_action = suggest by default

    conf.CONF.set_override('stall_action', 'force_complete', 'convergence')
    try:
        watch.forget(migration['id'])
        watch.check(None, migration['id'], {'iteration': 3})
    finally:
        conf.CONF.clear_override('stall_action', 'convergence')
    assert forced == [migration['id']]
    details = [e['detail'] for e in db.migration_get(migration['id'])['events']]
    assert any('stall_action force_complete applied: paused' in (d or '') for d in details)


def _observe(db, overhead, source='host1', target='host2', uuid='other'):
    return db.observation_create({'instance_uuid': uuid, 'migration_id': f'm-{overhead}',
                                  'source_host': source, 'target_host': target,
                                  'overhead_seconds': overhead})


def test_the_fixed_overhead_is_learned_per_host_pair_then_cluster_then_default(db, vm):
    compute = Compute(rate=0)
    before = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                              target_host='host2')
    assert before['figures']['overhead_source'] == 'default'
    assert before['figures']['overhead_seconds'] == 2.0   # [planner] migration_overhead_seconds

    for overhead in (9.0, 4.0, 5.0, 31.0, 4.5):   # one slow start among them
        _observe(db, overhead)
    _observe(db, 1.0, source='host2', target='host1')
    _observe(db, None)                               # an observation without a residual
    pair = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                            target_host='host2')
    assert pair['figures']['overhead_source'] == 'host_pair'
    assert pair['figures']['overhead_seconds'] == 4.86   # 4.5, 31.0, 5.0, 4.0, 9.0 newest first
    assert 'last 5 migration(s) from host1 to host2' in pair['figures']['overhead_note']
    assert pair['predicted_seconds'] == pytest.approx(before['predicted_seconds'] + 2.86, abs=0.06)

    # Never from host1 to host3: the cluster's (the six residuals above), the newest
    # weighing most (1.0 from host2 to host1, then 4.5, 31.0, 5.0...).
    other = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                             target_host='host3')
    assert other['figures']['overhead_source'] == 'cluster'
    assert other['figures']['overhead_seconds'] == 4.37

    conf.CONF.set_override('overhead_observations', 2, 'convergence')
    try:   # only the newest two of the pair, 4.5 and 31.0: between, nearer the newer
        newest = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                                  target_host='host2')
        assert newest['figures']['overhead_seconds'] == 15.41
        conf.CONF.set_override('overhead_observations', 0, 'convergence')
        off = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                               target_host='host2')
        assert off['figures']['overhead_source'] == 'default'
        assert off['figures']['overhead_seconds'] == 2.0
    finally:
        conf.CONF.clear_override('overhead_observations', 'convergence')


def test_an_observation_keeps_its_residual_overhead(vm):
    created = datetime.datetime(2026, 12, 7, 1, 0, 0)
    migration = {'id': 'm-1', 'instance_uuid': vm['uuid'], 'type': 'live',
                 'source_host': 'host1', 'target_host': 'host2', 'memory_total': 128 * MIB,
                 'created_at': created,
                 'started_at': created + datetime.timedelta(seconds=1),
                 'finished_at': created + datetime.timedelta(seconds=26.5)}
    # Passes of 128, 40 and 16 MiB (each later one sampled a second after it began, so what
    # went in that second, 8 MiB, is added back) worked off at 8 MiB/s (the first pass and
    # 8 MiB of the second by 17 s of job): 23 s of the 26.5 from request to completion.
    samples = [_sample(1, 128, 0, 0), _sample(2, 32, 2, 17000), _sample(3, 8, 2, 22000)]
    seen = forecast.observation(migration, samples)
    assert seen['effective_rate'] == 8 * MIB
    assert seen['overhead_seconds'] == pytest.approx(3.5)
    assert seen['duration_seconds'] == 25.5   # started to finished, as before
    # QEMU's sampled rate says 16 MiB/s (so the passes are 128, 48 and 24 MiB), yet 144 MiB
    # were worked off in 17 s: the residual is of that rate (2.9 s), not of the sampled one,
    # which would leave 26.5 - 200/16 = 14 s of "overhead".
    fast = [dict(s, transfer_rate=16 * MIB) for s in samples]
    assert forecast.observation(migration, fast)['overhead_seconds'] == pytest.approx(
        26.5 - 200 / (144 / 17), abs=0.01)
    # Under an 8 MiB/s cap the later passes (72 MiB) go no faster than 8 MiB/s.
    capped = dict(migration, convergence={'bandwidth_mib': 8})
    assert forecast.observation(capped, fast)['overhead_seconds'] == pytest.approx(
        26.5 - 128 / (144 / 17) - 72 / 8, abs=0.01)
    # Without the job's time or the rate the passes went at, nothing can be said.
    no_rate = [dict(s, transfer_rate=None, elapsed_ms=None) for s in samples]
    assert forecast.observation(migration, no_rate)['overhead_seconds'] is None
    assert forecast.observation(migration, no_rate)['effective_rate'] is None
    # Nor of one that pre-copy alone did not finish: the model's passes are not its passes.
    throttled = dict(migration, convergence={'auto_converge': True})
    assert forecast.observation(throttled, samples)['overhead_seconds'] is None
    for event in ({'to_state': 'post_copy', 'detail': 'switched to post-copy (requested)'},
                  {'to_state': 'finishing', 'detail': 'libvirt job completed after the guest '
                                                      'was paused to finish it (requested)'},
                  {'to_state': 'running', 'detail': 'convergence: stalled at iteration 3'}):
        forced = dict(migration, events=[{'to_state': 'running', 'detail': 'started'},
                                         event])
        assert forecast.observation(forced, samples)['overhead_seconds'] is None
        # The rate the link gave stands unless post-copy changed what the passes were.
        assert (forecast.observation(forced, samples)['effective_rate'] is None) == \
            (event['to_state'] == 'post_copy')
    assert forecast.observation(dict(migration, events=[{'to_state': 'completed',
                                                         'detail': 'running on host2'}]),
                                samples)['overhead_seconds'] == pytest.approx(3.5)


@pytest.mark.parametrize('measured_mib, observed_mib, source, rate_mib', [
    (4.0, 2.2, 'last_migration', 2.2),   # page sampling over-reads a slow dirtier
    (14.0, 13.0, 'last_migration', 13.0),
    (14.0, 2.0, 'measured', 14.0),       # the guest has changed since: what it does now
    (0.0, 8.0, 'measured', 0.0),
    (2.0, 0.0, 'measured', 2.0),         # QEMU reported no rate: passes shorter than 1 s
])
def test_a_measurement_within_its_resolution_of_the_observed_rate_gives_way_to_it(
        db, vm, measured_mib, observed_mib, source, rate_mib):
    db.observation_create({'instance_uuid': vm['uuid'], 'migration_id': 'm-1',
                           'dirty_rate': int(observed_mib * MIB)})
    result = forecast.dry_run(None, db, Compute(rate=int(measured_mib * MIB)), vm,
                              _controls(bandwidth_mib=8))
    assert result['figures']['dirty_rate_source'] == source
    assert result['figures']['dirty_rate'] == pytest.approx(rate_mib * MIB, abs=1)
    if source == 'last_migration':
        assert 'the same within its resolution' in result['figures']['dirty_rate_note']


def _observe_rate(db, rate_mib, cap, source='host1', target='host2'):
    return db.observation_create({'instance_uuid': 'other', 'migration_id': f'm-{rate_mib}',
                                  'source_host': source, 'target_host': target,
                                  'bandwidth_mib': cap,
                                  'effective_rate': int(rate_mib * MIB)})


def test_the_effective_bandwidth_is_learned_per_cap_and_host_pair(db, vm):
    compute = Compute(rate=14 * MIB)
    before = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                              target_host='host2')
    figures = before['figures']
    assert figures['effective_bandwidth'] == 32 * MIB
    assert figures['effective_bandwidth_source'] == 'default'
    assert before['verdict'] == 'converges'   # 14 against 32 MiB/s

    for rate in (15.0, 17.0, 16.0):     # what 32 MiB/s gave from host1 to host2
        _observe_rate(db, rate, 32)
    _observe_rate(db, 7.8, 8)           # another cap: says nothing of this one
    _observe_rate(db, 30.0, 32, source='host2', target='host1')
    learned = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                               target_host='host2')
    figures = learned['figures']
    assert figures['bandwidth'] == 32 * MIB          # the cap, as asked
    # 16, 17, 15 newest first, weighing 1, 0.7, 0.49: just above 16.
    assert figures['effective_bandwidth'] == pytest.approx(16.12 * MIB, rel=1e-3)
    assert figures['effective_bandwidth_source'] == 'host_pair'
    assert 'last 3 migration(s) from host1 to host2 under 32 MiB/s' in \
        figures['effective_bandwidth_note']
    # 14 MiB/s against the 16 the job really moves: it stalls as the diagnosis judges.
    assert learned['verdict'] == 'converges_with_auto_converge'
    assert 'sent at 16.1 MiB/s' in learned['reason']

    # Never from host1 to host3 under 32 MiB/s: the cluster's (30, 16, 17, 15, newest
    # first, weighing 1, 0.7, 0.49, 0.34).
    other = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=32),
                             target_host='host3')
    assert other['figures']['effective_bandwidth_source'] == 'cluster'
    assert other['figures']['effective_bandwidth'] == pytest.approx(16.96 * MIB, rel=1e-3)
    # Under 8 MiB/s: its own, above the cap too (zero pages cost a few bytes each).
    _observe_rate(db, 10.0, 8)
    _observe_rate(db, 9.6, 8)
    slow = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=8),
                            target_host='host2')
    assert slow['figures']['effective_bandwidth'] == pytest.approx(9.65 * MIB, rel=1e-3)
    # Uncapped: only uncapped migrations say what the link gives; none yet.
    free = forecast.dry_run(None, db, compute, vm, _controls(), target_host='host2')
    assert free['figures']['effective_bandwidth_source'] == 'default'
    _observe_rate(db, 400.0, None)
    free = forecast.dry_run(None, db, compute, vm, _controls(), target_host='host2')
    assert free['figures']['effective_bandwidth'] == 400 * MIB


def test_a_guest_measured_within_its_resolution_of_the_cap_is_borderline(db, vm):
    # Ten 1 s periods of a 128 MiB guest around 7 MiB/s under a cap of 8: the passes
    # stop shrinking above 6.4 MiB/s, and the sample cannot tell which side it is on.
    readings = [int(r * MIB) for r in (8, 6, 4, 10, 8, 6, 8, 4, 10, 6)]
    result = forecast.dry_run(None, db, Compute(readings=readings), vm,
                              _controls(bandwidth_mib=8, completion_timeout_per_gib=0),
                              target_host='host2')
    figures = result['figures']
    assert figures['dirty_rate'] == 7 * MIB and figures['dirty_rate_source'] == 'measured'
    assert figures['dirty_rate_low'] < int(6.4 * MIB) < figures['dirty_rate_high']
    assert result['borderline'] is True
    assert result['verdict'] == 'converges_with_auto_converge'   # at 7 MiB/s
    assert result['verdict_at_low'] == 'converges'
    assert result['verdict_at_high'] == 'converges_with_auto_converge'
    assert result['suggested_action'] == 'auto_converge'
    assert result['reason'].startswith('borderline: ')

    # The same guest under 32 MiB/s: clear of the edge.
    clear = forecast.dry_run(None, db, Compute(readings=readings), vm,
                             _controls(bandwidth_mib=32), target_host='host2')
    assert clear['verdict'] == 'converges' and clear['borderline'] is False


def test_an_older_agents_one_reading_still_gives_an_interval(db, vm):
    class OldCompute(Compute):
        def measure_dirty_rate(self, ctxt, host, instance_uuid, seconds):
            return {'dirty_rate': 3 * MIB, 'seconds': 2, 'mode': 'page-sampling'}

    result = forecast.dry_run(None, db, OldCompute(), vm, _controls(bandwidth_mib=8))
    figures = result['figures']
    assert figures['dirty_rate'] == 3 * MIB
    assert 'page-sampling, 1 x 2 s' in figures['dirty_rate_note']
    assert figures['dirty_rate_low'] < 3 * MIB < figures['dirty_rate_high']


def test_an_unmeasured_rate_has_no_interval_and_is_never_borderline(db, vm):
    compute = Compute(error=exceptions.Conflict('QEMU cannot measure'))
    result = forecast.dry_run(None, db, compute, vm, _controls(bandwidth_mib=8))
    assert result['figures']['dirty_rate_low'] is None
    assert result['figures']['dirty_rate_high'] is None
    assert result['borderline'] is False


def test_the_long_period_shows_the_working_set_a_fast_guest_keeps_rewriting(db, vm):
    # 32 MiB/s over 1 s periods, but only 32 MiB over 6 s: it rewrites a 32 MiB working set.
    compute = Compute(rate=32 * MIB, long=int(32 * MIB / 6), busy=0.6)
    result = forecast.dry_run(None, db, compute, vm,
                              _controls(bandwidth_mib=8, completion_timeout_per_gib=0))
    figures = result['figures']
    assert figures['working_set_bytes'] == pytest.approx(32 * MIB, rel=0.01)
    assert figures['working_set_source'] == 'measured' and figures['vcpu_busy'] == 0.6
    # Passes of 32 MiB, not of all memory: auto-converge ends it sooner than without it.
    unknown = forecast.dry_run(None, db, Compute(rate=32 * MIB, busy=0.6), vm,
                               _controls(bandwidth_mib=8, completion_timeout_per_gib=0))
    assert unknown['figures']['working_set_bytes'] is None
    assert unknown['figures']['working_set_source'] == 'memory'
    assert result['verdict'] == unknown['verdict'] == 'converges_with_auto_converge'
    assert result['predicted_seconds'] < unknown['predicted_seconds'] / 2


def test_without_a_measured_working_set_the_last_migrations_is_taken(db, vm):
    db.observation_create({'instance_uuid': vm['uuid'], 'migration_id': 'm-1',
                           'dirty_rate': 8 * MIB, 'working_set_bytes': 40 * MIB})
    result = forecast.dry_run(None, db, Compute(rate=8 * MIB), vm, _controls(bandwidth_mib=8))
    assert result['figures']['working_set_bytes'] == 40 * MIB
    assert result['figures']['working_set_source'] == 'last_migration'


def test_a_guest_that_idles_its_vcpu_keeps_its_pace_under_the_throttle_longer(db, vm):
    def predicted(busy):
        return forecast.dry_run(None, db, Compute(rate=10 * MIB, long=6 * MIB, busy=busy), vm,
                                _controls(bandwidth_mib=8, completion_timeout_per_gib=0)
                                )['predicted_seconds']
    assert predicted(0.1) > predicted(1.0)


def test_the_long_period_tells_how_much_a_long_pass_leaves_of_a_slow_dirtier(db, vm):
    def predicted(long):
        return forecast.dry_run(None, db, Compute(rate=int(4.8 * MIB), long=long), vm,
                                _controls(bandwidth_mib=8))
    # 14 MiB over 6 s, below 0.8 x 4.8 MiB/s x 6 s: taken as its working set, and as the end
    # of the line a pass longer than a second dirties along.
    seen = predicted(int(14 * MIB / 6))
    steady = predicted(int(4.8 * MIB))          # 28.8 MiB over 6 s: the rate holds
    assert seen['figures']['working_set_source'] == 'measured'
    assert steady['figures']['working_set_source'] == 'memory'
    assert seen['verdict'] == steady['verdict'] == 'converges'
    assert seen['predicted_seconds'] < steady['predicted_seconds']


def test_a_guest_seen_writing_in_bursts_is_forecast_to_converge_between_two(db, vm):
    # 32 MiB/s of a 32 MiB working set, its vCPU busy for 0.1 s of every second.
    bursty = [1.0 if i % 20 < 2 else 0.0 for i in range(280)]
    steady = [0.2] * 280
    controls = _controls(bandwidth_mib=32, downtime_steps=1, completion_timeout_per_gib=0)

    def dry_run(slots):
        compute = Compute(rate=32 * MIB, long=int(32 * MIB / 6), busy=0.1, slots=slots)
        return forecast.dry_run(None, db, compute, vm, controls)
    seen = dry_run(bursty)
    assert seen['figures']['writes_in_bursts'] is True
    assert seen['verdict'] == 'converges' and 'bursts' in seen['reason'], seen
    assert dry_run(steady)['figures']['writes_in_bursts'] is False
    assert dry_run(steady)['verdict'] == 'converges_with_auto_converge'
    # An agent of the release before reads no trace: nothing said, the steady model.
    older = dry_run(None)
    assert older['figures']['writes_in_bursts'] is None
    assert older['verdict'] == 'converges_with_auto_converge'
