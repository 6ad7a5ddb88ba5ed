"""The fault-injection matrix, N times: every fault at every point of every kind of
migration (tests/functional/faults/scenarios.py), on one deployment (a two-host sandbox, a
private RabbitMQ node and PostgreSQL cluster, api + two conductors + two agents as
processes). Prints one table:

  scenario | runs | completed | failed (rolled back) | cancelled | error | stuck | lost |
  running twice | guest fault | not run | checks failed | median / max seconds to settle

"guest fault" counts runs after which the guest's kernel printed a fault (a general
protection fault, an oops, a segfault): its memory did not come through whole.

"not run" counts runs that could not start (the deployment was not back in shape after an
earlier run, even after healing).
"checks failed" counts runs whose migration ended but whose guest did not tick, or that left
an audit discrepancy or a slot or claim held. A run that leaves the deployment unusable
(stuck, lost, running twice) is healed before the next: the migration reset to error, the
guest started where it is defined or its extra copy destroyed, `audit --fix`.

  python -m benchmarks.faults -n 3
  python -m benchmarks.faults -n 1 --faults conductor_kill,rabbitmq_restart --kinds live

`kill <pid>` (SIGTERM) or Ctrl-C stops it early: it tears the deployment down and prints
the table of the runs so far.
"""

import argparse
import collections
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import libvirt

from migrator.common import states
from migrator.sandbox import probe
from tests.functional.faults import deployment, scenarios
from tests.functional.service import processes

COLUMNS = ('completed', 'failed', 'cancelled', 'error', 'stuck', 'lost', 'running_twice',
           'guest_fault', 'not_run')


def heal(dep, run):
    """Best effort: make the deployment usable again after a bad run."""
    migration_id = run.migration_id
    if run.outcome in ('stuck', 'not_run') and migration_id:
        # Abort first, so that no libvirt job of it goes on into the next scenario; reset
        # the bookkeeping only when the abort cannot end it.
        dep.api.request_delete(f'/v1/migrations/{migration_id}')
        try:
            processes.wait_until(lambda: dep.api.get(f'/v1/migrations/{migration_id}')
                                 .json()['status'] in states.TERMINAL, 120,
                                 'the aborted migration to end', interval=0.5)
        except AssertionError:
            dep.api.post(f'/v1/migrations/{migration_id}/action',
                         {'reset_state': {'state': 'error', 'reason': 'fault benchmark: stuck'}})
    if run.outcome == 'guest_fault' or any('to tick' in p for p in run.problems):
        # Its kernel is damaged, or hung (a task blocked for ever writing to tmpfs: its
        # memory lost a write, as QEMU 7.2 does under TCG): boot it again where it runs, so
        # that the next scenarios judge their own migrations, not this one's.
        name = scenarios.guest_of(dep, run.scenario.split('@')[1].split('/')[0])
        for host in probe.where(name, cluster=dep.cluster):
            _act(dep, host, name, 'destroy')
            _act(dep, host, name, 'create')
    for name in (dep.shared_guest, dep.local_guest):
        running = probe.where(name, cluster=dep.cluster)
        if not running:
            defined = probe.where(name, cluster=dep.cluster, active_only=False)
            if defined:
                _act(dep, defined[0], name, 'create')
        elif len(running) > 1:
            db_host = (dep.api.instance(name) or {}).get('host')
            for host in running:
                if host != db_host:
                    _act(dep, host, name, 'destroy')
    dep.wait_ready()
    subprocess.run([deployment.BIN + '/migrator-manage', '--url', dep.api.url, 'audit',
                    '--fix'], capture_output=True, timeout=180)


def _act(dep, host, name, action):
    conn = libvirt.open(dep.host(host)['uri'])
    try:
        getattr(conn.lookupByName(name), action)()
    except libvirt.libvirtError as exc:
        print(f'  heal: {action} {name} on {host}: {exc}', file=sys.stderr)
    finally:
        conn.close()


def table(results):
    header = ('scenario', 'runs') + tuple(c.replace('_', ' ') for c in COLUMNS) + (
        'checks failed', 'settle s median / max')
    rows = []
    for name, runs in results.items():
        counts = collections.Counter(r.outcome for r in runs)
        settle = [r.settle_s for r in runs if r.settle_s is not None]
        checks = sum(1 for r in runs if r.problems and r.outcome in
                     ('completed', 'failed', 'cancelled', 'error'))
        rows.append((name, len(runs), *[counts.get(c, 0) for c in COLUMNS], checks,
                     f'{statistics.median(settle):.1f} / {max(settle):.1f}' if settle
                     else '-'))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = ' | '.join
    out = [line(str(h).ljust(w) for h, w in zip(header, widths, strict=False)),
           line('-' * w for w in widths)]
    out += [line(str(v).ljust(w) for v, w in zip(row, widths, strict=False)) for row in rows]
    return '\n'.join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # The harness looks guests and volumes up where they may not be, on purpose; libvirt's
    # default handler would print each miss.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    parser.add_argument('-n', type=int, default=3, help='runs of each scenario (default 3)')
    parser.add_argument('--faults', help='comma-separated fault names (default: all): '
                        + ', '.join(f.name for f in scenarios.FAULTS))
    parser.add_argument('--kinds', help='live,block,cold (default: all)')
    parser.add_argument('--points', help='preparing,running,finishing (default: all)')
    parser.add_argument('--bound', type=int, default=scenarios.SETTLE_BOUND,
                        help='seconds after the fault clears before a migration counts '
                             'as stuck')
    args = parser.parse_args(argv)
    def split(v):
        return (v.split(',') if v else None)
    matrix = scenarios.matrix(split(args.faults), split(args.kinds), split(args.points))
    if not matrix:
        parser.error('no scenario matches')
    # Stopped with `kill <pid>` (a background job ignores SIGINT), it still tears the
    # deployment down and prints the table of the runs so far.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = tempfile.mkdtemp(prefix='migrator-faults-')
    dep = deployment.Deployment(workdir)
    results = collections.OrderedDict((s.name, []) for s in matrix)
    started = time.monotonic()
    try:
        dep.start()
        print(f'deployment ready in {time.monotonic() - started:.0f} s; '
              f'{len(matrix)} scenarios x {args.n}', flush=True)
        for i in range(args.n):
            for scenario in matrix:
                t = time.monotonic()
                run = scenarios.Run(scenario.name)
                try:
                    scenarios.run(dep, scenario, bound=args.bound, result=run, check_kernel=True)
                except Exception as exc:     # the scenario itself could not run
                    run.outcome = run.outcome or 'not_run'
                    run.problems.append(f'{type(exc).__name__}: {exc}')
                results[scenario.name].append(run)
                print(f'[{i + 1}/{args.n}] {scenario.name}: {run.outcome}'
                      + (f' settled {run.settle_s:.1f} s' if run.settle_s is not None else '')
                      + (f" -- {'; '.join(run.problems)[:300]}" if run.problems else '')
                      + f' ({time.monotonic() - t:.0f} s)', flush=True)
                if run.problems or run.outcome not in ('completed', 'failed', 'cancelled'):
                    try:
                        heal(dep, run)
                    except Exception as exc:
                        print(f'  heal failed: {exc}', file=sys.stderr)
    except KeyboardInterrupt:
        print('interrupted; the table holds the runs so far', file=sys.stderr)
    finally:
        dep.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table({k: v for k, v in results.items() if v}))
    print(f'\ntotal {time.monotonic() - started:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
