"""The pre-copy model behind a dry run's convergence forecast."""

import dataclasses

import pytest

from migrator.common import forecast
from migrator.common.write_bursts import WriteBursts

MIB = 2 ** 20


def _figures(dirty_mib, cap_mib, memory_mib=128, **kw):
    kw = {'max_downtime_ms': 500, 'downtime_steps': 10, 'overhead_seconds': 2.0, **kw}
    return forecast.Figures(memory_bytes=memory_mib * MIB, dirty_rate_bps=dirty_mib * MIB,
                            bandwidth_bps=cap_mib * MIB, **kw)


def test_an_idle_guest_converges_after_one_pass_over_its_memory():
    result = forecast.forecast(_figures(0, 32))
    assert result['verdict'] == forecast.CONVERGES
    assert result['iterations'] == 1
    # 2 s overhead + 128 MiB at 32 MiB/s; nothing left for the pause.
    assert result['predicted_seconds'] == 6.0
    assert result['downtime_ms'] == 0


def test_a_slow_dirtier_converges_in_shrinking_passes():
    # 128 MiB at 8 MiB/s: 16 s, leaving 32 MiB dirty, then 4 s (8 MiB), 1 s (2 MiB), ...
    result = forecast.forecast(_figures(2, 8))
    assert result['verdict'] == forecast.CONVERGES
    assert 3 <= result['iterations'] <= 5
    assert 2 + 16 + 4 + 1 <= result['predicted_seconds'] <= 2 + 16 + 4 + 1 + 1
    assert 0 < result['downtime_ms'] <= 500


@pytest.mark.parametrize('dirty, cap', [(8, 8), (32, 8), (32, 32)])
def test_a_guest_dirtying_as_fast_as_the_link_needs_auto_converge(dirty, cap):
    result = forecast.forecast(_figures(dirty, cap))
    assert result['verdict'] == forecast.WITH_AUTO_CONVERGE
    assert 'auto-converge' in result['reason']
    assert forecast.suggested_action(result['verdict'], {}) == 'auto_converge'
    assert forecast.expected_outcome(result['verdict'], {}) == 'runs_until_an_operator_acts'
    assert (forecast.expected_outcome(result['verdict'], {'auto_converge': True})
            == 'completes_with_auto_converge')


def test_when_even_auto_converge_is_too_slow_for_the_timeout_it_needs_post_copy():
    result = forecast.forecast(_figures(32, 8, completion_timeout_s=20))
    assert result['verdict'] == forecast.NEEDS_POST_COPY
    assert result['downtime_ms'] is None
    assert forecast.suggested_action(result['verdict'], {}) == 'post_copy'
    assert forecast.suggested_action(result['verdict'], {'post_copy': True}) == 'force_complete'
    assert (forecast.expected_outcome(result['verdict'], {'completion_timeout_per_gib': 160})
            == 'cancelled_by_the_completion_timeout')


def test_a_converging_migration_slower_than_the_timeout_will_not_converge_in_time():
    result = forecast.forecast(_figures(0, 8, completion_timeout_s=10))
    assert result['verdict'] == forecast.TIMEOUT
    assert 'completion timeout of 10 s' in result['reason']
    assert forecast.suggested_action(result['verdict'], {}) == 'raise_completion_timeout'


def test_a_working_set_bounds_what_each_pass_leaves():
    unbounded = forecast.simulate(_figures(8, 32))
    bounded = forecast.simulate(_figures(8, 32, working_set_bytes=16 * MIB))
    assert bounded.converged and unbounded.converged
    assert bounded.seconds < unbounded.seconds


def test_a_rate_within_a_fifth_of_the_bandwidth_stalls_as_the_diagnosis_judges():
    # 7 MiB/s against 8 would shrink each pass by only 1/8: the running migration's
    # diagnosis calls that stalled, so the forecast does too.
    assert forecast.forecast(_figures(7, 8))['verdict'] == forecast.WITH_AUTO_CONVERGE
    assert forecast.forecast(_figures(4, 8))['verdict'] == forecast.CONVERGES


def test_the_residual_overhead_is_what_the_passes_do_not_explain():
    # 128 MiB then 16 MiB at 8 MiB/s is 18 s of passes; the migration took 22.5 s.
    assert forecast.residual_overhead(22.5, [128 * MIB, 16 * MIB], 8 * MIB) == 4.5
    # A pass sampled late can make the passes look longer than the migration: never < 0.
    assert forecast.residual_overhead(17.0, [128 * MIB, 16 * MIB], 8 * MIB) == 0.0
    assert forecast.residual_overhead(None, [128 * MIB], 8 * MIB) is None
    assert forecast.residual_overhead(20.0, [], 8 * MIB) is None
    assert forecast.residual_overhead(20.0, [128 * MIB], None) is None


def test_the_learned_overhead_is_the_median_so_one_slow_start_does_not_move_it():
    assert forecast.learned_overhead([4.4, 4.6, 31.0, 4.5, 4.5, None]) == 4.5
    assert forecast.learned_overhead([4.0, 5.0]) == 4.5
    assert forecast.learned_overhead([]) is None
    assert forecast.learned_overhead([None]) is None


def test_the_overhead_adds_to_the_predicted_duration_once():
    slow = forecast.forecast(forecast.Figures(
        memory_bytes=128 * MIB, dirty_rate_bps=2 * MIB, bandwidth_bps=8 * MIB,
        max_downtime_ms=500, overhead_seconds=4.5))
    fast = forecast.forecast(_figures(2, 8))
    assert slow['predicted_seconds'] == pytest.approx(fast['predicted_seconds'] + 2.5, abs=0.1)


def test_one_downtime_step_allows_the_max_downtime_from_the_first_pass():
    # What a TCG host on QEMU < 9.0 runs with ([libvirt] live_migration_downtime_stepping
    # auto): the job starts at the max downtime and keeps it. 128 MiB at 8 MiB/s (16 s)
    # leaves 3.2 MiB at 0.2 MiB/s: within 500 ms (4 MiB) at once, not within 50 ms (the first
    # of ten steps).
    one = forecast.forecast(forecast.Figures(
        memory_bytes=128 * MIB, dirty_rate_bps=0.2 * MIB, bandwidth_bps=8 * MIB,
        max_downtime_ms=500, downtime_steps=1, overhead_seconds=2.0))
    assert one['verdict'] == forecast.CONVERGES and one['iterations'] == 1
    assert one['downtime_ms'] == pytest.approx(400.0)
    assert one['predicted_seconds'] == pytest.approx(2 + 16 + 0.4, abs=0.1)
    ten = forecast.forecast(_figures(0.2, 8))
    assert ten['iterations'] == 2 and ten['downtime_ms'] < 50
    # A busy guest gets no more downtime in later passes with one step: the max from the
    # first pass on, never above it.
    busy = forecast.simulate(forecast.Figures(
        memory_bytes=128 * MIB, dirty_rate_bps=6 * MIB, bandwidth_bps=8 * MIB,
        max_downtime_ms=500, downtime_steps=1, overhead_seconds=2.0))
    assert busy.converged and busy.downtime_ms <= 500


def _progress(iteration, remaining_mib, elapsed_ms, rate_mib=8):
    return {'iteration': iteration, 'memory_remaining': remaining_mib * MIB,
            'transfer_rate': rate_mib * MIB, 'elapsed_ms': elapsed_ms}


def test_the_effective_rate_is_the_first_pass_with_its_sync_and_waits():
    # QEMU reports 32 MiB/s while it sends, but the 128 MiB pass takes 8 s of job and the
    # second begins half a second later (16 MiB left, sampled at 0 half a second in): 128
    # MiB worked off in 8.5 s, not 4.
    samples = [_progress(1, 128, 0, 32), _progress(1, 64, 4000, 32),
               _progress(1, 0, 8000, 32), _progress(2, 0, 8500, 32),
               _progress(3, 0, 9500, 32)]
    rate = forecast.effective_rate(samples)
    assert rate == pytest.approx(144 * MIB / 8.5)
    # The model's passes at that rate (the later one at the cap) explain the job, so the
    # residual is the fixed part.
    assert forecast.residual_overhead(12.0, [128 * MIB, 16 * MIB], rate,
                                      later_bps=32 * MIB) == pytest.approx(
        12.0 - 128 / (144 / 8.5) - 0.5, abs=0.01)
    # Zero pages: memory worked off faster than an 8 MiB/s cap.
    assert forecast.effective_rate([_progress(1, 128, 0), _progress(1, 78, 5000)]) == \
        pytest.approx(10 * MIB)


def test_the_first_pass_goes_at_its_own_rate_the_later_ones_at_the_cap():
    at_cap = forecast.simulate(_figures(2, 8))
    zero_pages = forecast.simulate(_figures(2, 8, first_pass_bps=10 * MIB))
    # 128 MiB at 10 instead of 8 MiB/s: 3.2 s less on the first pass, and what the guest
    # dirtied meanwhile (less of it) still goes at 8.
    assert zero_pages.seconds < at_cap.seconds - 3.2
    assert zero_pages.converged and zero_pages.iterations <= at_cap.iterations


def test_no_effective_rate_from_too_little():
    assert forecast.effective_rate([]) is None
    assert forecast.effective_rate([_progress(1, 128, 0)]) is None
    # Samples less than a second apart say nothing of syncs or waits.
    assert forecast.effective_rate([_progress(1, 128, 0), _progress(1, 124, 500)]) is None
    # Nothing worked off.
    assert forecast.effective_rate([_progress(1, 128, 0), _progress(1, 128, 3000)]) is None
    # Samples without a job time are skipped, not taken as time 0.
    assert forecast.effective_rate([{'iteration': 1, 'memory_remaining': 128 * MIB},
                                    _progress(1, 120, 1000), _progress(1, 104, 3000)]) == \
        pytest.approx(8 * MIB)


def test_the_learned_rate_is_the_median_even_above_the_cap():
    assert forecast.learned_rate([10 * MIB, 16 * MIB, 30 * MIB]) == 16 * MIB
    # Zero pages go as a few bytes each: memory is worked off faster than an 8 MiB/s cap.
    assert forecast.learned_rate([10.4 * MIB, 9.8 * MIB, 7.0 * MIB]) == 9.8 * MIB
    assert forecast.learned_rate([900 * MIB, None]) == 900 * MIB
    assert forecast.learned_rate([None]) is None


def test_a_cap_that_gives_half_its_rate_stalls_a_guest_it_would_carry_at_full_rate():
    # 15 MiB/s against a 32 MiB/s cap converges; against the 16 MiB/s the job really moves
    # under that cap on a loaded host it does not (within a fifth: the diagnosis's stall).
    assert forecast.forecast(_figures(15, 32))['verdict'] == forecast.CONVERGES
    assert forecast.forecast(_figures(15, 16))['verdict'] == forecast.WITH_AUTO_CONVERGE


def test_a_rate_whose_interval_spans_the_edge_is_borderline_and_keeps_the_likeliest():
    # 6 MiB/s against 8: converges (the passes shrink by a quarter); but the measurement
    # allows 4-9 MiB/s, and above 6.4 the passes stop shrinking as the stall rule judges.
    point = forecast.forecast(_figures(6, 8))
    assert point['verdict'] == forecast.CONVERGES and point['borderline'] is False
    assert point['verdict_at_high'] is None and 'cautious' not in point
    result = forecast.forecast(_figures(6, 8), dirty_rate_interval=(4 * MIB, 9 * MIB))
    assert result['borderline'] is True
    # The verdict and figures at the measured rate: the likeliest outcome.
    assert result['verdict'] == forecast.CONVERGES
    assert result['predicted_seconds'] == point['predicted_seconds']
    assert result['verdict_at_low'] == forecast.CONVERGES
    assert result['verdict_at_high'] == forecast.WITH_AUTO_CONVERGE
    # The cautious side's answer: the auto-converged run at 9 MiB/s.
    at_high = forecast.forecast(_figures(9, 8))
    cautious = result['cautious']
    assert cautious['verdict'] == forecast.WITH_AUTO_CONVERGE
    assert cautious['predicted_seconds'] == at_high['predicted_seconds']
    assert cautious['iterations'] == at_high['iterations']
    assert result['borderline_note'].startswith('borderline: the guest dirties 6.0 MiB/s')
    assert 'anything from 4.0 MiB/s to 9.0 MiB/s' in result['borderline_note']
    assert result['reason'].startswith(result['borderline_note'])
    assert 'the guest dirties 6.0 MiB/s against' in result['reason']   # the measured rate's
    assert 'the guest dirties 9.0 MiB/s' in cautious['reason']          # the high end's
    # The request is told to ask for what the cautious side needs.
    told = forecast.with_outcomes(result, {})
    assert told['expected_outcome'] == 'completes'
    assert told['suggested_action'] == 'auto_converge'
    assert told['cautious']['expected_outcome'] == 'runs_until_an_operator_acts'
    assert forecast.with_outcomes(result, {'auto_converge': True})['suggested_action'] is None


def test_an_interval_clear_of_the_edge_keeps_the_measured_figures():
    plain = forecast.forecast(_figures(2, 8))
    result = forecast.forecast(_figures(2, 8), dirty_rate_interval=(1 * MIB, 3.7 * MIB))
    assert result['verdict'] == forecast.CONVERGES and result['borderline'] is False
    assert result['verdict_at_low'] is None and result['borderline_note'] is None
    assert result['predicted_seconds'] == plain['predicted_seconds']
    # Clear of it on the other side too: stalls at either end.
    fast = forecast.forecast(_figures(30, 8), dirty_rate_interval=(24 * MIB, 36 * MIB))
    assert fast['verdict'] == forecast.WITH_AUTO_CONVERGE and fast['borderline'] is False


def test_the_recent_median_ignores_one_odd_value_and_follows_a_new_normal():
    assert forecast.recent_median([]) is None
    assert forecast.recent_median([4.0, 1.0, 2.0, 3.0]) == 2.5        # decay 1: the median
    assert forecast.recent_median([3.0, 1.0, 2.0]) == 2.0
    usual = [1.5] * 8
    assert forecast.recent_median([5.0, *usual], 0.7) == 1.5          # one slow start
    two = forecast.recent_median([5.0, 4.0, *usual], 0.7)             # the load rose
    assert 2.5 < two < 4.0
    assert 4.0 < forecast.recent_median([5.0, 4.0, 5.0, *usual], 0.7) <= 5.0   # three: all of it
    assert forecast.recent_median([5.0, 4.0, *usual], 1.0) == 1.5     # the plain median lags
    assert forecast.learned_overhead([5.0, 4.0, *usual], 0.7) == round(two, 2)
    # Two values: between them, nearer the newer; not the newer alone.
    assert 39 * MIB < forecast.learned_rate([None, 33 * MIB, 50 * MIB], 0.7) < 41 * MIB


def test_the_throttle_slows_a_guest_only_once_it_leaves_less_cpu_than_the_guest_used():
    assert forecast.throttled_share(0.2) == pytest.approx(0.8)          # busy unknown
    assert forecast.throttled_share(0.2, 1.0) == pytest.approx(0.8)
    assert forecast.throttled_share(0.5, 0.1) == 1.0                   # half of 10 % idle
    assert forecast.throttled_share(0.95, 0.1) == pytest.approx(0.5)
    assert forecast.throttled_share(0.99, 0.1) == pytest.approx(0.1)


def test_auto_converge_raises_the_throttle_every_second_pass_that_dirtied_much():
    # 12 MiB/s against 8, a 32 MiB working set: every later pass is the working set. QEMU
    # throttles 20 % after the second such pass, then 10 % more every second one: the guest
    # (its vCPU busy all the time) gets below 8 MiB/s x 0.8 at 50 %, after about 8 passes.
    figures = forecast.Figures(memory_bytes=128 * MIB, dirty_rate_bps=12 * MIB,
                               bandwidth_bps=8 * MIB, max_downtime_ms=500, downtime_steps=1,
                               working_set_bytes=32 * MIB, overhead_seconds=0.0)
    assert not forecast.simulate(figures).converged
    run = forecast.simulate(figures, auto_converge=True)
    assert run.converged and 9 <= run.iterations <= 14
    # A guest whose vCPU idles 90 % of the time keeps its pace until the throttle passes 90 %.
    idle = forecast.simulate(dataclasses.replace(figures, vcpu_busy=0.1), auto_converge=True)
    assert idle.converged and idle.iterations > run.iterations + 6


def test_a_pass_longer_than_a_second_dirties_along_the_line_through_the_long_period():
    # Read 4.8 MiB/s over 1 s periods and 14 MiB over 6 s: it rewrites a few MiB every
    # second besides a slow steady rate. A 12.8 s pass leaves about 26.5 MiB, not 61.
    figures = forecast.Figures(memory_bytes=128 * MIB, dirty_rate_bps=4.8 * MIB,
                               bandwidth_bps=8 * MIB, max_downtime_ms=500,
                               long_dirtied_bytes=14 * MIB, long_period_s=6)
    assert forecast.dirtied_in(figures, 0.5) == pytest.approx(2.4 * MIB)
    assert forecast.dirtied_in(figures, 1.0) == pytest.approx(4.8 * MIB)
    assert forecast.dirtied_in(figures, 6.0) == pytest.approx(14 * MIB)
    assert forecast.dirtied_in(figures, 12.8) == pytest.approx((14 + 1.84 * 6.8) * MIB)
    # Throttled to half its pace: half of everything.
    assert forecast.dirtied_in(figures, 12.8, 0.5) == pytest.approx((7 + 0.92 * 6.8) * MIB)
    # Never above the rate's own line (a long period that read high), nor without one.
    high = dataclasses.replace(figures, long_dirtied_bytes=60 * MIB)
    assert forecast.dirtied_in(high, 12.8) == pytest.approx(4.8 * 12.8 * MIB)
    plain = dataclasses.replace(figures, long_dirtied_bytes=None)
    assert forecast.dirtied_in(plain, 12.8) == pytest.approx(4.8 * 12.8 * MIB)
    # The forecast of the slow dirtier is shorter with what the long period showed.
    assert forecast.forecast(figures)['predicted_seconds'] < \
        forecast.forecast(plain)['predicted_seconds']


def _bursty(slots_per_second=2, seconds=14):
    """A guest whose vCPU runs flat out for the first slots of each second (50 ms slots)."""
    return WriteBursts.from_shares([1.0 if i % 20 < slots_per_second else 0.0
                                    for i in range(seconds * 20)])


def test_a_guest_writing_in_bursts_as_fast_as_the_link_converges_between_two():
    # 32 MiB/s of a 32 MiB working set under a 32 MiB/s cap and a 500 ms limit: QEMU syncs
    # again once 16 MiB are left, after 0.5 s, and ends the job when that stretch and the
    # SETTLE_SECONDS (0.1) after it were quiet: 12 slots, quiet from 7 starts in 20.
    figures = _figures(32, 32, working_set_bytes=32 * MIB, downtime_steps=1,
                       write_bursts=_bursty())
    result = forecast.forecast(figures)
    assert result['verdict'] == forecast.CONVERGES
    assert 'bursts' in result['reason']
    # 128 MiB at 32 (4 s), then 0.5 s passes until one is quiet: the second, the first by
    # which the chance one was, 1 - (13/20)**2, passes 1/2; the pause is the limit's worth.
    assert result['iterations'] == 3
    assert result['predicted_seconds'] == pytest.approx(2 + 4 + 2 * 0.5 + 0.5, abs=0.1)
    assert result['downtime_ms'] == 500
    # Steadily, the same guest never converges unaided.
    steady = forecast.forecast(dataclasses.replace(figures, write_bursts=None))
    assert steady['verdict'] == forecast.WITH_AUTO_CONVERGE


def test_bursts_do_not_help_where_every_pass_spans_one():
    # Under 8 MiB/s the passes over a 32 MiB working set take 3.5 s: each holds a burst.
    figures = _figures(8, 8, working_set_bytes=32 * MIB, downtime_steps=1,
                       write_bursts=_bursty())
    assert forecast.forecast(figures)['verdict'] == forecast.WITH_AUTO_CONVERGE
    assert forecast.forecast(dataclasses.replace(figures, dirty_rate_bps=32 * MIB))[
        'verdict'] == forecast.WITH_AUTO_CONVERGE


def test_a_smaller_limit_leaves_longer_passes_and_less_chance():
    figures = _figures(32, 32, working_set_bytes=32 * MIB, downtime_steps=1,
                       write_bursts=_bursty())
    at_500 = forecast.forecast(figures)
    # 0.8 s stretches: quiet for 0.9 s from 1 start in 20.
    at_200 = forecast.forecast(dataclasses.replace(figures, max_downtime_ms=200))
    assert at_200['verdict'] == forecast.CONVERGES
    assert at_200['iterations'] > at_500['iterations']
    assert at_200['predicted_seconds'] > at_500['predicted_seconds']
    # 0.9 s stretches: never quiet for 1 s.
    at_100 = forecast.forecast(dataclasses.replace(figures, max_downtime_ms=100))
    assert at_100['verdict'] == forecast.WITH_AUTO_CONVERGE
