"""Rebalance planning speed and quality on seeded synthetic skewed clusters.

For 20 hosts / 300 VMs, 200 / 1,500 and 1,000 / 7,500: prints the planning time (median of
--repeat runs, wall clock and CPU time of the process), the moves, and the standard
deviation of memory utilisation before and after. Where it is feasible (the small cluster;
--exhaustive-up-to hosts) it also runs the exhaustive greedy search, which re-scores every
candidate move from scratch, and prints its final spread and time next to the fast
planner's: the fast planner's spread must be no worse.

    .venv/bin/python -m benchmarks.planner [--repeat 3] [--seed 42] [--max-moves N]

The clusters: hosts of two sizes (256 GiB / 64 CPUs and 512 GiB / 96 CPUs); VMs of five
flavors (2-32 GiB, 1-8 vCPUs), two thirds of them packed onto the first quarter of the hosts
as long as they fit, the rest spread at random; 2 % of the VMs are not movable.
"""

import argparse
import random
import statistics
import sys
import time

from migrator.planner import exhaustive, model, search

SIZES = ((20, 300), (200, 1500), (1000, 7500))
HOST_CLASSES = ((256 * 1024, 64), (512 * 1024, 96))
FLAVORS = ((2048, 1), (4096, 2), (8192, 2), (16384, 4), (32768, 8))


def synthetic(hosts, vms, seed):
    rng = random.Random(seed)
    host_list = []
    for i in range(hosts):
        memory_mb, vcpus = HOST_CLASSES[i % 2]
        host_list.append(model.Host(f'host{i:04d}', memory_mb, vcpus, 2000))
    free = {h.name: h.memory_mb for h in host_list}
    hot = host_list[:max(1, hosts // 4)]
    instances = []
    for v in range(vms):
        memory_mb, vcpus = rng.choice(FLAVORS)
        pool = hot if rng.random() < 2 / 3 else host_list
        choices = [h for h in pool if free[h.name] >= memory_mb] or [
            h for h in host_list if free[h.name] >= memory_mb]
        host = rng.choice(choices)
        free[host.name] -= memory_mb
        instances.append(model.Instance(
            f'vm-{v:05d}', f'vm{v:05d}', host.name, memory_mb, vcpus, 20,
            movable=rng.random() >= 0.02,
            dirty_rate_bps=rng.choice((None, 2 ** 20, 16 * 2 ** 20, 64 * 2 ** 20))))
    return model.Cluster(host_list, instances)


def timed(planner, cluster, repeat, **kwargs):
    """(median wall seconds, median CPU seconds of this process, result). CPU time is the
    fairer figure on a shared machine: the planner is single-threaded."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = planner(cluster, **kwargs)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--max-moves', type=int, default=None,
                        help='Moves per plan (default: no limit, plan until no gain).')
    parser.add_argument('--min-gain', type=float, default=search.DEFAULT_MIN_GAIN)
    parser.add_argument('--exhaustive-up-to', type=int, default=20, metavar='HOSTS',
                        help='Run the exhaustive search on clusters up to this many hosts.')
    args = parser.parse_args(argv)
    worse = False
    print(f'{"hosts/VMs":>12} {"plan s":>8} {"cpu s":>8} {"moves":>6} {"jobsets":>7} '
          f'{"mem sd before":>13} {"mem sd after":>12} {"score after":>11} '
          f'{"exh. s":>8} {"exh. moves":>10} {"exh. mem sd":>11} {"exh. score":>10}')
    for hosts, vms in SIZES:
        cluster = synthetic(hosts, vms, args.seed)
        kwargs = {'max_moves': args.max_moves, 'min_gain': args.min_gain}
        seconds, cpu, fast = timed(search.plan, cluster, args.repeat, **kwargs)
        line = (f'{hosts:>5}/{vms:<6} {seconds:8.2f} {cpu:8.2f} {len(fast.moves):6d} '
                f'{len(fast.jobsets()):7d} {fast.score_before.memory_spread:13.4f} '
                f'{fast.score_after.memory_spread:12.4f} {fast.score_after.total:11.4f}')
        if hosts <= args.exhaustive_up_to:
            ex_seconds, ex_cpu, ref = timed(exhaustive.plan, cluster, 1, **kwargs)
            line += (f' {ex_seconds:8.2f} {len(ref.moves):10d} '
                     f'{ref.score_after.memory_spread:11.4f} {ref.score_after.total:10.4f}')
            if fast.score_after.memory_spread > ref.score_after.memory_spread + 1e-9:
                worse = True
                line += '  WORSE than exhaustive'
            else:
                line += f'  (speed-up x{ex_cpu / cpu:.0f} in CPU time)'
        print(line, flush=True)
    return 1 if worse else 0


if __name__ == '__main__':
    sys.exit(main())
