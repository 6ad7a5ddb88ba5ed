"""Convergence strategies: how long a guest that does not converge on its own takes to move.

Brings up a 2-host sandbox and migrator-all; then, N times per strategy, round-robin, boots a
fresh guest that dirties its memory faster than the bandwidth cap (the figures of
tests/functional/convergence; fresh because such a TCG guest sometimes crashes after a
completed migration, and a dead guest converges at once) and moves it through the REST API:

  uncapped     no bandwidth cap: the baseline (it converges)
  auto         cap + auto-converge
  post_copy    cap + post-copy permitted, force-complete once the 2nd iteration starts
  pause        cap, force-complete (pauses the guest) once the 2nd iteration starts

Prints per strategy the median time from POST to `completed`, the median downtime libvirt
reported, and the ratio of the time to the baseline's.

    .venv/bin/python -m benchmarks.convergence [-n 3]
"""

import argparse
import statistics
import tempfile
import time

import libvirt

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

MEMORY_MIB, DIRTY_MIB, CAP_MIB = 128, 32, 16

STRATEGIES = {
    'uncapped': ({}, False),
    'auto': ({'bandwidth_mib': CAP_MIB, 'auto_converge': True}, False),
    'post_copy': ({'bandwidth_mib': CAP_MIB, 'post_copy': True}, True),
    'pause': ({'bandwidth_mib': CAP_MIB}, True),
}


def migrate(api, name, target, controls, force):
    started = time.monotonic()
    response = api.post('/v1/migrations', {'instance': name, 'target_host': target,
                                           'completion_timeout_per_gib': 0, **controls})
    assert response.status_code == 202, response.text
    mid = response.json()['id']
    if force:
        processes.wait_until(
            lambda: (api.get(f'/v1/migrations/{mid}').json().get('iteration') or 0) >= 2,
            120, 'the second iteration', interval=0.1)
        forced = api.post(f'/v1/migrations/{mid}/action', {'force_complete': None})
        assert forced.status_code == 202, forced.text
    done = api.wait_for_migration(mid, timeout=300)
    elapsed = time.monotonic() - started
    assert done['status'] == 'completed', done
    return elapsed, done['downtime_ms']


def fresh_guest(state_dir, api):
    name = cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared',
                                 memory_mib=MEMORY_MIB, dirty_rate_mib=DIRTY_MIB)['name']
    processes.wait_until(lambda: api.instance(name), 30, f'{name} to be reported')
    return name


def remove_guest(cluster, name):
    for host in cluster['hosts']:
        conn = probe.open_host(host)
        try:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=3, help='migrations per strategy')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='migrator-bench-conv-')
    state_dir = f'{work}/sandbox'
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    proc = None
    try:
        cluster = cluster_mod.load(state_dir)
        proc, api = processes.start_migrator_all(work, state_dir,
                                                 compute={'progress_interval': 0.5})
        processes.wait_until(lambda: api.hosts_up(['sandbox-host1', 'sandbox-host2']), 60,
                             'both hosts')
        results = {strategy: [] for strategy in STRATEGIES}
        for _ in range(args.n):
            for strategy, (controls, force) in STRATEGIES.items():
                name = fresh_guest(state_dir, api)
                try:
                    results[strategy].append(
                        migrate(api, name, 'sandbox-host2', controls, force))
                finally:
                    remove_guest(cluster, name)
        baseline = statistics.median(t for t, _ in results['uncapped'])
        print(f'guest {MEMORY_MIB} MiB dirtying {DIRTY_MIB} MiB/s; cap {CAP_MIB} MiB/s; '
              f'{args.n} runs each')
        for strategy, runs in results.items():
            times = [t for t, _ in runs]
            downtimes = [d for _, d in runs if d is not None]
            median = statistics.median(times)
            downtime = statistics.median(downtimes) if downtimes else float('nan')
            print(f'{strategy:10s} times {[round(t, 1) for t in times]}  median {median:6.1f} s'
                  f'  downtime median {downtime:7.0f} ms  ratio to uncapped '
                  f'{median / baseline:5.2f}')
    finally:
        if proc is not None:
            proc.stop()
        cluster_mod.down(state_dir)


if __name__ == '__main__':
    main()
