"""Drain makespan: draining a host of 8 guests through migrator against bare migrations.

Brings up a 3-host sandbox with N small shared-disk guests (128 MiB, 1 MiB/s dirtied) on
sandbox-host1 and migrator-all (SQLite, in-process bus). Each run:

  1. drain:  POST /v1/hosts/sandbox-host1/drain (the service's default max_parallel, or
             -p P) -- the makespan, taken from the job's own record as the overhead
             benchmark takes a migration's: the POST's latency plus created_at ->
             finished_at, so how often this script looks at the API changes nothing;
  2. undrain --return-guests brings them back (not timed);
  3. bare:   each guest, one after another, by a bare migrateToURI3 with the same flags to
             sandbox-host2 (each one timed), then back (not timed).

The baseline is (sum of the bare migrations) / P: what the drain would take if P migrations
ran side by side at no cost and migrator added nothing. Prints per-run figures, the medians
and the ratio makespan / baseline (1.0 = perfect; above 1 = orchestration overhead plus the
slowdown of P migrations sharing this machine's 2 cores).

    MIGRATOR_SANDBOX_NET=127.0.9 .venv/bin/python -m benchmarks.drain [-n 3] [--guests 8] [-p P]
"""

import argparse
import datetime
import statistics
import tempfile
import time

import libvirt

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
    """(makespan in seconds, the job's max_parallel)."""
    body = {'max_parallel': parallel} if parallel else {}
    started = time.monotonic()
    response = api.post(f'/v1/hosts/{SOURCE}/drain', body)
    posted = time.monotonic() - started
    assert response.status_code == 202, response.text
    job = wait_job(api, response.json()['id'])
    assert job['status'] == 'completed', job
    created = datetime.datetime.fromisoformat(job['created_at'])
    finished = datetime.datetime.fromisoformat(job['finished_at'])
    return posted + (finished - created).total_seconds(), job['max_parallel']


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


def all_on(api, names, host):
    return all((api.instance(n) or {}).get('host') == host for n in names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=3, help='runs (default 3)')
    parser.add_argument('--guests', type=int, default=8, help='guests on the host (8)')
    parser.add_argument('-p', '--parallel', type=int, default=None,
                        help="max_parallel of the drain (default: the service's, "
                             '[drain] max_parallel)')
    args = parser.parse_args()
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
        proc, api = processes.start_migrator_all(work, state_dir)
        processes.wait_until(lambda: api.hosts_up([h['name'] for h in cluster['hosts']]),
                             60, 'every host')
        makespans, sums = [], []
        parallel = args.parallel
        for run in range(args.n):
            processes.wait_until(lambda: all_on(api, names, SOURCE), 60,
                                 'the API to see every guest on the source')
            makespan, parallel = drain(api, args.parallel)
            makespans.append(makespan)
            undrain(api)
            processes.wait_until(lambda: all_on(api, names, SOURCE), 60,
                                 'the guests to be back')
            sums.append(sum(bare(cluster, n, SOURCE, OTHER) for n in names))
            for n in names:
                bare(cluster, n, OTHER, SOURCE)
            print(f'run {run + 1}: drain makespan {makespans[-1]:.2f} s, sum of bare '
                  f'migrations {sums[-1]:.2f} s, baseline {sums[-1] / parallel:.2f} s, '
                  f'ratio {makespans[-1] * parallel / sums[-1]:.2f}', flush=True)
        makespan = statistics.median(makespans)
        baseline = statistics.median(sums) / parallel
        print(f'{args.guests} guests, max_parallel {parallel}, {args.n} runs')
        print(f'median drain makespan {makespan:.2f} s; median sum of bare migrations '
              f'{statistics.median(sums):.2f} s / {parallel} = {baseline:.2f} s; '
              f'ratio {makespan / baseline:.2f}')
    finally:
        if proc is not None:
            proc.stop()
        cluster_mod.down(state_dir)


if __name__ == '__main__':
    main()
