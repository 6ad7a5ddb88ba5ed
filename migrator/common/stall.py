"""Is a running live migration stalled? A diagnosis from its progress samples.

Pre-copy converges while each pass over memory is smaller than the one before. A pass's size
is what was left to send when it began: the largest memory_remaining sampled during that
iteration. When the guest dirties memory as fast as the job sends it, the passes from the
second on stop shrinking (they settle at the guest's working set) and the job would go on
forever. The diagnosis says so once `iterations` iterations have begun and every pass since
the second left at least SHRINK_BELOW of the one before it (with auto-converge on, once
it had AUTO_CONVERGE_PASSES more passes to throttle the guest and the passes since still did
not shrink), with the reason in figures and the action that finishes it:

  force_complete   now, on this job: post-copy if the migration permits it, else a pause
and, for a new attempt, what would let pre-copy itself end: auto_converge, post_copy, or a
bandwidth of at least `bandwidth_needed_mib` MiB/s.
This module is pure: the conductor and the API feed it the samples the DB keeps.
"""

MIB = 2 ** 20
SHRINK_BELOW = 0.8
STALLED = 'stalled'
# Passes auto-converge takes from its first throttle (20 %) to its last (99 %), 10 % a pass.
AUTO_CONVERGE_PASSES = 8
# Enough samples for several iterations at a sample every half second.
SAMPLES_READ = 400


def pass_sizes(samples):
    """{iteration: bytes left when it began}.

    The first sample of an iteration comes up to one sampling interval after it began; what
    was sent since is added back. The pass began when the one before had sent what the
    sample before showed left of it, at the speed it was being worked off (the transfer
    rate, or faster: zero pages go as a few bytes); only the time after that counts, at most
    a second (a longer gap, reports lost, says nothing of when it began).

    Counting the whole gap between the two samples, as this did before, made a pass of about
    a second up to a sampling interval's worth larger than it was: a guest dirtying 9 MiB/s
    under a 32 MiB/s cap read 55 then 45 MiB for its second and third passes (the samples
    said 39 and 28, the second pass ending about when the third's first sample came) and
    was called stalled at iteration 3.
    """
    sizes: dict[int, float] = {}
    previous = before = None
    for sample in samples:
        iteration, remaining = sample.get('iteration'), sample.get('memory_remaining')
        if iteration is None or remaining is None:
            continue
        size = remaining
        if iteration not in sizes and previous is not None:
            size += _sent_since_it_began(sample, previous, before)
        sizes[iteration] = max(sizes.get(iteration, 0), size)
        previous, before = sample, previous
    return sizes


def _sent_since_it_began(first, previous, before):
    """Bytes the pass whose first sample is `first` had sent by then."""
    rate = first.get('transfer_rate') or 0
    gap = ((first.get('elapsed_ms') or 0) - (previous.get('elapsed_ms') or 0)) / 1000.0
    if rate <= 0 or gap <= 0:
        return 0.0
    speed = rate
    if before is not None and before.get('iteration') == previous.get('iteration') and \
            before.get('memory_remaining') is not None:
        took = ((previous.get('elapsed_ms') or 0) - (before.get('elapsed_ms') or 0)) / 1000.0
        worked = before['memory_remaining'] - previous['memory_remaining']
        if took > 0 and worked > 0:
            speed = max(speed, worked / took)
    left_then = (previous.get('memory_remaining') or 0) / speed
    return rate * min(1.0, max(0.0, gap - left_then))


def diagnose(samples, controls=None, iterations=3):
    """The `convergence` verdict of a running migration from its samples, oldest first:
    None while nothing is wrong (or too little is known)."""
    controls = controls or {}
    if controls.get('auto_converge'):
        # QEMU throttles the guest more with each pass that does not converge: give it the
        # passes it needs to reach its strongest throttle before calling it stalled.
        iterations += AUTO_CONVERGE_PASSES
    sizes = pass_sizes(samples)
    if not sizes or max(sizes) < max(3, iterations):
        return None
    current = max(sizes)
    # The current pass is still being measured only if it has begun; its size is known as
    # soon as the first sample of it arrives (remaining jumps to the new dirty set).
    first = 2 if not controls.get('auto_converge') else iterations - 1
    passes = [(i, sizes[i]) for i in range(first, current + 1) if i in sizes]
    if len(passes) < 2:
        return None
    if any(later < SHRINK_BELOW * earlier
           for (_, earlier), (_, later) in zip(passes, passes[1:], strict=False)):
        return None
    last = samples[-1]
    dirty = _latest(samples, 'dirty_rate')
    sent = _latest(samples, 'transfer_rate')
    limit_ms = last.get('downtime_limit_ms') or controls.get('max_downtime_ms')
    left = passes[-1][1]
    reason = (f'remaining data stopped falling: iterations {passes[0][0]}-{passes[-1][0]} '
              f'each began with about {left / MIB:.1f} MiB to send')
    if dirty is not None and sent:
        reason += (f'; the guest dirties {dirty / MIB:.1f} MiB/s while the job sends '
                   f'{sent / MIB:.1f} MiB/s')
    if limit_ms and sent:
        reason += (f', and a downtime limit of {limit_ms} ms lets only '
                   f'{sent * limit_ms / 1000 / MIB:.1f} MiB go in the final pause')
    alternatives = []
    if not controls.get('auto_converge'):
        alternatives.append('auto_converge')
    if not controls.get('post_copy'):
        alternatives.append('post_copy')
    needed = None
    if limit_ms:
        # Sending the working set within the downtime, with a margin for what the guest
        # dirties meanwhile.
        needed = max(left / (limit_ms / 1000.0), 2 * (dirty or 0)) / MIB
        alternatives.append('raise_bandwidth')
    return {
        'verdict': STALLED,
        'iteration': current,
        'reason': reason,
        'action': 'force_complete',
        'action_effect': ('switches the job to post-copy' if controls.get('post_copy')
                          else 'pauses the guest for the final copy'),
        'alternatives': alternatives,
        'bandwidth_needed_mib': round(needed, 1) if needed is not None else None,
        'dirty_rate': dirty,
        'transfer_rate': sent,
    }


def _latest(samples, key):
    for sample in reversed(samples):
        if sample.get(key) is not None:
            return sample[key]
    return None


def diagnose_migration(migration, read_samples, iterations=3):
    """diagnose() for a migration record; read_samples(migration_id, limit) gives its newest
    samples, oldest first. None unless it is a running live migration."""
    if migration.get('type') != 'live' or migration.get('status') != 'running':
        return None
    if (migration.get('iteration') or 0) < iterations:
        return None
    return diagnose(read_samples(migration['id'], SAMPLES_READ),
                    migration.get('convergence') or {}, iterations=iterations)
