"""The rebalance planner against the hbal-like reference on the same generated clusters.

For each cluster shape and seed both plan the same cluster, with the same hard limits (memory,
vCPUs times the allocation ratio, local disk room) and the same stopping threshold (min gain
0.01); the figures after each plan are computed by one function for both (the reference's
metrics of the final placement), so the spreads compare like with like. Prints per cluster the
moves (live migrations), jobsets, memory spread before and after, the vCPU and disk spreads
after, the score after (the reference's, for both), and the verdict: PASS when the planner
makes no more moves than the reference and its memory spread is at least as good (within
1e-9). "ours@ref" is how many of our moves
reach the reference's final memory spread. Exit 1 if any cluster fails.

    .venv/bin/python -m benchmarks.planner_vs_hbal [--seeds 3] [--min-gain 0.01]

Shapes (hosts of 256 GiB / 64 CPUs and 512 GiB / 96 CPUs, 2,000 GiB disk):

    skewed        20 hosts, 300 VMs of five flavors (2-32 GiB), two thirds packed on a quarter
                  of the hosts
    nearly        20 hosts, 300 VMs each on a host drawn in proportion to its memory (only
                  chance unevenness)
    small         30 hosts, 1,200 VMs of 1-2 GiB, skewed (the reference takes a few
                  seconds here)
    big           12 hosts, 40 VMs of 32-128 GiB, skewed
    vcpu          16 hosts, 100 CPU-heavy VMs (8-16 vCPUs, 4-8 GiB), allocation ratio 1.5,
                  skewed: the vCPU limit binds before memory does
    disk          16 hosts, every other one with only 200 GiB of local disk (1,500 GiB the
                  others), 100 VMs with local disks of 40-200 GiB (copied when they move),
                  skewed: disk room binds
"""

import argparse
import random
import statistics
import sys
import time

from benchmarks import hbal_reference
from migrator.planner import model, score, search

HOST_CLASSES = ((256 * 1024, 64), (512 * 1024, 96))
FLAVORS = ((2048, 1), (4096, 2), (8192, 2), (16384, 4), (32768, 8))
EPS = 1e-9


def _hosts(count, disk_gb=2000):
    return [model.Host(f'host{i:03d}', *HOST_CLASSES[i % 2], disk_gb) for i in range(count)]


def _fits(room, need):
    return all(r >= n for r, n in zip(room, need, strict=True))


def _place(rng, hosts, flavors, vms, hot_share, cpu_ratio=4.0, local_disk=False):
    """Instances of the flavors (memory, vcpus[, disk]) placed while they fit, hot_share of
    them on the first quarter of the hosts."""
    free = {h.name: [h.memory_mb, h.vcpus * cpu_ratio, h.disk_gb] for h in hosts}
    hot = hosts[:max(1, len(hosts) // 4)]
    instances = []
    for v in range(vms):
        flavor = rng.choice(flavors)
        memory_mb, vcpus = flavor[:2]
        disk = flavor[2] if local_disk else 20
        need = (memory_mb, vcpus, disk if local_disk else 0)
        pool = hot if rng.random() < hot_share else hosts
        choices = ([h for h in pool if _fits(free[h.name], need)]
                   or [h for h in hosts if _fits(free[h.name], need)])
        if not choices:
            continue
        host = rng.choice(choices)
        free[host.name][0] -= memory_mb
        free[host.name][1] -= vcpus
        if local_disk:
            free[host.name][2] -= disk
        instances.append(model.Instance(
            f'vm-{v:05d}', f'vm{v:05d}', host.name, memory_mb, vcpus, disk,
            movable=rng.random() >= 0.02, shared_disk=not local_disk))
    return model.Cluster(hosts, instances)


def skewed(rng):
    return _place(rng, _hosts(20), FLAVORS, 300, 2 / 3), 4.0


def nearly(rng):
    # Each VM on a host drawn in proportion to its memory: only chance leaves it uneven.
    hosts = _hosts(20)
    weights = [h.memory_mb for h in hosts]
    instances = []
    for v in range(300):
        memory_mb, vcpus = rng.choice(FLAVORS)
        host = rng.choices(hosts, weights)[0]
        instances.append(model.Instance(f'vm-{v:05d}', f'vm{v:05d}', host.name, memory_mb,
                                        vcpus, 20, movable=rng.random() >= 0.02))
    return model.Cluster(hosts, instances), 4.0


def small(rng):
    return _place(rng, _hosts(30), ((1024, 1), (2048, 1)), 1200, 2 / 3), 4.0


def big(rng):
    flavors = ((32768, 8), (65536, 16), (131072, 32))
    return _place(rng, _hosts(12), flavors, 40, 2 / 3), 4.0


def vcpu(rng):
    flavors = ((4096, 8), (8192, 12), (8192, 16))
    return _place(rng, _hosts(16), flavors, 100, 2 / 3, cpu_ratio=1.5), 1.5


def disk(rng):
    # Every other host has little local disk: memory would have guests go there, disk room
    # says no.
    hosts = [model.Host(h.name, h.memory_mb, h.vcpus, 1500 if i % 2 == 0 else 200)
             for i, h in enumerate(_hosts(16))]
    flavors = ((4096, 2, 40), (8192, 2, 80), (16384, 4, 200))
    return _place(rng, hosts, flavors, 100, 2 / 3, local_disk=True), 4.0


SHAPES = {'skewed': skewed, 'nearly': nearly, 'small': small, 'big': big, 'vcpu': vcpu,
          'disk': disk}


def _prefix_reaching(cluster, moves, spread, cpu_ratio):
    """How many of our moves (in plan order) bring the memory spread to spread or below."""
    placement = {}
    if hbal_reference.metrics(cluster, placement, cpu_ratio)['memory'] <= spread + EPS:
        return 0
    for count, move in enumerate(moves, 1):
        placement[move.instance_uuid] = move.target
        if hbal_reference.metrics(cluster, placement, cpu_ratio)['memory'] <= spread + EPS:
            return count
    return None


def compare(name, cluster, cpu_ratio, min_gain, **planner_kwargs):
    """One cluster: both plans and their figures, as a dict (planner_kwargs: more arguments
    of search.plan)."""
    started = time.process_time()
    ours = search.plan(cluster, max_moves=None, min_gain=min_gain,
                       config=score.ScoreConfig(cpu_allocation_ratio=cpu_ratio),
                       **planner_kwargs)
    ours_cpu = time.process_time() - started
    started = time.process_time()
    ref = hbal_reference.balance(cluster, cpu_ratio=cpu_ratio, min_gain=min_gain)
    ref_cpu = time.process_time() - started
    before = hbal_reference.metrics(cluster, None, cpu_ratio)
    ours_after = hbal_reference.metrics(
        cluster, {m.instance_uuid: m.target for m in ours.moves}, cpu_ratio)
    ref_after = hbal_reference.metrics(cluster, ref.placement, cpu_ratio)
    ok = (len(ours.moves) <= ref.migrations
          and ours_after['memory'] <= ref_after['memory'] + EPS)
    return {
        'name': name, 'hosts': len(cluster.hosts), 'vms': len(cluster.instances),
        'moves': len(ours.moves), 'ref_moves': ref.migrations,
        'jobsets': len(ours.jobsets()), 'ref_jobsets': len(ref.jobsets()),
        'mem_before': before['memory'], 'mem': ours_after['memory'],
        'ref_mem': ref_after['memory'], 'vcpu': ours_after['vcpu'],
        'ref_vcpu': ref_after['vcpu'], 'disk': ours_after['disk'],
        'ref_disk': ref_after['disk'], 'score': sum(ours_after.values()),
        'ref_score': sum(ref_after.values()),
        'reach': _prefix_reaching(cluster, ours.moves, ref_after['memory'], cpu_ratio),
        'cpu_s': ours_cpu, 'ref_cpu_s': ref_cpu, 'ok': ok,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, default=3, help='Seeds per shape (1..N).')
    parser.add_argument('--min-gain', type=float, default=search.DEFAULT_MIN_GAIN)
    parser.add_argument('--shapes', nargs='*', default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args(argv)
    print(f'{"cluster":<10} {"hosts/VMs":>9} {"moves":>11} {"ours@ref":>8} {"jobsets":>9} '
          f'{"mem sd before":>13} {"mem sd after":>15} {"vcpu sd after":>15} '
          f'{"disk sd after":>15} {"score after":>15} {"cpu s":>11}  verdict')
    print(f'{"":<10} {"":>9} {"ours/ref":>11} {"":>8} {"ours/ref":>9} {"":>13} '
          f'{"ours/ref":>15} {"ours/ref":>15} {"ours/ref":>15} {"ours/ref":>15} '
          f'{"ours/ref":>11}')
    rows = []
    for shape in args.shapes:
        for seed in range(1, args.seeds + 1):
            cluster, cpu_ratio = SHAPES[shape](random.Random(seed))
            r = compare(f'{shape}-{seed}', cluster, cpu_ratio, args.min_gain)
            rows.append(r)
            reach = '-' if r['reach'] is None else str(r['reach'])
            pairs = ' '.join(f'{r[k]:7.4f}/{r["ref_" + k]:<7.4f}'
                             for k in ('mem', 'vcpu', 'disk', 'score'))
            verdict = 'PASS' if r['ok'] else 'FAIL'
            print(f'{r["name"]:<10} {r["hosts"]:>4}/{r["vms"]:<4} '
                  f'{r["moves"]:>5}/{r["ref_moves"]:<5} {reach:>8} '
                  f'{r["jobsets"]:>4}/{r["ref_jobsets"]:<4} {r["mem_before"]:13.4f} {pairs} '
                  f'{r["cpu_s"]:5.2f}/{r["ref_cpu_s"]:<5.1f}  '
                  f'{verdict} ≤ hbal moves with ≥ as good a spread', flush=True)
    passed = sum(r['ok'] for r in rows)
    ratio = statistics.median(r['moves'] / r['ref_moves'] for r in rows if r['ref_moves'])
    print(f'summary: {passed}/{len(rows)} clusters with no more moves than the reference for '
          f'a memory spread at least as good; moves ours/ref {sum(r["moves"] for r in rows)}/'
          f'{sum(r["ref_moves"] for r in rows)}, median ratio {ratio:.2f}')
    return 0 if passed == len(rows) else 1


if __name__ == '__main__':
    sys.exit(main())
