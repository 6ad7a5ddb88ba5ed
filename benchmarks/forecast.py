"""Convergence forecast against what happens: a dry run's verdict and predicted duration,
then the migration itself, for guests dirtying 0, 2, 8 and 32 MiB/s under caps of 8 and 32
MiB/s.

Brings up a 2-host sandbox and migrator-all, then warms the cluster up as a real one is
after some migrations: one migration from sandbox-host1 to sandbox-host2 (the only host pair
the matrix uses) of a guest dirtying nothing under each cap the matrix uses (8, then 32
MiB/s), whose observations give the forecasts their first learned fixed overhead
(figures.overhead_source host_pair) and the effective rate each cap gives
(figures.effective_bandwidth_source host_pair); each later migration of the run adds its
own, as it would in production. Then for each pair it boots a fresh 128 MiB guest (a
busy TCG guest sometimes crashes after a completed migration: see
tests/functional/convergence), measures nothing itself: it asks the API for a dry run
(microversion 1.11: the forecast, whose dirty rate the source's QEMU measures, with the
interval its sampled pages allow, whose effective rate and overhead are learned), then
starts the migration with the same
controls (no completion timeout, no auto-converge) and follows it until it completes or
the API shows the stall diagnosis (convergence_verdict); then it lets it run GRACE_PASSES
more passes and GRACE_SECONDS, and only if it has not completed by then does it count it
stalled and apply the diagnosis's action (force_complete) so the guest moves anyway. One
that completes in those passes counts as completed (the table says it was shown stalled).
A forecast of
converges_with_auto_converge is checked by a second run with auto_converge on, which must
complete without a stall.

A borderline forecast (the verdict differs between the ends of the measured rate's
interval) carries the verdict at the measured rate, the likeliest (from 1.10), and is judged
like any other: a converges must complete unaided, a converges_with_auto_converge must
stall unaided and complete with auto-converge. The table marks it (B) with its interval,
and shows the working set the forecast used (wss, MiB: measured over the long sampling
period, or '-' when it saw none), the guest's busiest vCPU's share of time (busy) and in
how many runs the forecast saw the guest write in bursts (bursty: figures.writes_in_bursts).

Prints, per pair: nominal dirty rate, the rate the forecast used (the guest's real one: TCG
guests on a busy machine fall short of the nominal), the rate the migration then observed
(its observation's dirty_rate: the evidence for choosing between the two), the learned
overhead the forecast used, cap, verdict, what happened, predicted
and real seconds (POST to completed; for converges_with_auto_converge, of the run with
auto-converge) and the error of the prediction for those that converge, and the load
average at each dry run. -n repeats the matrix and prints each run's table, then the
medians.

    .venv/bin/python -m benchmarks.forecast [-n 1] [--memory 128] [--pairs 8/8 32/32]
        [--period SECONDS]
"""

import argparse
import ast
import os
import statistics
import tempfile
import time

from benchmarks.convergence import remove_guest
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

DIRTY_RATES = (0, 2, 8, 32)
CAPS = (8, 32)
MIB = 2 ** 20
FORECAST_STALLS = ('converges_with_auto_converge', 'needs_post_copy_or_pause')


def follow(api, migration_id, timeout=600):
    """('completed', seconds-from-now-on) or ('stalled', verdict) as the API shows it."""
    def step():
        m = api.get(f'/v1/migrations/{migration_id}').json()
        if m['status'] in ('completed', 'failed', 'cancelled', 'error'):
            return ('ended', m)
        if m.get('convergence_verdict'):
            return ('stalled', m)
        return None
    return processes.wait_until(step, timeout, f'migration {migration_id}', interval=0.2)


# How long a migration shown stalled is left to run on before it is forced: the diagnosis is
# made at the third iteration, and a guest that writes in bursts (the sandbox guest writes
# its megabytes in a tenth of each second) can leave a few passes the same size and still
# finish on its own: a guest dirtying 32 MiB/s under a 32 MiB/s cap, left alone, completed
# in 6-8 s in 12 runs of 12, at iteration 4 to 11, though 5 of them were shown stalled at 3.
GRACE_PASSES, GRACE_SECONDS = 3, 20.0


def after_stall(api, migration_id, iteration, timeout=180):
    """('ended', m) when the migration shown stalled at `iteration` ends on its own within
    GRACE_PASSES more passes and GRACE_SECONDS, else ('stalled', m)."""
    deadline = time.monotonic() + GRACE_SECONDS

    def step():
        m = api.get(f'/v1/migrations/{migration_id}').json()
        if m['status'] in ('completed', 'failed', 'cancelled', 'error'):
            return ('ended', m)
        if (m.get('iteration') or 0) >= iteration + GRACE_PASSES and \
                time.monotonic() >= deadline:
            return ('stalled', m)
        return None
    return processes.wait_until(step, timeout, f'migration {migration_id} after its stall',
                                interval=0.2)


def observed(api, name):
    """The newest observation of the guest (what its migration showed), or {}."""
    rows = api.get(f'/v1/instances/{name}/observations').json().get('observations') or []
    return rows[0] if rows else {}


def warm_up(api, state_dir, cluster, memory_mib, cap):
    """One completed migration from sandbox-host1 to sandbox-host2 under cap, so the
    forecasts that follow have a learned overhead and effective rate for that pair; returns
    its observation."""
    name = cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared',
                                 memory_mib=memory_mib, dirty_rate_mib=0)['name']
    try:
        processes.wait_until(lambda: api.instance(name), 60, f'{name} to be reported')
        probe.wait_for_tick(name, above=3, cluster=cluster_mod.load(state_dir))
        response = api.post('/v1/migrations', {'instance': name, 'type': 'live',
                                               'target_host': 'sandbox-host2',
                                               'bandwidth_mib': cap})
        assert response.status_code == 202, response.text
        m = api.wait_for_migration(response.json()['id'], timeout=600, interval=0.5)
        assert m['status'] == 'completed', m
        return observed(api, name)
    finally:
        remove_guest(cluster, name)


def run_pair(api, state_dir, cluster, dirty_mib, cap, memory_mib):
    name = cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared',
                                 memory_mib=memory_mib, dirty_rate_mib=dirty_mib)['name']
    row = {'dirty': dirty_mib, 'cap': cap}
    try:
        processes.wait_until(lambda: api.instance(name), 60, f'{name} to be reported')
        probe.wait_for_tick(name, above=3, cluster=cluster_mod.load(state_dir))  # it runs
        controls = {'instance': name, 'type': 'live', 'target_host': 'sandbox-host2',
                    'bandwidth_mib': cap, 'completion_timeout_per_gib': 0}
        dry = api.post('/v1/migrations', {**controls, 'dry_run': True})
        assert dry.status_code == 200, dry.text
        fc = dry.json()['dry_run']['forecast']
        low, high = fc['figures'].get('dirty_rate_low'), fc['figures'].get('dirty_rate_high')
        row.update(verdict=fc['verdict'], predicted=fc['predicted_seconds'],
                   borderline=fc.get('borderline', False),
                   verdict_at_low=fc.get('verdict_at_low'),
                   low=low / MIB if low is not None else None,
                   high=high / MIB if high is not None else None,
                   load=round(os.getloadavg()[0], 1),
                   measured=fc['figures']['dirty_rate'] / MIB,
                   source=fc['figures']['dirty_rate_source'], iterations=fc['iterations'],
                   overhead=fc['figures']['overhead_seconds'],
                   overhead_source=fc['figures']['overhead_source'],
                   effective=fc['figures']['effective_bandwidth'] / MIB,
                   effective_source=fc['figures']['effective_bandwidth_source'],
                   verdict_at_high=fc.get('verdict_at_high'),
                   working_set=(fc['figures'].get('working_set_bytes') or 0) / MIB or None,
                   working_set_source=fc['figures'].get('working_set_source'),
                   vcpu_busy=fc['figures'].get('vcpu_busy'),
                   bursts=fc['figures'].get('writes_in_bursts'))
        started = time.monotonic()
        response = api.post('/v1/migrations', controls)
        assert response.status_code == 202, response.text
        mid = response.json()['id']
        kind, m = follow(api, mid)
        called = None
        if kind == 'stalled':
            called = m['convergence_verdict']['iteration']
            kind, m = after_stall(api, mid, called)
        if kind == 'ended':
            assert m['status'] == 'completed', m
            row.update(happened='completed' + (f' (shown stalled@{called})' if called else ''),
                       real=time.monotonic() - started, real_iterations=m['iteration'])
            seen = observed(api, name)
            row.update(observed=(seen.get('dirty_rate') or 0) / MIB,
                       transfer=(seen.get('transfer_rate') or 0) / MIB,
                       achieved=(seen.get('effective_rate') or 0) / MIB,
                       residual=seen.get('overhead_seconds'))
        else:
            row.update(happened=f'stalled@{called}', real=None, real_iterations=m['iteration'])
            forced = api.post(f'/v1/migrations/{mid}/action', {'force_complete': None})
            assert forced.status_code == 202, forced.text
            done = api.wait_for_migration(mid, timeout=300)
            row['forced'] = done['status']
        if fc['verdict'] == 'converges_with_auto_converge':
            # Back to the source's twin: a fresh guest with the same rate, auto-converge on.
            remove_guest(cluster, name)
            name = cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1',
                                         disks='shared', memory_mib=memory_mib,
                                         dirty_rate_mib=dirty_mib)['name']
            processes.wait_until(lambda: api.instance(name), 60, f'{name} to be reported')
            probe.wait_for_tick(name, above=3, cluster=cluster_mod.load(state_dir))
            response = api.post('/v1/migrations', {**controls, 'instance': name,
                                                   'auto_converge': True})
            assert response.status_code == 202, response.text
            auto_started = time.monotonic()
            # To its end: a stall verdict only suggests; whether auto-converge finishes it
            # is what the forecast said.
            m = api.wait_for_migration(response.json()['id'], timeout=600, interval=0.5)
            row['with_auto_converge'] = m['status']
            row['auto_real'] = time.monotonic() - auto_started
            row['observed'] = (observed(api, name).get('dirty_rate') or 0) / MIB
    finally:
        remove_guest(cluster, name)
    return row


def matches(row):
    if row['verdict'] == 'converges':
        return row['happened'].startswith('completed')
    if row['verdict'] == 'converges_with_auto_converge':
        return (row['happened'].startswith('stalled')
                and row.get('with_auto_converge') == 'completed')
    return row['happened'].startswith('stalled')


def print_table(runs, memory, n, title='medians'):
    """The matrix's table: per pair, medians over its runs."""
    loads = [r['load'] for rows in runs.values() for r in rows if r.get('load') is not None]
    print(f'\nguest {memory} MiB, max downtime 500 ms, {n} run(s) per pair ({title}); load '
          f"average {min(loads, default=0):.1f}-{max(loads, default=0):.1f}")
    print(f"{'dirty':>5} {'measured':>8} {'interval':>11} {'wss':>5} {'busy':>4} {'bursty':>6} "
          f"{'observed':>8} {'cap':>4}  "
          f"{'verdict':<30} {'happened':<22} {'eff':>5} {'ovh s':>5} {'pred s':>6} "
          f"{'real s':>6} {'err %':>6}  match")
    errors, matched, total, borderline = {}, 0, 0, 0
    for (dirty, cap), rows in runs.items():
        last = rows[-1]
        measured = statistics.median(r['measured'] for r in rows)
        lows = [r['low'] for r in rows if r.get('low') is not None]
        highs = [r['high'] for r in rows if r.get('high') is not None]
        interval = (f'{statistics.median(lows):4.1f}-{statistics.median(highs):<5.1f}'
                    if lows and highs else '-')
        sets = [r['working_set'] for r in rows if r.get('working_set')]
        wss = f'{statistics.median(sets):5.1f}' if sets else f"{'-':>5}"
        busies = [r['vcpu_busy'] for r in rows if r.get('vcpu_busy') is not None]
        busy = f'{statistics.median(busies):4.2f}' if busies else f"{'-':>4}"
        # How many runs saw the guest write in bursts (figures.writes_in_bursts).
        bursty = f"{sum(1 for r in rows if r.get('bursts')):6d}"
        seen = [r['observed'] for r in rows if r.get('observed') is not None]
        seen_text = f'{statistics.median(seen):8.1f}' if seen else f"{'-':>8}"
        overhead = statistics.median(r['overhead'] for r in rows)
        effective = statistics.median(r.get('effective', cap) for r in rows)
        predicted = statistics.median(r['predicted'] for r in rows)
        reals = [r['real'] if r['real'] is not None else r.get('auto_real')
                 for r in rows]
        reals = [r for r in reals if r is not None]
        real = statistics.median(reals) if reals else None
        ok = sum(1 for r in rows if matches(r))
        matched += ok
        total += len(rows)
        borderline += sum(1 for r in rows if r.get('borderline'))
        err = ''
        if last['verdict'] in ('converges', 'converges_with_auto_converge') and real:
            error = 100.0 * (predicted - real) / real
            errors.setdefault(last['verdict'], []).append(abs(error))
            err = f'{error:+6.1f}'
        happened = last['happened'] + (f" (auto: {last['with_auto_converge']})"
                                       if 'with_auto_converge' in last else '')
        verdict = last['verdict'] + (' (B)' if last.get('borderline') else '')
        print(f'{dirty:5d} {measured:8.1f} {interval:>11} {wss} {busy} {bursty} {seen_text} '
              f'{cap:4d}  '
              f'{verdict:<30} {happened:<22} {effective:5.1f} {overhead:5.1f} '
              f"{predicted:6.1f} {(f'{real:6.1f}' if real else '     -')} {err:>6}  "
              f"{'yes' if ok == len(rows) else f'{ok}/{len(rows)}'}")
    print(f'verdicts match: {matched}/{total} ({borderline} borderline)')
    for verdict, errs in sorted(errors.items()):
        within = sum(1 for e in errs if e <= 25.0)
        print(f'  predicted durations within 25 % ({verdict}): {within}/{len(errs)}; largest '
              f'|error| {max(errs):.1f} %')


def rows_of(log):
    """{(dirty, cap): [row, ...]} from the '# {...}' lines a run printed (--table)."""
    runs = {}
    with open(log) as lines:
        for line in lines:
            if line.startswith('# {'):
                row = ast.literal_eval(line[2:])
                runs.setdefault((row['dirty'], row['cap']), []).append(row)
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=1, help='runs of the whole matrix')
    parser.add_argument('--memory', type=int, default=128, help='guest memory, MiB')
    parser.add_argument('--pairs', nargs='*', metavar='DIRTY/CAP',
                        help='only these pairs (MiB/s), e.g. 8/8 32/32')
    parser.add_argument('--period', type=int, default=None, metavar='SECONDS',
                        help='[libvirt] dirty_rate_period_seconds (default: the option\'s)')
    parser.add_argument('--table', metavar='LOG',
                        help="only print the table of the '# {...}' rows of an earlier run's "
                             'output (one cut short, say)')
    args = parser.parse_args()
    if args.table:
        runs = rows_of(args.table)
        print_table(runs, args.memory, max(len(rows) for rows in runs.values()))
        return
    work = tempfile.mkdtemp(prefix='migrator-bench-forecast-')
    state_dir = f'{work}/sandbox'
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    proc = None
    try:
        cluster = cluster_mod.load(state_dir)
        proc, api = processes.start_migrator_all(
            work, state_dir, compute={'progress_interval': 0.5}, version='1.11',
            # The whole group: start_migrator_all's [libvirt] has virt_type qemu.
            extra={'libvirt': {'virt_type': 'qemu', 'dirty_rate_period_seconds': args.period}}
            if args.period else None)
        processes.wait_until(lambda: api.hosts_up(['sandbox-host1', 'sandbox-host2']), 60,
                             'both hosts')
        for cap in CAPS:
            first = warm_up(api, state_dir, cluster, args.memory, cap)
            print(f"# warm-up at {cap} MiB/s: host1 -> host2 in "
                  f"{first.get('duration_seconds')} s, effective rate "
                  f"{(first.get('effective_rate') or 0) / MIB:.1f} MiB/s, residual overhead "
                  f"{first.get('overhead_seconds')} s", flush=True)
        runs = {}
        pairs = [tuple(int(x) for x in p.split('/')) for p in args.pairs] if args.pairs \
            else [(d, c) for c in CAPS for d in DIRTY_RATES]
        for number in range(1, args.n + 1):
            this_run = {}
            for dirty, cap in pairs:
                row = run_pair(api, state_dir, cluster, dirty, cap, args.memory)
                row['run'] = number
                runs.setdefault((dirty, cap), []).append(row)
                this_run[(dirty, cap)] = [row]
                print('#', row, flush=True)
            if args.n > 1:
                print_table(this_run, args.memory, 1, f'run {number}')
        print_table(runs, args.memory, args.n)
    finally:
        if proc is not None:
            proc.stop()
        cluster_mod.down(state_dir)


if __name__ == '__main__':
    main()
