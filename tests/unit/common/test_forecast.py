"""The pre-copy model behind a dry run's convergence forecast."""

import pytest

from migrator.common import forecast

MIB = 2 ** 20


def _figures(dirty_mib, cap_mib, memory_mib=128, **kw):
    return forecast.Figures(memory_bytes=memory_mib * MIB, dirty_rate_bps=dirty_mib * MIB,
                            bandwidth_bps=cap_mib * MIB, max_downtime_ms=500,
                            downtime_steps=10, overhead_seconds=2.0, **kw)


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
