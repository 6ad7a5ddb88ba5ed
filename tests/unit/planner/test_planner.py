"""The planner's pure logic: score, incremental deltas, greedy search, jobsets, durations."""

import math
import random

import pytest

from migrator.planner import duration, exhaustive, jobsets, model, score, search

MIB = 2 ** 20


def _cluster(hosts, instances):
    return model.Cluster([model.Host(*h) if isinstance(h, tuple) else h for h in hosts],
                         [model.Instance(*i) if isinstance(i, tuple) else i
                          for i in instances])


def _random_cluster(seed, hosts=8, vms=60, groups=0):
    rng = random.Random(seed)
    host_list = [model.Host(f'h{i}', rng.choice((8192, 16384)), rng.choice((4, 8)),
                            enabled=rng.random() > 0.1) for i in range(hosts)]
    free = {h.name: h.memory_mb for h in host_list}
    instances = []
    for v in range(vms):
        memory_mb = rng.choice((256, 512, 1024, 2048))
        host = rng.choice([h for h in host_list[:max(2, hosts // 3)]
                           if free[h.name] >= memory_mb] or host_list)
        free[host.name] -= memory_mb
        instances.append(model.Instance(
            f'u{v}', f'vm{v}', host.name, memory_mb, rng.choice((1, 2, 4)),
            movable=rng.random() > 0.1,
            group=f'g{rng.randrange(groups)}' if groups and rng.random() < 0.3 else None,
            dirty_rate_bps=rng.choice((None, MIB, 50 * MIB))))
    return model.Cluster(host_list, instances)


# -- score ------------------------------------------------------------------------------------

def test_even_cluster_scores_zero_and_skew_scores_its_spreads():
    hosts = [('a', 1000, 4), ('b', 1000, 4)]
    even = _cluster(hosts, [('1', 'vm1', 'a', 500, 2), ('2', 'vm2', 'b', 500, 2)])
    assert score.cluster_score(even).total == 0.0
    skewed = _cluster(hosts, [('1', 'vm1', 'a', 500, 2), ('2', 'vm2', 'a', 500, 2)])
    s = score.cluster_score(skewed)
    # Utilisations 1.0 and 0.0: standard deviation 0.5 in both dimensions.
    assert (s.memory_spread, s.vcpu_spread, s.overcommit, s.violations) == (0.5, 0.5, 0, 0)
    assert s.total == pytest.approx(1.0)


def test_penalties_for_overcommit_and_anti_affinity():
    hosts = [('a', 1000, 1), ('b', 1000, 1)]
    over = _cluster(hosts, [('1', 'vm1', 'a', 1200, 6)])
    s = score.cluster_score(over, score.ScoreConfig(cpu_allocation_ratio=4.0))
    # Memory 20 % over, vCPUs 6 of 4 allowed: 50 % over.
    assert s.overcommit == pytest.approx(0.2 + 0.5)
    assert s.total == pytest.approx(s.memory_spread + s.vcpu_spread + 10 * 0.7)
    grouped = _cluster(hosts, [model.Instance(str(i), f'vm{i}', 'a', 100, 1, group='db')
                               for i in range(3)])
    assert score.cluster_score(grouped).violations == 2


def test_incremental_score_matches_scratch_for_every_move():
    cluster = _random_cluster(1, groups=3)
    state = score.ScoreState(cluster)
    assert state.total == pytest.approx(score.cluster_score(cluster).total, abs=1e-12)
    rng = random.Random(2)
    placement = {i.uuid: i.host for i in cluster.instances}
    for _ in range(200):
        inst = rng.choice(cluster.instances)
        a = state.index[placement[inst.uuid]]
        b = rng.randrange(state.n)
        if a == b:
            continue
        predicted = state.score_after(inst.memory_mb, inst.vcpus, inst.group, a, b)
        placement[inst.uuid] = state.hosts[b].name
        scratch = score.cluster_score(cluster, placement=placement).total
        assert predicted == pytest.approx(scratch, abs=1e-9)
        state.apply(inst.memory_mb, inst.vcpus, inst.group, a, b)
        assert state.total == pytest.approx(scratch, abs=1e-9)


# -- greedy search ----------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(6))
def test_fast_search_makes_the_same_moves_as_the_exhaustive_one(seed):
    cluster = _random_cluster(seed, groups=2 if seed % 2 else 0)
    fast = search.plan(cluster, max_moves=None)
    ref = exhaustive.plan(cluster, max_moves=None)
    assert [(m.instance_uuid, m.target) for m in fast.moves] == [
        (m.instance_uuid, m.target) for m in ref.moves]
    assert fast.score_after.total == pytest.approx(ref.score_after.total, abs=1e-9)
    assert fast.score_after.total < fast.score_before.total


def test_each_move_lowers_the_score_and_respects_the_rules():
    cluster = _random_cluster(7, hosts=10, vms=80, groups=3)
    plan = search.plan(cluster, max_moves=None)
    hosts = {h.name: h for h in cluster.hosts}
    instances = {i.uuid: i for i in cluster.instances}
    placement = {i.uuid: i.host for i in cluster.instances}
    previous = plan.score_before.total
    for move in plan.moves:
        inst = instances[move.instance_uuid]
        assert inst.movable and hosts[move.target].enabled
        assert placement[inst.uuid] == move.source != move.target
        placement[inst.uuid] = move.target
        used = sum(instances[u].memory_mb for u, h in placement.items() if h == move.target)
        assert used <= hosts[move.target].memory_mb
        now = score.cluster_score(cluster, placement=placement).total
        assert now == pytest.approx(move.score_after, abs=1e-9)
        assert move.gain == pytest.approx(previous - now, abs=1e-9) and move.gain > 0
        previous = now
    assert len({m.instance_uuid for m in plan.moves}) == len(plan.moves)  # each moves once


def test_anti_affinity_violations_are_resolved_first():
    hosts = [('a', 4096, 4), ('b', 4096, 4), ('c', 4096, 4)]
    cluster = _cluster(hosts, [model.Instance(f'u{i}', f'db{i}', 'a', 256, 1, group='db')
                               for i in range(3)])
    plan = search.plan(cluster)
    assert plan.score_before.violations == 2 and plan.score_after.violations == 0
    assert sorted(m.target for m in plan.moves) == ['b', 'c']


def test_disabled_hosts_take_nothing_and_immovable_guests_stay():
    hosts = [('a', 4096, 4), model.Host('b', 4096, 4, enabled=False), ('c', 4096, 4)]
    cluster = _cluster(hosts, [('1', 'vm1', 'a', 1024, 1), ('2', 'vm2', 'a', 1024, 1),
                               model.Instance('3', 'pinned', 'a', 1024, 1, movable=False)])
    plan = search.plan(cluster)
    assert {m.target for m in plan.moves} == {'c'}
    assert '3' not in {m.instance_uuid for m in plan.moves}


def test_a_guest_that_fits_nowhere_is_not_moved():
    cluster = _cluster([('a', 4096, 4), ('b', 1024, 4)], [('1', 'big', 'a', 2048, 1)])
    plan = search.plan(cluster)
    assert plan.moves == [] and plan.stop_reason == search.STOP_NO_GAIN


def test_stopping_rules():
    cluster = _random_cluster(3, hosts=6, vms=40)
    unlimited = search.plan(cluster, max_moves=None, min_gain=0)
    assert unlimited.stop_reason == search.STOP_NO_GAIN and len(unlimited.moves) > 3
    limited = search.plan(cluster, max_moves=3, min_gain=0)
    assert len(limited.moves) == 3 and limited.stop_reason == search.STOP_MAX_MOVES
    assert [m.instance_uuid for m in limited.moves] == [
        m.instance_uuid for m in unlimited.moves[:3]]
    threshold = unlimited.moves[4].gain * 1.0000001
    gainful = search.plan(cluster, max_moves=None, min_gain=threshold,
                          min_gain_limit=math.inf)
    assert gainful.stop_reason == search.STOP_MIN_GAIN
    assert all(m.gain >= threshold for m in gainful.moves)
    assert len(gainful.moves) < len(unlimited.moves)
    assert search.plan(cluster, min_gain=math.inf, min_gain_limit=math.inf).moves == []


def _even_able_cluster(seed):
    """Four equal hosts with CPUs to spare, 12 of 20 small guests on the first: a cluster the
    planner can bring below the min-gain limit."""
    rng = random.Random(seed)
    hosts = [model.Host(f'h{i}', 10000, 1000) for i in range(4)]
    return model.Cluster(hosts, [
        model.Instance(f'u{v}', f'vm{v}', 'h0' if v < 12 else f'h{rng.randrange(4)}',
                       rng.choice((300, 500, 700)), 1) for v in range(20)])


def test_every_move_must_buy_its_cost_once_the_score_is_below_the_min_gain_limit():
    cluster = _even_able_cluster(0)
    free = search.plan(cluster, max_moves=None, min_gain=0)
    costed = search.plan(cluster, max_moves=None)
    assert costed.stop_reason == search.STOP_MIN_GAIN
    assert costed.score_after.total < search.DEFAULT_MIN_GAIN_LIMIT
    assert 'below 0.1' in costed.stop_detail
    assert all(m.gain >= search.DEFAULT_MIN_GAIN for m in costed.moves)
    assert len(costed.moves) < len(free.moves)
    # The moves it makes are the free plan's first ones: the cost cuts the tail only.
    assert [m.instance_uuid for m in costed.moves] == [
        m.instance_uuid for m in free.moves[:len(costed.moves)]]


def test_min_gain_waits_for_the_min_gain_limit_as_hbal_does():
    # A cluster whose score never gets below 0.1 (hosts of mixed sizes, memory and vCPUs
    # cannot both be even): hbal takes every step that lowers the score there, since a small
    # step may open the way to bigger ones -- here a 0.0051 gain comes before a 0.04 one.
    cluster = _random_cluster(5, hosts=6, vms=40)
    free = search.plan(cluster, max_moves=None, min_gain=0)
    plan = search.plan(cluster, max_moves=None)
    assert plan.score_after.total >= search.DEFAULT_MIN_GAIN_LIMIT
    assert [m.instance_uuid for m in plan.moves] == [m.instance_uuid for m in free.moves]
    assert plan.stop_reason == search.STOP_NO_GAIN
    # Applied at every step, min_gain stops early and leaves a worse spread.
    early = search.plan(cluster, max_moves=None, min_gain_limit=math.inf)
    assert early.stop_reason == search.STOP_MIN_GAIN and len(early.moves) < len(plan.moves)
    assert early.score_after.total > plan.score_after.total + 0.01
    assert early.score_after.memory_spread > plan.score_after.memory_spread


def test_a_plan_cut_short_by_max_moves_says_how_much_gain_was_left():
    cluster = _random_cluster(3, hosts=6, vms=40)
    whole = search.plan(cluster, max_moves=None, min_gain=0)
    cut = search.plan(cluster, max_moves=2, min_gain=0)
    assert cut.truncated and cut.stop_reason == search.STOP_MAX_MOVES
    assert cut.remaining_moves == len(whole.moves) - 2
    assert cut.remaining_gain == pytest.approx(cut.score_after.total - whole.score_after.total,
                                               abs=1e-9)
    assert f'{cut.remaining_moves} more move(s)' in cut.stop_detail
    # The plan itself is not changed by the look ahead.
    assert cut.score_after == search.plan(cluster, max_moves=2, min_gain=0).score_after
    assert cut.as_dict()['truncated'] is True
    assert not whole.truncated and whole.remaining_gain is None


def test_vcpu_allocation_ratio_is_a_hard_limit():
    # Scored on memory alone, vm1 to b is the best move; but b's 1 CPU at ratio 2 allows 2
    # vCPUs and vm1 has 4: the plan moves the next best instead and never vm1.
    cluster = _cluster([('a', 8192, 8), ('b', 8192, 1)],
                       [('1', 'vm1', 'a', 4096, 4), ('2', 'vm2', 'a', 2048, 1),
                        ('3', 'vm3', 'a', 1024, 1)])
    memory_only = score.ScoreConfig(vcpu_weight=0, overcommit_weight=0)
    assert search.plan(cluster, config=memory_only, min_gain=0).moves[0].instance_name == 'vm1'
    config = score.ScoreConfig(vcpu_weight=0, overcommit_weight=0, cpu_allocation_ratio=2.0)
    for planner in (search.plan, exhaustive.plan):
        moved = [m.instance_name for m in planner(cluster, config=config, min_gain=0).moves]
        assert moved[0] == 'vm2' and 'vm1' not in moved


def test_local_disk_room_is_a_hard_limit_for_guests_whose_disks_are_copied():
    hosts = [model.Host('a', 8192, 8, disk_gb=100), model.Host('b', 8192, 8, disk_gb=30),
             model.Host('c', 8192, 8, disk_gb=100)]
    local = [model.Instance(f'{i}', f'local{i}', 'a', 2048, 1, disk_gb=40, shared_disk=False)
             for i in range(2)]
    shared = model.Instance('s', 'shared', 'a', 2048, 1, disk_gb=40)
    cluster = _cluster(hosts, local + [shared])
    for planner in (search.plan, exhaustive.plan):
        plan = planner(cluster, min_gain=0)
        placed = {m.instance_name: m.target for m in plan.moves}
        # b's 30 GiB cannot take a 40 GiB copy; a disk on shared storage needs no room.
        assert all(target != 'b' for name, target in placed.items() if name != 'shared')
        assert len(plan.moves) == 2


def _local_disk_cluster(seed, hosts=6, vms=40):
    """A skewed cluster where a third of the guests have local disks (copied when they move)
    and the hosts local disks of two sizes."""
    rng = random.Random(seed)
    host_list = [model.Host(f'h{i}', rng.choice((8192, 16384)), rng.choice((4, 8)),
                            rng.choice((200, 400))) for i in range(hosts)]
    disk_free = {h.name: h.disk_gb for h in host_list}
    instances = []
    for v in range(vms):
        local = rng.random() < 1 / 3
        disk_gb = rng.choice((10, 20, 40))
        host = rng.choice([h for h in host_list[:2]
                           if not local or disk_free[h.name] >= disk_gb] or host_list)
        if local:
            disk_free[host.name] -= disk_gb
        instances.append(model.Instance(f'u{v}', f'vm{v}', host.name,
                                        rng.choice((256, 512, 1024)), rng.choice((1, 2)),
                                        disk_gb, shared_disk=not local))
    return model.Cluster(host_list, instances)


def test_disk_spread_is_the_spread_of_copied_disks_over_hosts_with_a_disk():
    hosts = [model.Host('a', 1000, 2, 100), model.Host('b', 1000, 2, 200),
             model.Host('c', 1000, 2, 0)]
    vms = [model.Instance('1', 'vm1', 'a', 500, 1, 50, shared_disk=False),
           model.Instance('2', 'vm2', 'b', 500, 1, 50),        # shared: takes no local room
           model.Instance('3', 'vm3', 'c', 500, 1, 50)]
    s = score.cluster_score(model.Cluster(hosts, vms))
    # Local disk use 0.5 on a, 0 on b; c has no local disk and does not count.
    assert s.disk_spread == pytest.approx(0.25)
    assert s.total == pytest.approx(s.memory_spread + s.vcpu_spread + 0.25)
    assert score.cluster_score(model.Cluster(hosts, vms),
                               score.ScoreConfig(disk_weight=0)).total == pytest.approx(
        s.memory_spread + s.vcpu_spread)


def test_incremental_disk_spread_matches_scratch_for_every_move():
    cluster = _local_disk_cluster(1)
    state = score.ScoreState(cluster)
    rng = random.Random(3)
    placement = {i.uuid: i.host for i in cluster.instances}
    for _ in range(200):
        inst = rng.choice(cluster.instances)
        a = state.index[placement[inst.uuid]]
        b = rng.randrange(state.n)
        if a == b:
            continue
        disk = score.local_disk_gb(inst)
        predicted = state.score_after(inst.memory_mb, inst.vcpus, inst.group, a, b, disk)
        placement[inst.uuid] = state.hosts[b].name
        scratch = score.cluster_score(cluster, placement=placement)
        assert predicted == pytest.approx(scratch.total, abs=1e-9)
        state.apply(inst.memory_mb, inst.vcpus, inst.group, a, b, disk)
        assert state.total == pytest.approx(scratch.total, abs=1e-9)
        assert state.score().disk_spread == pytest.approx(scratch.disk_spread, abs=1e-9)


@pytest.mark.parametrize('seed', range(4))
def test_fast_search_matches_the_exhaustive_one_with_local_disks(seed):
    cluster = _local_disk_cluster(seed)
    fast = search.plan(cluster, max_moves=None)
    ref = exhaustive.plan(cluster, max_moves=None)
    assert any(not cluster.instances[int(m.instance_uuid[1:])].shared_disk
               for m in fast.moves)
    assert [(m.instance_uuid, m.target) for m in fast.moves] == [
        (m.instance_uuid, m.target) for m in ref.moves]
    assert fast.score_after.total == pytest.approx(ref.score_after.total, abs=1e-9)


def test_local_disk_use_is_evened_as_hbal_does():
    # Memory and vCPUs are as even as they get; a's local disk is 80 % full, b's empty. As
    # hbal's free-disk term would, the planner moves one local-disk guest to b.
    hosts = [model.Host('a', 8192, 8, 100), model.Host('b', 8192, 8, 100)]
    vms = [model.Instance('x1', 'x1', 'a', 512, 1, 40, shared_disk=False),
           model.Instance('x2', 'x2', 'a', 512, 1, 40, shared_disk=False),
           model.Instance('y', 'y', 'b', 1024, 1, 40)]
    cluster = model.Cluster(hosts, vms)
    for planner in (search.plan, exhaustive.plan):
        plan = planner(cluster)
        assert [(m.source, m.target) for m in plan.moves] == [('a', 'b')]
        assert plan.moves[0].instance_name in ('x1', 'x2')
        assert plan.score_after.disk_spread == 0.0
        assert plan.score_before.disk_spread == pytest.approx(0.4)


def test_balanced_cluster_needs_no_moves():
    cluster = _cluster([('a', 1000, 2), ('b', 1000, 2)],
                       [('1', 'vm1', 'a', 100, 1), ('2', 'vm2', 'b', 100, 1)])
    plan = search.plan(cluster)
    assert plan.moves == [] and plan.predicted_seconds == 0


# -- jobsets ----------------------------------------------------------------------------------

def test_jobsets_touch_disjoint_hosts_and_keep_the_order_of_shared_hosts():
    moves = [('a', 'b'), ('c', 'd'), ('a', 'e'), ('f', 'b'), ('g', 'h'), ('e', 'c')]
    assigned = jobsets.assign(moves)
    assert assigned == [0, 0, 1, 1, 0, 2]
    by_set = {}
    for (source, target), js in zip(moves, assigned, strict=True):
        touched = by_set.setdefault(js, set())
        assert source not in touched and target not in touched
        touched.update((source, target))
    capped = jobsets.assign(moves, max_parallel=2)
    assert max(capped.count(j) for j in set(capped)) <= 2
    for i, (mi, ji) in enumerate(zip(moves, capped, strict=True)):
        for mj, jj in zip(moves[i + 1:], capped[i + 1:], strict=True):
            if set(mi) & set(mj):
                assert ji < jj


def test_plan_jobsets_are_disjoint_and_predicted_time_is_their_longest_moves():
    plan = search.plan(_random_cluster(4, hosts=12, vms=90), max_moves=None)
    sets = plan.jobsets()
    assert len(sets) < len(plan.moves)  # some moves run in parallel
    for moves in sets:
        hosts = [h for m in moves for h in (m.source, m.target)]
        assert len(hosts) == len(set(hosts))
    assert plan.predicted_seconds == pytest.approx(
        sum(max(m.predicted_seconds for m in s) for s in sets), abs=1e-3)


# -- durations --------------------------------------------------------------------------------

def test_predicted_duration_grows_with_memory_dirty_rate_and_local_disks():
    m = duration.DurationModel(bandwidth_bps=100 * MIB, default_dirty_rate_bps=0,
                               overhead_seconds=1.0)

    def guest(**kw):
        return model.Instance('u', 'vm', 'h', **{'memory_mb': 1000, 'vcpus': 1, **kw})

    idle = duration.predict(guest(dirty_rate_bps=0), m)
    assert idle == pytest.approx(1.0 + 10.0)  # one pass of 1000 MiB at 100 MiB/s
    busy = duration.predict(guest(dirty_rate_bps=50 * MIB), m)
    assert busy > idle
    # Passes of 10 s, 5 s, 2.5 s, ... until at most 30 MiB (0.3 s of downtime) are left:
    # 15.6 MiB after the sixth, sent in the pause.
    assert busy == pytest.approx(
        1.0 + 10 * (1 + 0.5 + 0.25 + 0.125 + 0.0625 + 0.03125) + 0.15625, abs=0.001)
    assert duration.predict(guest(memory_mb=2000, dirty_rate_bps=0), m) > idle
    local = duration.predict(guest(dirty_rate_bps=0, disk_gb=1, shared_disk=False), m)
    assert local == pytest.approx(idle + 1024 / 100)
    unknown = duration.predict(guest(), duration.DurationModel(
        bandwidth_bps=100 * MIB, default_dirty_rate_bps=50 * MIB, overhead_seconds=1.0))
    assert unknown == pytest.approx(busy)
    # Dirtying as fast as the link: no convergence, capped at max_iterations passes.
    stuck = duration.predict(guest(dirty_rate_bps=200 * MIB), m)
    assert stuck == pytest.approx(1.0 + 10.0 * (m.max_iterations + 1))
