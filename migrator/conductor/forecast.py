"""The conductor's side of convergence: the forecast of a dry run, the diagnosis of a running
live migration that stopped converging, and what each completed one teaches about its guest.

The models are pure (migrator.common.forecast, migrator.common.stall); this module finds
their figures: the guest's dirty rate (measured now by its hypervisor, else observed in its
last completed migration, else [planner] default_dirty_rate_mib_s), the bandwidth (the
request's cap, else [planner] assumed_bandwidth_mib_s) and the effective rate the job will
reach under it (learned from recent migrations between the same hosts under the same cap,
else of the cluster under that cap, else the bandwidth itself), the fixed overhead (learned
from the residuals of recent migrations between the same hosts, else of the cluster, else
[planner] migration_overhead_seconds), the request's downtime limit and completion timeout.
"""

import dataclasses
import statistics

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import (
    convergence,
    dirty_rate_estimate,
    exceptions,
    notifications,
    stall,
    states,
)
from migrator.common import forecast as model
from migrator.common.write_bursts import WriteBursts

CONF = cfg.CONF
LOG = logging.getLogger(__name__)
MIB = 2 ** 20

MEASURED, LAST_MIGRATION, DEFAULT = 'measured', 'last_migration', 'default'
# Where the fixed overhead came from (besides DEFAULT).
HOST_PAIR, CLUSTER = 'host_pair', 'cluster'

# How far a guest's dirty rate may drift from one migration to the next: an observed rate is
# taken to hold for the guest now within this fraction of itself (sandbox guests observed at
# 2.2 and 2.5 MiB/s, 7.7 and 7.8, 20.5 and 21.3 in successive runs).
GUEST_VARIATION = 0.25


@dataclasses.dataclass
class GuestRate:
    """How fast the guest dirties its memory, over how much of it, and how busy it is."""
    rate: float                         # bytes/s
    source: str                         # MEASURED, LAST_MIGRATION or DEFAULT
    note: str | None
    last: dict | None                   # the guest's newest observation
    interval: tuple | None = None       # (low, high) bytes/s, when measured now
    working_set: float | None = None    # bytes it keeps rewriting, when known
    working_set_source: str = 'memory'  # MEASURED, LAST_MIGRATION or 'memory'
    vcpu_busy: float | None = None      # its busiest vCPU's share of CPU, when measured
    long_dirtied: float | None = None   # bytes it dirtied over the long period, if measured
    long_period: float | None = None    # that period's seconds
    write_bursts: WriteBursts | None = None   # when measured and bursty
    bursts_measured: bool = False       # whether the vCPU trace was read at all


def guest_dirty_rate(ctxt, db, compute_api, instance):
    """The guest's GuestRate: measured now by its hypervisor, else observed in its last
    completed migration, else [planner] default_dirty_rate_mib_s; the interval only when
    measured now, from the measurement's sample (migrator.common.dirty_rate_estimate)."""
    note = None
    seconds = CONF.convergence.dirty_rate_measure_seconds
    observations = db.observation_list(instance['uuid'], limit=1)
    last = observations[0] if observations else None
    if seconds and instance.get('power_state') in (None, 'running'):
        try:
            measured = compute_api.measure_dirty_rate(ctxt, instance['host'],
                                                      instance['uuid'], seconds)
            return _measured_rate(measured, instance, last)
        except messaging.UnsupportedVersion:
            note = f"the agent on {instance['host']} is too old to measure it"
        except messaging.MessagingTimeout:
            note = f"the agent on {instance['host']} did not answer in time"
        except exceptions.MigratorException as exc:
            note = str(exc)
        except messaging.RemoteError as exc:
            note = f'{exc.exc_type}: {exc.value}'
    elif not seconds:
        note = '[convergence] dirty_rate_measure_seconds is 0'
    if last is not None and last.get('dirty_rate') is not None:
        return _with_observed_working_set(GuestRate(
            last['dirty_rate'], LAST_MIGRATION,
            _join(note, f"observed in migration {last['migration_id']}"), last))
    return _with_observed_working_set(GuestRate(
        CONF.planner.default_dirty_rate_mib_s * MIB, DEFAULT,
        _join(note, '[planner] default_dirty_rate_mib_s'), last))


def _measured_rate(measured, instance, last):
    """The GuestRate of an agent's measurement (and the guest's last observation)."""
    memory = (instance.get('memory_mb') or 0) * MIB
    estimate = _estimate(measured, memory)
    how = _how(measured, estimate, instance['host'])
    busy = measured.get('vcpu_busy')
    if estimate is None:
        return _with_bursts(_with_observed_working_set(GuestRate(
            measured['dirty_rate'], MEASURED, how, last, vcpu_busy=busy)), measured)
    long_period = measured.get('long_period_seconds')
    dirtied = dirty_rate_estimate.long_dirtied(measured.get('long_reading'), long_period,
                                               memory)
    working_set = dirty_rate_estimate.working_set(estimate, dirtied, long_period)
    if dirtied is not None:
        how += f'; {dirtied / MIB:.0f} MiB dirtied over the {long_period} s period'
    if _agrees(estimate, last):
        observed = last['dirty_rate']
        # Both hold: the guest is within its variation of what it did then, and within the
        # sample's interval of what it does now.
        low = max(estimate.low, observed * (1.0 - GUEST_VARIATION))
        high = min(estimate.high, observed * (1.0 + GUEST_VARIATION))
        rate = GuestRate(observed, LAST_MIGRATION,
                         f"observed in migration {last['migration_id']}; {how}, the same "
                         f"within its resolution", last, (min(low, observed), max(high, observed)),
                         vcpu_busy=busy)
    else:
        rate = GuestRate(estimate.rate, MEASURED, how, last, (estimate.low, estimate.high),
                         vcpu_busy=busy)
    if working_set is not None:
        # Clearly saturated: the working set explains the bend (a line from the 1 s rate to
        # it would have the passes in between dirty less than the guest does).
        rate.working_set, rate.working_set_source = working_set, MEASURED
        return _with_bursts(rate, measured)
    if dirtied is not None:
        # Not clearly saturated: the few pages it rewrites every second bend the line.
        rate.long_dirtied, rate.long_period = dirtied, long_period
    return _with_bursts(_with_observed_working_set(rate), measured)


def _with_bursts(rate, measured):
    """The rate with the guest's write bursts, when the agent read its vCPU's trace (an
    agent of this release) and it shows them."""
    slots = measured.get('vcpu_slots')
    if slots:
        rate.bursts_measured = True
        rate.write_bursts = WriteBursts.from_shares(slots, measured.get('vcpu_slot_seconds'))
    return rate


def _with_observed_working_set(rate):
    """The rate with the working set its last migration showed, when it showed one."""
    if rate.last and rate.last.get('working_set_bytes'):
        rate.working_set = rate.last['working_set_bytes']
        rate.working_set_source = LAST_MIGRATION
    return rate


def _estimate(measured, memory):
    """The Estimate of an agent's answer: its readings, one per period (an agent of this
    release), else its one figure over its `seconds` (an older one); None without memory."""
    readings = measured.get('readings') or [measured.get('dirty_rate')]
    period = measured.get('period_seconds') or measured.get('seconds') or 1
    return dirty_rate_estimate.combine(readings, period, memory)


def _how(measured, estimate, host):
    periods = len(measured.get('readings') or ()) or 1
    period = measured.get('period_seconds') or measured.get('seconds')
    longer = (f" + 1 x {measured['long_period_seconds']} s"
              if measured.get('long_period_seconds') else '')
    how = (f"QEMU calc-dirty-rate ({measured.get('mode')}, {periods} x {period} s{longer}) "
           f"on {host}")
    if estimate is None:
        return how
    return f'{how}: {dirty_rate_estimate.describe(estimate)}'


def _agrees(estimate, last):
    """Whether the page-sampled estimate and the guest's last observed rate can be the same
    figure: the observed one, give or take the guest's own variation from one run to the
    next (GUEST_VARIATION), meets the estimate's interval.

    When they can, the observed one is taken: it counts every page the migration's dirty
    bitmap saw over many seconds, while page sampling judges a small guest on a few dozen
    pages a period and misreads slow dirtiers by a page or two either way (a guest
    dirtying 2 MiB/s sampled at 4.0, 3.0 and 0.0 in three runs of one 2 s period, observed
    at 2.2 and 2.5; see doc/source/admin/convergence-forecast.rst). When they cannot, the
    guest has changed since, and only the measurement says what it does now.

    An observed 0 says nothing: QEMU updates the rate it reports only at a sync of the dirty
    bitmap a second or more after the one before, so a migration whose later passes were all
    shorter reports 0 whatever the guest did (seen for guests dirtying 2 and 8 MiB/s under
    a 32 MiB/s cap on the sandbox).
    """
    if last is None or not last.get('dirty_rate') or estimate is None:
        return False
    observed = last['dirty_rate']
    return (observed * (1.0 - GUEST_VARIATION) <= estimate.high
            and observed * (1.0 + GUEST_VARIATION) >= estimate.low)


def fixed_overhead(db, source_host, target_host):
    """(seconds, source, note): the median residual overhead of the last
    [convergence] overhead_observations migrations from source_host to target_host, else of
    the cluster's, else [planner] migration_overhead_seconds; the median weighted towards
    the newest by [convergence] observation_decay."""
    return _learned(lambda **kw: db.observation_overheads(**kw), model.learned_overhead,
                    source_host, target_host, CONF.planner.migration_overhead_seconds,
                    '[planner] migration_overhead_seconds: no migration observed yet')


def effective_bandwidth(db, source_host, target_host, cap_mib, nominal):
    """(bytes/s, source, note): the (recency-weighted) median effective rate of the last
    [convergence] overhead_observations migrations from source_host to target_host under the
    same cap (cap_mib; None: uncapped), else of the cluster's under it, else nominal (the
    cap, or [planner] assumed_bandwidth_mib_s)."""
    under = f'{cap_mib} MiB/s' if cap_mib else 'no cap'
    return _learned(lambda **kw: db.observation_effective_rates(bandwidth_mib=cap_mib, **kw),
                    model.learned_rate, source_host, target_host, nominal,
                    f'no migration observed under {under}: the bandwidth itself',
                    f' under {under}')


def _learned(recent, reduce, source_host, target_host, default, default_note, scope=''):
    """(value, source, note) from the last [convergence] overhead_observations values
    recent(source_host=, target_host=, limit=) gives, reduced: of the host pair, else of
    the cluster, else default."""
    count = CONF.convergence.overhead_observations
    decay = CONF.convergence.observation_decay
    if not count:
        return default, DEFAULT, '[convergence] overhead_observations is 0'
    if source_host and target_host:
        values = recent(source_host=source_host, target_host=target_host, limit=count)
        if values:
            return (reduce(values, decay), HOST_PAIR,
                    f'{_median(decay)} of the last {len(values)} migration(s) from '
                    f'{source_host} to {target_host}{scope}')
    values = recent(limit=count)
    if values:
        return (reduce(values, decay), CLUSTER,
                f'{_median(decay)} of the last {len(values)} migration(s) in the '
                f'cluster{scope}')
    return default, DEFAULT, default_note


def _median(decay):
    return 'median' if decay >= 1.0 else f'median (weights {decay:g}**age)'


def _join(*parts):
    return '; '.join(p for p in parts if p)


def dry_run(ctxt, db, compute_api, instance, controls, target_host=None):
    """The forecast a dry run answers for a live migration with these controls."""
    memory = (instance.get('memory_mb') or 0) * MIB
    guest = guest_dirty_rate(ctxt, db, compute_api, instance)
    dirty, interval = guest.rate, guest.interval
    overhead, overhead_source, overhead_note = fixed_overhead(db, instance.get('host'),
                                                              target_host)
    if controls.get('bandwidth_mib'):
        bandwidth, bandwidth_source = controls['bandwidth_mib'] * MIB, 'bandwidth_mib'
    else:
        bandwidth = CONF.planner.assumed_bandwidth_mib_s * MIB
        bandwidth_source = '[planner] assumed_bandwidth_mib_s'
    effective, effective_source, effective_note = effective_bandwidth(
        db, instance.get('host'), target_host, controls.get('bandwidth_mib') or None,
        bandwidth)
    timeout = convergence.completion_timeout(controls.get('completion_timeout_per_gib'),
                                             memory)
    working_set = guest.working_set
    figures = model.Figures(
        memory_bytes=memory, dirty_rate_bps=dirty,
        # The later passes are pages the guest wrote: no faster than the cap.
        bandwidth_bps=min(effective, bandwidth) if controls.get('bandwidth_mib') else effective,
        first_pass_bps=effective,
        max_downtime_ms=controls['max_downtime_ms'],
        downtime_steps=controls['downtime_steps'],
        working_set_bytes=working_set,
        overhead_seconds=overhead,
        completion_timeout_s=timeout,
        vcpu_busy=guest.vcpu_busy,
        long_dirtied_bytes=guest.long_dirtied,
        long_period_s=guest.long_period,
        write_bursts=guest.write_bursts)
    result = model.with_outcomes(model.forecast(figures, dirty_rate_interval=interval),
                                 controls)
    result['figures'] = {
        'memory_bytes': memory,
        'dirty_rate': int(dirty),
        'dirty_rate_source': guest.source,
        'dirty_rate_note': guest.note,
        'dirty_rate_low': int(interval[0]) if interval else None,
        'dirty_rate_high': int(interval[1]) if interval else None,
        'working_set_bytes': int(working_set) if working_set else None,
        'working_set_source': guest.working_set_source,
        'vcpu_busy': guest.vcpu_busy,
        'writes_in_bursts': (guest.write_bursts is not None) if guest.bursts_measured else None,
        'bandwidth': int(bandwidth),
        'bandwidth_source': bandwidth_source,
        'effective_bandwidth': int(effective),
        'effective_bandwidth_source': effective_source,
        'effective_bandwidth_note': effective_note,
        'max_downtime_ms': controls['max_downtime_ms'],
        'downtime_steps': controls['downtime_steps'],
        'completion_timeout_seconds': round(timeout, 1) if timeout else None,
        'overhead_seconds': overhead,
        'overhead_source': overhead_source,
        'overhead_note': overhead_note,
    }
    return result


class StallWatch:
    """Diagnoses running live migrations from their samples as progress arrives; says so
    once per migration (an event, a notification) and applies [convergence] stall_action."""

    def __init__(self, db, force_complete):
        self.db = db
        self.force_complete = force_complete   # (ctxt, migration_id) -> the conductor's
        self._said = set()

    def check(self, ctxt, migration_id, stats):
        if migration_id in self._said or (stats.get('iteration') or 0) < \
                CONF.convergence.stall_iterations or stats.get('post_copy'):
            return None
        migration = self.db.migration_get(migration_id)
        diagnosis = diagnose(self.db, migration)
        if diagnosis is None:
            return None
        self._said.add(migration_id)
        LOG.warning('Migration %s stalled: %s', migration_id, diagnosis['reason'])
        self.db.migration_note(migration_id, describe(diagnosis))
        notifications.migration_event('migration.stalled', migration, ctxt,
                                      reason=diagnosis['reason'])
        if CONF.convergence.stall_action == 'force_complete':
            try:
                forced = self.force_complete(ctxt, migration_id)
                self.db.migration_note(
                    migration_id, f"[convergence] stall_action force_complete applied: "
                                  f"{forced.get('forced')}")
            except exceptions.MigratorException as exc:
                LOG.warning('Migration %s: stall_action force_complete failed: %s',
                            migration_id, exc)
        return diagnosis

    def forget(self, migration_id):
        self._said.discard(migration_id)


def diagnose(db, migration):
    """The stall diagnosis of a running live migration, or None."""
    return stall.diagnose_migration(
        migration, lambda mid, limit: db.migration_sample_list(mid, limit=limit),
        iterations=CONF.convergence.stall_iterations)


def describe(diagnosis):
    alternatives = ', '.join(diagnosis['alternatives']) or 'none'
    return (f"convergence: stalled at iteration {diagnosis['iteration']}: "
            f"{diagnosis['reason']}. Suggested action: force_complete "
            f"({diagnosis['action_effect']}); for a new attempt: {alternatives}"
            + (f" (bandwidth >= {diagnosis['bandwidth_needed_mib']} MiB/s)"
               if diagnosis.get('bandwidth_needed_mib') else ''))


def observed_dirty_rate(samples):
    """The median of the rates libvirt reported at the end of each pass after the first.

    QEMU computes the rate at each sync of the dirty bitmap, over the pass just finished;
    the second pass's figure still covers part of the first (low: the guest had little
    time), so it counts only when there is no later one.
    """
    last_of_pass = {}
    for sample in samples:
        if (sample.get('iteration') or 0) >= 2 and sample.get('dirty_rate') is not None:
            last_of_pass[sample['iteration']] = sample['dirty_rate']
    rates = [rate for iteration, rate in last_of_pass.items() if iteration >= 3] or \
        list(last_of_pass.values())
    return int(statistics.median(rates)) if rates else None


def observation(migration, samples):
    """What a completed live migration showed about its guest (observation_create values)."""
    dirty = observed_dirty_rate(samples)
    if dirty is None:
        dirty = migration.get('dirty_rate')
    sent = [s['transfer_rate'] for s in samples if s.get('transfer_rate')]
    sizes = stall.pass_sizes(samples)
    later = [size for iteration, size in sizes.items() if iteration >= 2]
    duration = None
    if migration.get('started_at') and migration.get('finished_at'):
        duration = (migration['finished_at'] - migration['started_at']).total_seconds()
    transfer = statistics.median(sent) if sent else None
    effective = None if _post_copy(migration) else model.effective_rate(samples)
    cap_mib = (migration.get('convergence') or {}).get('bandwidth_mib')
    cap = min(effective or transfer, cap_mib * MIB) if cap_mib and (effective or transfer) \
        else None
    return {
        'instance_uuid': migration['instance_uuid'],
        'migration_id': migration['id'],
        'source_host': migration.get('source_host'),
        'target_host': migration.get('target_host'),
        'memory_bytes': migration.get('memory_total'),
        'dirty_rate': dirty,
        'transfer_rate': int(transfer) if transfer else None,
        'working_set_bytes': int(max(later)) if later else None,
        'iterations': migration.get('iteration') or (max(sizes) if sizes else None),
        'duration_seconds': round(duration, 3) if duration is not None else None,
        'downtime_ms': migration.get('downtime_ms'),
        'bandwidth_mib': (migration.get('convergence') or {}).get('bandwidth_mib') or None,
        'effective_rate': int(effective) if effective else None,
        'overhead_seconds': _residual(migration, sizes, effective or transfer, cap),
    }


def _post_copy(migration):
    """Whether it switched to post-copy: the passes after the switch are no pre-copy's."""
    return any(event.get('to_state') == states.POST_COPY
               for event in migration.get('events') or ())


def _residual(migration, sizes, transfer, later=None):
    """The migration's residual overhead, timed as a forecast's predicted duration is: from
    the request (created_at: scheduling and the wait for the target count) to completion,
    less its passes at the rate it worked them off (its effective rate; the median sampled
    transfer rate when too few samples tell it).

    Only of a migration that pre-copy alone finished, the one the fixed overhead is added to:
    auto-converge's throttled passes, a switch to post-copy or a pause do not go as the
    model's passes do, and their residuals (close to nothing once the passes of a stalled
    minute are subtracted, on this project's sandbox) would pull the learned overhead down.
    """
    if not migration.get('created_at') or not migration.get('finished_at'):
        return None
    if not _plain_pre_copy(migration):
        return None
    total = (migration['finished_at'] - migration['created_at']).total_seconds()
    passes = [sizes[i] for i in sorted(sizes)]
    return model.residual_overhead(total, passes, transfer, later)


def _plain_pre_copy(migration):
    """Whether the migration converged by pre-copy alone: no auto-converge, never stalled,
    no post-copy, no pause (its history says so)."""
    if (migration.get('convergence') or {}).get('auto_converge'):
        return False
    for event in migration.get('events') or ():
        detail = event.get('detail') or ''
        if (event.get('to_state') == states.POST_COPY or 'paused to finish it' in detail
                or detail.startswith('convergence: stalled')):
            return False
    return True


def record_observation(db, migration_id):
    """Keeps what a completed live migration showed; a failure only loses the lesson."""
    try:
        migration = db.migration_get(migration_id)
        if migration.get('type') != 'live' or migration.get('status') != 'completed':
            return None
        samples = db.migration_sample_list(migration_id)
        return db.observation_create(observation(migration, samples))
    except Exception:  # noqa: BLE001 - the migration completed; only the lesson is lost
        LOG.exception('Migration %s: could not record what it showed', migration_id)
        return None
