"""The reference greedy search: every candidate move re-scored from scratch.

Same rules as search.plan (each instance moves at most once, the target must be enabled and
take the instance by the scheduler's limits: memory, vCPUs times the allocation ratio, local
disk room for copied disks; same tie-break), but each candidate's score is computed over the
whole cluster with score_from_usage, so it is O(instances x hosts x hosts) per move. It is
what the fast search must match: benchmarks/planner.py and the unit tests compare them on
clusters small enough for it.
"""

import time

from migrator.planner import duration as duration_mod
from migrator.planner import score as score_mod
from migrator.planner import search


def plan(cluster, max_moves=search.DEFAULT_MAX_MOVES, min_gain=search.DEFAULT_MIN_GAIN,
         config=score_mod.ScoreConfig(), durations=duration_mod.DurationModel(),
         min_gain_limit=search.DEFAULT_MIN_GAIN_LIMIT):
    started = time.perf_counter()
    hosts = cluster.hosts
    index = {h.name: i for i, h in enumerate(hosts)}
    memory_used, vcpus_used, groups = score_mod.usage(cluster)
    disk_used = [0] * len(hosts)
    for inst in cluster.instances:
        disk_used[index[inst.host]] += score_mod.local_disk_gb(inst)
    current = score_mod.score_from_usage(hosts, memory_used, vcpus_used, groups, config,
                                         disk_used)
    before = current
    where = {inst.uuid: index[inst.host] for inst in cluster.instances}
    candidates = [(search.preference(inst, durations), inst)
                  for inst in cluster.instances if inst.movable]
    moves = []
    stop_reason = search.STOP_MAX_MOVES
    stop_detail = f'reached max_moves ({max_moves})'
    while max_moves is None or len(moves) < max_moves:
        best = None
        for pref, inst in candidates:
            a = where[inst.uuid]
            for b, host in enumerate(hosts):
                disk = score_mod.local_disk_gb(inst)
                if b == a or not host.enabled or memory_used[b] + inst.memory_mb > host.memory_mb \
                        or vcpus_used[b] + inst.vcpus > host.vcpus * config.cpu_allocation_ratio \
                        or (disk and disk_used[b] + disk > host.disk_gb):
                    continue
                mem, cpu, grp = list(memory_used), list(vcpus_used), dict(groups)
                dsk = list(disk_used)
                dsk[a] -= disk
                dsk[b] += disk
                mem[a] -= inst.memory_mb
                mem[b] += inst.memory_mb
                cpu[a] -= inst.vcpus
                cpu[b] += inst.vcpus
                if inst.group is not None:
                    grp[(a, inst.group)] -= 1
                    grp[(b, inst.group)] = grp.get((b, inst.group), 0) + 1
                total = score_mod.score_from_usage(hosts, mem, cpu, grp, config, dsk).total
                key = (hosts[a].name, hosts[b].name, pref)
                if best is None or total < best[0] - search.GAIN_EPSILON or (
                        total <= best[0] + search.GAIN_EPSILON and key < best[1]):
                    best = (total, key, pref, inst, a, b)
        gain = current.total - best[0] if best else 0.0
        if best is None or gain <= search.GAIN_EPSILON:
            stop_reason, stop_detail = search.STOP_NO_GAIN, 'no move lowers the score'
            break
        if gain < min_gain and current.total < min_gain_limit:
            stop_reason, stop_detail = search.STOP_MIN_GAIN, f'best gain {gain:.3g}'
            break
        _total, _key, pref, inst, a, b = best
        memory_used[a] -= inst.memory_mb
        memory_used[b] += inst.memory_mb
        vcpus_used[a] -= inst.vcpus
        vcpus_used[b] += inst.vcpus
        if inst.group is not None:
            groups[(a, inst.group)] -= 1
            groups[(b, inst.group)] += 1
        disk_used[a] -= score_mod.local_disk_gb(inst)
        disk_used[b] += score_mod.local_disk_gb(inst)
        where[inst.uuid] = b
        candidates = [c for c in candidates if c[1] is not inst]
        current = score_mod.score_from_usage(hosts, memory_used, vcpus_used, groups, config,
                                             disk_used)
        moves.append(search.Move(
            seq=len(moves) + 1, instance_uuid=inst.uuid, instance_name=inst.name,
            source=hosts[a].name, target=hosts[b].name, memory_mb=inst.memory_mb,
            vcpus=inst.vcpus, disk_gb=inst.disk_gb, gain=gain, score_after=current.total,
            predicted_seconds=duration_mod.predict(inst, durations)))
    return search.finish(moves, before, current, stop_reason, stop_detail, started)
