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
    # Iteration 2's last two samples: 16 then 4 MiB left, worked off at 24 MiB/s, so it
    # ended 1/6 s after the last; iteration 3's first came 0.5 s after it, so 1/3 s in:
    # at 8 MiB/s, 2.7 MiB already sent.
    first = next(i for i, s in enumerate(samples) if s['iteration'] == 3)
    samples[first - 1]['memory_remaining'] = 4 * MIB
    samples[first]['memory_remaining'] = 29 * MIB
    assert stall.pass_sizes(samples)[3] == (29 + 8 / 3) * MIB
    assert stall.diagnose(samples)['verdict'] == 'stalled'


def test_a_pass_that_began_just_before_its_first_sample_is_not_made_larger():
    # Samples of a real job on the sandbox (a guest dirtying 9 MiB/s under 32 MiB/s, every
    # 0.5 s): the second pass ended about when the third's first sample came. Counting the
    # whole half second as sent in the new pass read passes of 55 and 45 MiB: a stall.
    rows = [(1, 121.2, 500, 0.0), (1, 102.8, 1002, 0.0), (1, 79.4, 1504, 0.0),
            (1, 63.4, 2005, 0.0), (1, 47.4, 2507, 0.0), (1, 30.7, 3008, 0.0),
            (2, 39.3, 3510, 8.8), (2, 22.5, 4012, 8.8), (3, 28.5, 4513, 8.8)]
    samples = [{'iteration': i, 'memory_remaining': int(left * MIB), 'elapsed_ms': ms,
                'dirty_rate': int(dirty * MIB), 'transfer_rate': 32 * MIB,
                'downtime_limit_ms': 500} for i, left, ms, dirty in rows]
    sizes = stall.pass_sizes(samples)
    assert sizes[2] == int(39.3 * MIB) and sizes[3] == int(28.5 * MIB)
    assert stall.diagnose(samples) is None


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
