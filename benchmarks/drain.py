"""Drain makespan: draining a host of 8 guests through migrator against bare migrations.

Brings up a 3-host sandbox with N small shared-disk guests (128 MiB, 1 MiB/s dirtied) on
sandbox-host1 and migrator-all (SQLite, in-process bus). Each run, for each max_parallel P
asked for (-p 2, or -p 1,2,3; default: the service's [drain] max_parallel):

  1. drain:  POST /v1/hosts/sandbox-host1/drain -- the makespan, taken from the job's own
             record as the overhead benchmark takes a migration's: the POST's latency plus
             created_at -> finished_at, so how often this script looks at the API changes
             nothing; and where it went (benchmarks.drain_timeline: start, time with P
             migrations in flight, gaps, tail, end; per migration setup and running time);
  2. undrain --return-guests brings them back (not timed);
  3. bare parallel: the same guests by bare migrateToURI3 calls with the same flags to
             sandbox-host2, P at a time in the drain's order (its wall-clock makespan), then
             back (not timed).
and once per run, bare sequential: each guest alone, one after another (each one timed).

Two baselines, two ratios:
  - sum/P: (sum of the sequential bare migrations) / P, what the drain would take if P
    migrations ran side by side at no cost and migrator added nothing. On a machine whose
    cores the guests and migrations already fill, P migrations do not run side by side at
    no cost, so this ratio holds the machine's contention as well as migrator's overhead.
  - bare parallel: the same P-at-a-time migrations without migrator. Same contention,
    so this ratio is what migrator adds.
Prints per-run figures, the medians, both ratios, and the load average.

    MIGRATOR_SANDBOX_NET=127.0.9 .venv/bin/python -m benchmarks.drain [-n 3] [--guests 8]
        [-p P[,P...]]
"""

import argparse
import concurrent.futures
import datetime
import os
import signal
import statistics
import sys
import tempfile
import time

import libvirt

from benchmarks import drain_timeline
from migrator.compute.virt.libvirt import migration as libvirt_migration
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

FLAGS = libvirt_migration.LIVE_FLAGS | libvirt.VIR_MIGRATE_UNSAFE
SOURCE, OTHER = 'sandbox-host1', 'sandbox-host2'


def wait_job(api, job_id):
    def ended():
        body = api.get(f'/v1/drains/{job_id}').json()
        return body if body['status'] in ('completed', 'partial', 'cancelled',
                                           'failed') else None
    # Looked at twice a second: the figure comes from the job's record, and looking more
    # often would only take CPU from the guests and the jobs on 2 cores.
    return processes.wait_until(ended, 600, f'job {job_id}', interval=0.5)


def drain(api, parallel):
    """(makespan in seconds, the job as the API shows it, {migration id: migration})."""
    body = {'max_parallel': parallel} if parallel else {}
    started = time.monotonic()
    response = api.post(f'/v1/hosts/{SOURCE}/drain', body)
    posted = time.monotonic() - started
    assert response.status_code == 202, response.text
    job = wait_job(api, response.json()['id'])
    assert job['status'] == 'completed', job
    created = datetime.datetime.fromisoformat(job['created_at'])
    finished = datetime.datetime.fromisoformat(job['finished_at'])
    migrations = {i['migration_id']: api.get(f"/v1/migrations/{i['migration_id']}").json()
                  for i in job['items'] if i.get('migration_id')}
    return posted + (finished - created).total_seconds(), job, migrations


def undrain(api):
    response = api.post(f'/v1/hosts/{SOURCE}/undrain', {'return_guests': True})
    assert response.status_code == 202, response.text
    job = wait_job(api, response.json()['return']['id'])
    assert job['status'] == 'completed', job


def bare(cluster, name, source, target):
    hosts = {h['name']: h for h in cluster['hosts']}
    conn = libvirt.open(hosts[source]['uri'])
    try:
        dom = conn.lookupByName(name)
        started = time.monotonic()
        dom.migrateToURI3(hosts[target]['uri'], {}, FLAGS)
        return time.monotonic() - started
    finally:
        conn.close()


def bare_parallel(cluster, names, source, target, parallel):
    """Wall-clock seconds for bare migrations of names, `parallel` at a time, in order."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda n: bare(cluster, n, source, target), names))
    return time.monotonic() - started


def all_on(api, names, host):
    return all((api.instance(n) or {}).get('host') == host for n in names)


def load():
    return '/'.join(f'{v:.2f}' for v in os.getloadavg())


def parse_parallel(text):
    try:
        values = [int(v) for v in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a list of integers: {text!r}') from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError('max_parallel must be at least 1')
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=3, help='runs (default 3)')
    parser.add_argument('--guests', type=int, default=8, help='guests on the host (8)')
    parser.add_argument('-p', '--parallel', type=parse_parallel, default=[None],
                        help="max_parallel of the drain, or several (1,2,3) (default: the "
                             "service's, [drain] max_parallel)")
    args = parser.parse_args()
    # Stopped with SIGTERM, it still takes its sandbox down (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = tempfile.mkdtemp(prefix='migrator-bench-drain-')
    state_dir = f'{work}/sandbox'
    cluster_mod.up(hosts=3, guests_per_host=0, memory_mib=128, dirty_rate_mib=1,
                   state_dir=state_dir)
    proc = None
    try:
        names = [cluster_mod.add_guest(state_dir=state_dir, host=SOURCE, wait=False)['name']
                 for _ in range(args.guests)]
        cluster = cluster_mod.load(state_dir)
        for name in names:
            probe.wait_for_tick(name, cluster=cluster, timeout=180)
        # A drain runs no more migrations than its host may send at once: raise that
        # limit ([scheduler] max_outbound_per_host, default 2) when a larger P is asked
        # for, so that P really is how many run.
        asked = [p for p in args.parallel if p is not None]
        extra = ({'scheduler': {'max_outbound_per_host': max(asked)}}
                 if asked and max(asked) > 2 else None)
        proc, api = processes.start_migrator_all(work, state_dir, extra=extra)
        processes.wait_until(lambda: api.hosts_up([h['name'] for h in cluster['hosts']]),
                             60, 'every host')
        results = {}   # P asked for -> list of per-run dicts
        loads = []
        for run in range(args.n):
            # The sequential baseline first, then each drain followed at once by its
            # parallel baseline: on a shared machine whose load moves by the minute, a
            # figure is only compared with baselines measured minutes apart at most.
            singles = {n: bare(cluster, n, SOURCE, OTHER) for n in names}
            for n in names:
                bare(cluster, n, OTHER, SOURCE)
            total = sum(singles.values())
            for asked in args.parallel:
                processes.wait_until(lambda: all_on(api, names, SOURCE), 60,
                                     'the API to see every guest on the source')
                loads.append(load())
                makespan, job, migrations = drain(api, asked)
                p = job['max_parallel']
                undrain(api)
                processes.wait_until(lambda: all_on(api, names, SOURCE), 60,
                                     'the guests to be back')
                figures = drain_timeline.analyse(job, migrations, singles)
                parallel_bare = bare_parallel(cluster, figures['order'], SOURCE, OTHER, p)
                for n in names:
                    bare(cluster, n, OTHER, SOURCE)
                results.setdefault(asked, []).append(
                    {'makespan': makespan, 'parallel': p, 'bare_parallel': parallel_bare,
                     'sum': total, 'figures': figures})
                print(f"run {run + 1} P={p} (load {loads[-1]}): drain makespan "
                      f"{makespan:.2f} s; bare: sum {total:.2f} s / {p} = "
                      f"{total / p:.2f} s, parallel {parallel_bare:.2f} s; ratio "
                      f"{makespan * p / total:.2f} against sum/P, "
                      f"{makespan / parallel_bare:.2f} against bare parallel", flush=True)
                print('    ' + drain_timeline.summary_line(figures), flush=True)
        print(f'{args.guests} guests, {args.n} runs, load averages (1/5/15 min) at each drain: '
              + ', '.join(loads) + f'; at the end {load()}')
        for asked in args.parallel:
            runs = results[asked]
            p = runs[0]['parallel']
            makespan = statistics.median(r['makespan'] for r in runs)
            sums = statistics.median(r['sum'] for r in runs)
            par = statistics.median(r['bare_parallel'] for r in runs)
            ratio_sum = statistics.median(r['makespan'] * p / r['sum'] for r in runs)
            ratio_par = statistics.median(r['makespan'] / r['bare_parallel'] for r in runs)
            parts = {k: statistics.median(r['figures'][k] for r in runs)
                     for k in ('start', 'full', 'gaps', 'tail', 'end')}
            slow = statistics.median(r['figures']['whole_vs_bare'] for r in runs)
            print(f"max_parallel {p}{' (the default)' if asked is None else ''}: median "
                  f"drain makespan {makespan:.2f} s; median bare sum {sums:.2f} s / {p} = "
                  f"{sums / p:.2f} s, median bare parallel {par:.2f} s; median ratio "
                  f"{ratio_sum:.2f} against sum/P, {ratio_par:.2f} against bare parallel")
            print('    median parts: ' + ', '.join(f'{k} {v:.2f} s' for k, v in parts.items())
                  + f'; each migration took {slow:.2f}x its bare (alone) time')
    finally:
        if proc is not None:
            proc.stop()
        cluster_mod.down(state_dir)


if __name__ == '__main__':
    main()
