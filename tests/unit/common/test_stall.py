"""The stall diagnosis of a running live migration from its progress samples."""

from migrator.common import stall

MIB = 2 ** 20


def _samples(passes, rate_mib=8, dirty_mib=8, per_pass=4):
    """Samples of a job whose iteration i begins with passes[i-1] MiB to send."""
    samples, elapsed = [], 0
    for iteration, size in enumerate(passes, start=1):
        for k in range(per_pass):
            samples.append({'iteration': iteration, 'elapsed_ms': elapsed,
                            'memory_remaining': int(size * MIB * (1 - k / per_pass)),
                            'transfer_rate': rate_mib * MIB, 'dirty_rate': dirty_mib * MIB,
                            'downtime_limit_ms': 500})
            elapsed += 500
    return samples


def test_passes_that_stop_shrinking_are_a_stall_with_reason_and_action():
    verdict = stall.diagnose(_samples([128, 32, 32]), {'max_downtime_ms': 500})
    assert verdict['verdict'] == 'stalled'
    assert verdict['iteration'] == 3
    assert 'iterations 2-3 each began with about 3' in verdict['reason']
    assert 'dirties 8.0 MiB/s while the job sends 8.0 MiB/s' in verdict['reason']
    assert '500 ms lets only 4.0 MiB' in verdict['reason']
    assert verdict['action'] == 'force_complete'
    assert verdict['action_effect'] == 'pauses the guest for the final copy'
    assert verdict['alternatives'] == ['auto_converge', 'post_copy', 'raise_bandwidth']
    assert verdict['bandwidth_needed_mib'] >= 64


def test_with_post_copy_permitted_force_complete_switches_to_it():
    verdict = stall.diagnose(_samples([128, 32, 32]), {'post_copy': True})
    assert verdict['action_effect'] == 'switches the job to post-copy'
    assert 'post_copy' not in verdict['alternatives']


def test_shrinking_passes_are_not_a_stall():
    assert stall.diagnose(_samples([128, 32, 8, 2])) is None


def test_nothing_is_said_before_the_third_iteration():
    assert stall.diagnose(_samples([128, 32])) is None
    assert stall.diagnose([]) is None


def test_a_late_first_sample_of_a_pass_is_corrected_by_what_was_sent_meanwhile():
    samples = _samples([128, 32, 32])
    # The first sample of iteration 3 came 0.5 s in: 4 MiB already sent at 8 MiB/s.
    first = next(i for i, s in enumerate(samples) if s['iteration'] == 3)
    samples[first]['memory_remaining'] = 28 * MIB
    assert stall.pass_sizes(samples)[3] >= 31 * MIB
    assert stall.diagnose(samples)['verdict'] == 'stalled'


def test_only_running_live_migrations_are_diagnosed():
    samples = _samples([128, 32, 32])

    def read(mid, limit):
        return samples

    running = {'id': 'm', 'type': 'live', 'status': 'running', 'iteration': 3}
    assert stall.diagnose_migration(running, read)['verdict'] == 'stalled'
    assert stall.diagnose_migration({**running, 'status': 'completed'}, read) is None
    assert stall.diagnose_migration({**running, 'type': 'cold'}, read) is None
    assert stall.diagnose_migration({**running, 'iteration': 2}, read) is None


def test_with_auto_converge_the_throttle_gets_its_passes_first():
    controls = {'auto_converge': True}
    assert stall.diagnose(_samples([128] + [32] * 9), controls) is None
    verdict = stall.diagnose(_samples([128] + [32] * 11), controls)
    assert verdict['iteration'] == 12
    assert 'auto_converge' not in verdict['alternatives']
