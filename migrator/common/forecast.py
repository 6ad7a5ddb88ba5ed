"""Will a live migration converge, and how long will it take? A model of pre-copy.

Pre-copy sends all of memory once, then again what the guest dirtied while the previous pass
was on the wire, until what is left can be sent within the downtime allowed now (the job
starts at max_downtime/steps and the agent raises it one step per iteration,
migrator.common.convergence.downtime_steps). With bandwidth B and dirty rate D a pass of R
bytes takes R/B seconds and leaves min(D * R/B, W) dirty, where W is the memory the guest
keeps rewriting (its working set): a guest cannot dirty more than it touches, so the passes
of a busy guest stop shrinking at W instead of growing. When the passes shrink by less than
the stall diagnosis allows (D >= 0.8 B, migrator.common.stall.SHRINK_BELOW), pre-copy alone
is taken not to end: the same rule the running migration is judged by.

Auto-converge (QEMU throttles the vCPUs: 20 % at first, 10 % more at every second pass
that left dirty more than half of what it sent, up to 99 %) scales D down by what the
throttle leaves of the CPU the guest was using (throttled_share: a guest that writes at its
own pace with its vCPU mostly idle keeps that pace until the throttle passes its idle
share); post-copy or a pause (force-complete)
end any migration, after the first pass, by sending what is left once.

The answer's verdict, most favourable first:
  converges                        pre-copy alone ends within the completion timeout
  converges_with_auto_converge     only once auto-converge throttles the guest
  needs_post_copy_or_pause         neither ends it: switch to post-copy or pause the guest
  will_not_converge_in_time        it would converge, but the completion timeout fires first
When the dirty rate comes with an interval (a measurement's: migrator.common.
dirty_rate_estimate) and the verdict differs between its ends, the forecast is borderline:
its verdict is still the one at the measured rate, the likeliest, and it says both ends'
and suggests the help the cautious end needs (forecast(), with_outcomes()).
The first pass does not go at the bandwidth cap but at the rate the host pair really works
memory off under that cap (effective_rate: bytes of the pass per second of the job, the
bitmap sync and a migration thread short of CPU included, and zero pages, which cost a few
bytes each and go faster than any cap), learned per cap from completed migrations; the later
passes, pages the guest wrote, go at that rate but never faster than the cap
(Figures.first_pass_bps, bandwidth_bps). Taking the cap at its word for all passes made the
learned fixed overhead absorb a rate error that grows with the cap (about 3.5 s at 8 MiB/s,
8-10 s at 32 on this project's loaded sandbox).
The fixed overhead (the request's scheduling, starting the target QEMU, the hand-over) is not
modelled but learned: each completed migration leaves its residual, the duration its passes
do not explain at its effective rate (residual_overhead), and the forecast takes a robust
statistic of the last few (learned_overhead: a median weighted towards the newest).

This module is pure: the conductor supplies the figures (migrator.conductor.forecast).
"""

import dataclasses

from migrator.common import convergence, stall
from migrator.common.write_bursts import WriteBursts

MIB = 2 ** 20

CONVERGES = 'converges'
WITH_AUTO_CONVERGE = 'converges_with_auto_converge'
NEEDS_POST_COPY = 'needs_post_copy_or_pause'
TIMEOUT = 'will_not_converge_in_time'
VERDICTS = (CONVERGES, WITH_AUTO_CONVERGE, NEEDS_POST_COPY, TIMEOUT)

MAX_ITERATIONS = 60
AUTO_CONVERGE_INITIAL, AUTO_CONVERGE_STEP, AUTO_CONVERGE_MAX = 0.20, 0.10, 0.99
# QEMU's throttle-trigger-threshold (50 %): a pass that left dirty more than this fraction
# of what it sent counts towards the next throttle step.
THROTTLE_TRIGGER = 0.50
# How long past the sync that ends a quiet stretch the guest must stay quiet too for the job
# to end there: that sync finds the pass's leftover just under the threshold plus what the
# guest wrote meanwhile, so QEMU may send a little more, in its rate-limit window of 100 ms
# (BUFFER_DELAY), and check again before it completes. (On the sandbox a quiet stretch of
# 0.6 s was seen not to end a job whose guest burst 0.2 s after it.)
SETTLE_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class Figures:
    """What the forecast is computed from (bytes, bytes per second, milliseconds)."""
    memory_bytes: float
    dirty_rate_bps: float
    bandwidth_bps: float
    max_downtime_ms: int
    downtime_steps: int = 10
    working_set_bytes: float | None = None   # None: all of memory may be rewritten
    overhead_seconds: float = 2.0
    completion_timeout_s: float | None = None
    first_pass_bps: float | None = None      # None: bandwidth_bps
    vcpu_busy: float | None = None           # share of its CPU the guest's busiest vCPU used
    # What the guest dirtied over one longer measurement period (bytes, seconds), if any.
    long_dirtied_bytes: float | None = None
    long_period_s: float | None = None
    # When the guest writes in bursts (migrator.common.write_bursts): its vCPU trace.
    write_bursts: WriteBursts | None = None


def _rate(figures, iteration):
    """Bytes per second of a pass: the first at its own (learned) rate."""
    if iteration == 1 and figures.first_pass_bps:
        return max(1.0, figures.first_pass_bps)
    return max(1.0, figures.bandwidth_bps)


@dataclasses.dataclass
class Run:
    """One simulated job: whether pre-copy ended, after how many passes, when."""
    converged: bool
    iterations: int
    seconds: float
    downtime_ms: float | None
    # Ended at a pass that fell between two of the guest's write bursts: the pass by which
    # that had happened with a chance of one half.
    between_bursts: bool = False


def simulate(figures, auto_converge=False):
    """Run the pre-copy model until it converges or stops making progress.

    A guest that writes in bursts (figures.write_bursts) may also end it at any later pass
    whose stretch from the previous sync of the dirty bitmap held no burst (migrator.common.
    write_bursts): QEMU syncs again once what is left falls under the downtime limit's
    worth, so such a pass lasts (left - that) / bandwidth. The run then ends at the pass by
    which the chance that one of them did reaches one half (the median), and its later
    passes are counted at that length.
    """
    bandwidth = max(1.0, figures.bandwidth_bps)
    working_set = figures.working_set_bytes or figures.memory_bytes
    limits = convergence.downtime_steps(figures.max_downtime_ms, figures.downtime_steps)
    bursts = figures.write_bursts
    remaining = float(figures.memory_bytes)
    seconds = figures.overhead_seconds
    throttle = 0.0
    high = 0
    stalled = 0
    still_running = 1.0    # the chance no pass so far fell between two bursts
    for iteration in range(1, MAX_ITERATIONS + 1):
        pass_seconds = remaining / _rate(figures, iteration)
        ran_at = throttle
        share = throttled_share(throttle, figures.vcpu_busy)
        dirtied = min(dirtied_in(figures, pass_seconds, share), working_set)
        limit_ms = limits[min(iteration - 1, len(limits) - 1)]
        allowed = bandwidth * limit_ms / 1000.0
        if dirtied <= allowed:
            downtime = dirtied / bandwidth
            return Run(True, iteration, seconds + pass_seconds + downtime,
                       round(downtime * 1000.0, 1))
        chance = 0.0
        if bursts is not None and iteration >= 2:
            stretch = max(0.0, remaining - allowed) / _rate(figures, iteration)
            chance = bursts.quiet_chance(stretch + SETTLE_SECONDS)
            if chance > 0.0:
                # Passes this short end at that sync: count them so. (Longer ones keep the
                # whole pass, which the learned overhead was calibrated with.)
                pass_seconds = stretch
                still_running *= 1.0 - chance
                if still_running <= 0.5:
                    return Run(True, iteration, seconds + stretch + limit_ms / 1000.0,
                               float(limit_ms), between_bursts=True)
        seconds += pass_seconds
        if auto_converge and dirtied > THROTTLE_TRIGGER * remaining:
            # QEMU checks at each sync of the dirty bitmap (a pass's end) whether the guest
            # dirtied more than THROTTLE_TRIGGER of what the pass sent; the second time it
            # does, it starts throttling or raises the throttle, and counts again from 0.
            high += 1
            if high >= 2:
                high = 0
                throttle = (AUTO_CONVERGE_INITIAL if throttle == 0.0
                            else min(AUTO_CONVERGE_MAX, throttle + AUTO_CONVERGE_STEP))
        # Stalled as the running diagnosis defines it (migrator.common.stall): from the
        # second pass on, each left at least SHRINK_BELOW of the one before. A guest whose
        # measured rate is that close to the bandwidth is within the measurement's error of
        # never converging, and the diagnosis would call its migration stalled.
        stuck = iteration >= 2 and dirtied >= stall.SHRINK_BELOW * remaining
        stalled = stalled + 1 if stuck else 0
        # With auto-converge: not before a pass ran at the highest throttle. A bursty guest
        # goes on while its passes may still fall between bursts.
        if stalled >= 2 and (not auto_converge or ran_at >= AUTO_CONVERGE_MAX) \
                and chance == 0.0:
            return Run(False, iteration, seconds, None)
        remaining = dirtied
    return Run(False, MAX_ITERATIONS, seconds, None)


def dirtied_in(figures, seconds, share=1.0):
    """Bytes the guest dirties in a pass of `seconds`, keeping `share` of its pace.

    Up to a second, its rate (the short measurement periods') times the time. Beyond, when a
    longer period was measured and showed no working set (the conductor leaves it out
    then: the working set explains the bend), the line from what it dirtied in one second
    to what it dirtied in that period, carried on past it, never above the rate's line: a
    guest that keeps rewriting a few pages every second (buffers, its kernel's) counts them
    in every 1 s period but only once in a pass of several seconds.
    """
    rate = figures.dirty_rate_bps * share
    linear = rate * seconds
    long_s, long_bytes = figures.long_period_s, figures.long_dirtied_bytes
    if seconds <= 1.0 or not long_s or long_s <= 1.0 or long_bytes is None:
        return linear
    slope = max(0.0, (long_bytes * share - rate) / (long_s - 1.0))
    return min(linear, rate + slope * (seconds - 1.0))


def throttled_share(throttle, vcpu_busy=None):
    """The share of its dirty rate a guest keeps under a vCPU throttle (0-0.99).

    The throttle takes that share of every vCPU's time away. A guest that used all of it
    (vcpu_busy 1, or unknown) slows by as much; one that used a tenth of it to write at its
    own pace keeps that pace until the throttle leaves it less than a tenth.
    """
    left = 1.0 - throttle
    if not vcpu_busy or vcpu_busy <= 0.0:
        return left
    return min(1.0, left / min(1.0, vcpu_busy))


def residual_overhead(duration_s, pass_bytes, transfer_bps, later_bps=None):
    """Seconds of a completed migration its passes do not explain: its duration minus the
    model's transfer time for what its passes sent (the bytes left at the start of each pass)
    at the rate they were observed to go (the later ones at later_bps when given). None when
    a figure is missing; never negative (a pass sampled late can make the passes look longer
    than the migration was)."""
    if duration_s is None or not pass_bytes or not transfer_bps:
        return None
    later = later_bps or transfer_bps
    passes = pass_bytes[0] / transfer_bps + sum(pass_bytes[1:]) / later
    return round(max(0.0, duration_s - passes), 3)


def effective_rate(samples, min_seconds=1.0):
    """Bytes per second at which a job worked its first pass off, from its samples (oldest
    first): the memory handled between its first sample and the first of the second pass
    (in the passes' own units: what was left when each began, zero pages included) over the
    job time between them (elapsed_ms). None with less than min_seconds between them or no
    progress.

    Not the cap, nor the median of the sampled transfer rates: those are bytes on the wire
    while QEMU sends, and leave out the bitmap sync, the time the migration thread waits for
    a CPU (on a loaded TCG host as long as the sending itself at 32 MiB/s) and the zero
    pages, which cost a few bytes each and so go faster than any cap. The first pass only:
    the later ones are pages the guest wrote, which no zero page speeds up.
    """
    sizes = stall.pass_sizes(samples)
    if 1 not in sizes:
        return None
    points = []
    for sample in samples:
        iteration, remaining = sample.get('iteration'), sample.get('memory_remaining')
        elapsed = sample.get('elapsed_ms')
        if iteration not in sizes or remaining is None or elapsed is None:
            continue
        handled = sizes[1] - remaining if iteration == 1 else sizes[1] + sizes[iteration] - \
            remaining
        points.append((elapsed / 1000.0, handled))
        if iteration > 1:
            break
    if len(points) < 2:
        return None
    (t0, h0), (t1, h1) = points[0], points[-1]
    if t1 - t0 < min_seconds or h1 <= h0:
        return None
    return (h1 - h0) / (t1 - t0)


def recent_median(values, decay=1.0):
    """The weighted median of values (newest first), the i-th newest weighing decay**i;
    None without any. Interpolated between neighbouring values (each value sits at the
    middle of its weight on the cumulative scale), so that with decay 1 it is the plain
    median, and two values give a figure between them, nearer the newer, not the newer
    alone. Below 1 the newest count more, so the figure follows a host pair whose load
    changes within minutes, while a single odd value (a migration that waited for a slot)
    still moves nothing: at 0.7 over ten values one odd newest leaves it, two move it
    part of the way, three all of it.
    """
    pairs = sorted((v, decay ** i) for i, v in enumerate(values) if v is not None)
    if not pairs:
        return None
    total = sum(w for _, w in pairs)
    points, seen = [], 0.0
    for value, weight in pairs:
        points.append(((seen + weight / 2.0) / total, value))
        seen += weight
    if points[0][0] >= 0.5:
        return points[0][1]
    for (low_at, low), (high_at, high) in zip(points, points[1:], strict=False):
        if low_at <= 0.5 <= high_at:
            if high_at == low_at:
                return low
            return low + (0.5 - low_at) / (high_at - low_at) * (high - low)
    return points[-1][1]


def learned_rate(rates, decay=1.0):
    """The effective rate the rates of recent migrations under the same cap (newest first)
    suggest: their recency-weighted median (recent_median), or None without any. Not
    bounded by the cap: a page QEMU finds all zeros goes as a few bytes, so a guest with
    untouched memory works its passes off faster than the cap (a 128 MiB sandbox guest at
    10 MiB/s under 8, 37 under 32)."""
    return recent_median([r for r in rates if r], decay)


def learned_overhead(residuals, decay=1.0):
    """The fixed overhead the residuals of recent migrations (newest first) suggest, or None
    without any.

    A median (recency-weighted: recent_median): a migration that waited for a slot, or whose
    target was slow to start, is one long residual among several and must not move the
    forecast of the next one; two or three in a row are the host pair's new normal.
    """
    value = recent_median(residuals, decay)
    return round(value, 2) if value is not None else None


def _after_first_pass_switch(figures):
    """Seconds with post-copy or a pause once the first pass is done: what is left, once."""
    bandwidth = max(1.0, figures.bandwidth_bps)
    working_set = figures.working_set_bytes or figures.memory_bytes
    first = figures.memory_bytes / _rate(figures, 1)
    left = min(dirtied_in(figures, first), working_set)
    return figures.overhead_seconds + first + left / bandwidth


def _within(seconds, timeout):
    return timeout is None or seconds <= timeout


@dataclasses.dataclass
class _Judgement:
    figures: Figures      # judged with this dirty rate
    verdict: str
    run: Run | None       # the run the verdict rests on; None: post-copy or a pause
    plain: Run
    auto: Run | None


def _judge(figures):
    plain = simulate(figures)
    auto = None
    if plain.converged and _within(plain.seconds, figures.completion_timeout_s):
        return _Judgement(figures, CONVERGES, plain, plain, auto)
    if plain.converged:
        return _Judgement(figures, TIMEOUT, plain, plain, auto)
    auto = simulate(figures, auto_converge=True)
    if auto.converged and _within(auto.seconds, figures.completion_timeout_s):
        return _Judgement(figures, WITH_AUTO_CONVERGE, auto, plain, auto)
    return _Judgement(figures, NEEDS_POST_COPY, None, plain, auto)


def forecast(figures, dirty_rate_interval=None):
    """The verdict and the expected figures of a live migration (a dict for the API).

    dirty_rate_interval: (low, high) bytes/s, what the measurement of the dirty rate allows
    (migrator.common.dirty_rate_estimate), or None when nothing says how good the rate is.
    The verdict is then judged at both ends too; when they differ, the guest is within the
    measurement's resolution of what the bandwidth absorbs: the forecast is *borderline*.
    Its verdict and figures stay those at the measured rate, the likeliest outcome (the
    measurement's own estimate), with verdict_at_low and verdict_at_high saying what the
    ends would have been, and 'cautious' holding the high end's answer (the verdict that
    needs help): the help to ask for (with_outcomes) is the cautious side's, and
    microversions before 1.10 show the cautious answer as the verdict.

    Taking the high end as the verdict (the rule before) made every guest within the
    sampling error of the edge a forecast of trouble: a guest dirtying 2 MiB/s under an
    8 MiB/s cap, read 4.2-4.7 MiB/s with intervals reaching 6.6-7.9, was forecast to need
    auto-converge in three runs out of three and converged unaided each time.
    """
    judged = _judge(figures)
    at_low = at_high = None
    if dirty_rate_interval is not None:
        low, high = dirty_rate_interval
        at_high = _judge(dataclasses.replace(
            figures, dirty_rate_bps=max(high, figures.dirty_rate_bps)))
        at_low = _judge(dataclasses.replace(
            figures, dirty_rate_bps=min(low, figures.dirty_rate_bps)))
        if at_low.verdict == at_high.verdict:
            at_low = at_high = None
    answer = _answer(judged)
    answer.update(borderline=at_low is not None, verdict_at_low=None, verdict_at_high=None,
                  borderline_note=None)
    if at_low is not None and at_high is not None and dirty_rate_interval is not None:
        low, high = dirty_rate_interval
        note = (f'borderline: the guest dirties {_mib(figures.dirty_rate_bps)}/s as far as '
                f'the measurement tells, which allows anything from {_mib(low)}/s to '
                f'{_mib(high)}/s; at {_mib(low)}/s the verdict would be {at_low.verdict}, '
                f'at {_mib(high)}/s {at_high.verdict}')
        cautious = _answer(at_high)
        cautious['reason'] = f"{note}. At the high end, {cautious['reason']}"
        answer.update(reason=f"{note}. At the measured rate, {answer['reason']}",
                      verdict_at_low=at_low.verdict, verdict_at_high=at_high.verdict,
                      borderline_note=note, cautious=cautious)
    return answer


def _answer(judged):
    """The verdict, predicted seconds, iterations, downtime and reason of one judgement."""
    if judged.run is not None:
        seconds, iterations, downtime = (judged.run.seconds, judged.run.iterations,
                                         judged.run.downtime_ms)
    else:
        seconds, iterations, downtime = _after_first_pass_switch(judged.figures), 1, None
    return {
        'verdict': judged.verdict,
        'predicted_seconds': round(seconds, 1),
        'iterations': iterations,
        'downtime_ms': downtime,
        'reason': _reason(judged.verdict, judged.figures, judged.plain, judged.auto),
    }


def with_outcomes(answer, controls):
    """The answer (forecast()) with how the job ends under the request's controls
    (expected_outcome) and what to change (suggested_action), its cautious side's too. A
    borderline forecast suggests what the cautious side needs: harmless if the guest turns
    out to be on the other side (auto-converge only throttles a job that stopped
    converging), and what makes the migration end well on either."""
    answer = dict(answer)
    answer['expected_outcome'] = expected_outcome(answer['verdict'], controls)
    answer['suggested_action'] = suggested_action(answer['verdict'], controls)
    if answer.get('cautious'):
        cautious = dict(answer['cautious'])
        cautious['expected_outcome'] = expected_outcome(cautious['verdict'], controls)
        cautious['suggested_action'] = suggested_action(cautious['verdict'], controls)
        answer['cautious'] = cautious
        answer['suggested_action'] = cautious['suggested_action'] or answer['suggested_action']
    return answer


def _mib(value):
    return f'{value / MIB:.1f} MiB'


def _reason(verdict, figures, plain, auto):
    rate = f'{_mib(figures.dirty_rate_bps)}/s'
    link = f'{_mib(figures.bandwidth_bps)}/s'
    if verdict == CONVERGES and plain.between_bursts:
        return (f'the guest dirties {rate} against the {link} the job sends, in bursts with '
                f'quiet stretches between: a later pass that falls between two bursts leaves '
                f'only what fits the downtime limit, likely by pass {plain.iterations}')
    if verdict == CONVERGES:
        return (f'the guest dirties {rate} against the {link} the job sends: what is left after '
                f'{plain.iterations} pass(es) fits the downtime limit')
    if verdict == TIMEOUT:
        return (f'pre-copy would end after {plain.seconds:.0f} s, past the completion '
                f'timeout of {figures.completion_timeout_s:.0f} s')
    if verdict == WITH_AUTO_CONVERGE:
        return (f'the guest dirties {rate}, as fast as or faster than it can be sent at '
                f'{link} within {figures.max_downtime_ms} ms: only throttling its vCPUs '
                f'(auto-converge) lets pre-copy end')
    return (f'the guest dirties {rate} against the {link} the job sends: neither pre-copy '
            f'nor auto-converge ends within the completion timeout; post-copy or pausing the guest '
            f'(force-complete) after the first pass would')


def suggested_action(verdict, controls):
    """What the request should change for the forecast to end well; None when nothing."""
    if verdict == CONVERGES:
        return None
    if verdict == WITH_AUTO_CONVERGE:
        return None if controls.get('auto_converge') else 'auto_converge'
    if verdict == TIMEOUT:
        return 'raise_completion_timeout'
    return 'post_copy' if not controls.get('post_copy') else 'force_complete'


def expected_outcome(verdict, controls):
    """How the job will end with the request's controls, as the forecast sees it."""
    if verdict == CONVERGES:
        return 'completes'
    if verdict == WITH_AUTO_CONVERGE and controls.get('auto_converge'):
        return 'completes_with_auto_converge'
    if controls.get('completion_timeout_per_gib'):
        if controls.get('timeout_action') == 'force_complete':
            return 'completes_when_the_timeout_forces_it'
        return 'cancelled_by_the_completion_timeout'
    return 'runs_until_an_operator_acts'
