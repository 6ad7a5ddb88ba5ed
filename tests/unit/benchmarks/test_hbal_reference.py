"""The hbal-like reference (benchmarks/hbal_reference.py) on small hand-checked clusters: its
score, its greedy step, its stopping rules (max score, min gain under the min-gain limit), its
hard limits and its jobsets."""

import dataclasses
import math
import random

import pytest

from benchmarks import hbal_reference as hbal
from migrator.planner import model


def _vm(name, host, memory_mb, vcpus=1, **kwargs):
    return model.Instance(f'u-{name}', name, host, memory_mb, vcpus, **kwargs)


def test_score_sums_the_spreads_of_free_memory_disk_and_cpu_ratio_and_tag_conflicts():
    hosts = [model.Host('a', 1000, 2, 100), model.Host('b', 1000, 2, 100),
             model.Host('c', 2000, 4, 0)]
    vms = [_vm('1', 'a', 500, 2, disk_gb=50, shared_disk=False),
           _vm('2', 'a', 250, 1, group='g'), _vm('3', 'a', 250, 1, group='g'),
           _vm('4', 'c', 1000, 2)]
    m = hbal.metrics(model.Cluster(hosts, vms))
    # Free memory 0, 1, 0.5: sd sqrt(1/6). Disk only on a and b: free 0.5 and 1, sd 0.25.
    # vCPU ratios 4/2, 0, 2/4: sd of (2, 0, 0.5). Two of group g on a: one conflict.
    assert m['memory'] == pytest.approx(math.sqrt(1 / 6))
    assert m['disk'] == pytest.approx(0.25)
    mean = 2.5 / 3
    assert m['vcpu'] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in (2, 0, 0.5)) / 3))
    assert m['tags'] == 1


def test_one_move_evens_two_hosts_and_the_search_stops_at_max_score():
    hosts = [model.Host('a', 1000, 4), model.Host('b', 1000, 4)]
    cluster = model.Cluster(hosts, [_vm('vm2', 'a', 500, 2), _vm('vm1', 'a', 500, 2)])
    result = hbal.balance(cluster)
    # Score 0.5 + 0.5 before; moving either VM makes it 0: the first by name goes.
    assert result.score_before == pytest.approx(1.0)
    assert [(m.instance, m.source, m.target) for m in result.moves] == [('vm1', 'a', 'b')]
    assert result.score_after == pytest.approx(0.0)
    assert result.stop_reason == 'max_score'


def test_the_best_move_wins_over_the_first():
    hosts = [model.Host('a', 1000, 100), model.Host('b', 1000, 100), model.Host('c', 1000, 100)]
    # a at 0.9, b at 0.3, c at 0.3: the 300 MiB guest to b or c evens memory best (0.6, 0.6,
    # 0.3 -> sd 0.141) where the 100 MiB one only gets to sd 0.249.
    vms = [_vm('small', 'a', 100), _vm('vm-big', 'a', 300), _vm('rest', 'a', 500),
           _vm('x', 'b', 300), _vm('y', 'c', 300)]
    result = hbal.balance(model.Cluster(hosts, vms), max_length=1)
    assert [(m.instance, m.target) for m in result.moves] == [('vm-big', 'b')]
    assert result.stop_reason == 'max_length'


def _two_step_cluster():
    hosts = [model.Host('a', 10000, 1000), model.Host('b', 10000, 1000)]
    return model.Cluster(hosts, [_vm('vm1', 'a', 1000), _vm('vm2', 'a', 100)])


def test_min_gain_applies_only_below_the_min_gain_limit():
    cluster = _two_step_cluster()
    # Score about 0.055: moving vm1 gains about 0.045, less than a min gain of 0.05.
    start = hbal.metrics(cluster)
    assert 0.05 < sum(start.values()) < 0.06
    stopped = hbal.balance(cluster, min_gain=0.05, min_gain_limit=0.1)
    assert (stopped.moves, stopped.stop_reason) == ([], 'min_gain')
    # A score at or above the limit: the small step is still taken (hbal's --min-gain-limit).
    moved = hbal.balance(cluster, min_gain=0.05, min_gain_limit=0.05)
    assert [m.instance for m in moved.moves] == ['vm1']
    assert moved.score_after < stopped.score_after


def test_stops_when_no_move_lowers_the_score():
    hosts = [model.Host('a', 1000, 4), model.Host('b', 1000, 4)]
    cluster = model.Cluster(hosts, [_vm('vm1', 'a', 600, 2), _vm('vm2', 'b', 400, 2)])
    result = hbal.balance(cluster)
    assert (result.moves, result.stop_reason) == ([], 'no_gain')


def test_hard_limits_memory_cpu_ratio_and_disk_room_and_disabled_hosts():
    def cluster(**b):
        hosts = [model.Host('a', 1000, 100, 1000),
                 model.Host('b', b.get('memory', 1000), b.get('vcpus', 100), b.get('disk', 1000),
                            enabled=b.get('enabled', True)),
                 model.Host('c', 1000, 100, 1000)]
        # c holds a bit, so b (empty) is the better target for vm1 when it may take it.
        vms = [_vm('vm1', 'a', 500, 4, disk_gb=300, shared_disk=False),
               _vm('vm2', 'a', 400, 2, movable=False), _vm('vm3', 'c', 100, 1)]
        return model.Cluster(hosts, vms)

    def first_target(c, cpu_ratio=2.0):
        move = hbal.balance(c, cpu_ratio=cpu_ratio, max_length=1).moves[0]
        assert move.instance == 'vm1'
        return move.target

    assert first_target(cluster()) == 'b'
    assert first_target(cluster(memory=450)) == 'c'      # vm1 does not fit b's memory
    assert first_target(cluster(vcpus=1)) == 'c'        # 4 vCPUs > 1 CPU x ratio 2
    assert first_target(cluster(disk=200)) == 'c'       # its 300 GiB local disk has no room
    assert first_target(cluster(enabled=False)) == 'c'  # drained: takes no new guest


def test_an_unmovable_instance_stays():
    hosts = [model.Host('a', 1000, 4), model.Host('b', 1000, 4)]
    cluster = model.Cluster(hosts, [_vm('vm1', 'a', 500, 2, movable=False),
                                    _vm('vm2', 'a', 500, 2, movable=False)])
    assert hbal.balance(cluster).moves == []


def test_tag_conflicts_outweigh_spread():
    hosts = [model.Host('a', 1000, 100), model.Host('b', 1000, 100)]
    vms = [_vm('vm1', 'a', 100, group='db'), _vm('vm2', 'a', 100, group='db'),
           _vm('vm3', 'b', 700)]
    result = hbal.balance(model.Cluster(hosts, vms), max_length=1)
    # Spread alone says stay (b is the fuller host); the conflict says move one to b.
    assert [(m.instance, m.target) for m in result.moves] == [('vm1', 'b')]
    assert hbal.metrics(model.Cluster(hosts, vms), result.placement)['tags'] == 0


def test_jobsets_start_anew_when_a_move_touches_a_node_of_the_current_one():
    moves = [('a', 'b'), ('c', 'd'), ('a', 'c'), ('e', 'f'), ('f', 'a')]
    assert hbal.jobsets(moves) == [[('a', 'b'), ('c', 'd')], [('a', 'c'), ('e', 'f')],
                                   [('f', 'a')]]


@pytest.mark.parametrize('seed', range(5))
def test_the_incremental_score_of_every_step_matches_a_full_recount(seed):
    rng = random.Random(seed)
    hosts = [model.Host(f'h{i}', rng.choice((4096, 8192)), rng.choice((4, 8)),
                        rng.choice((0, 500))) for i in range(6)]
    vms = [_vm(f'vm{v}', f'h{rng.randrange(2)}', rng.choice((256, 512, 1024)),
               rng.choice((1, 2)), disk_gb=rng.choice((10, 40)),
               shared_disk=rng.random() < 0.5, group=rng.choice((None, None, 'g')))
           for v in range(24)]
    # Local disks only on hosts with disk: move those that are not to a host with some.
    vms = [dataclasses.replace(v, shared_disk=True) if not hosts[int(v.host[1:])].disk_gb
           else v for v in vms]
    cluster = model.Cluster(hosts, vms)
    result = hbal.balance(cluster, min_gain=0.0)
    placement = {}
    previous = result.score_before
    for move in result.moves:
        placement[next(v.uuid for v in vms if v.name == move.instance)] = move.target
        recount = sum(hbal.metrics(cluster, placement).values())
        assert move.score_after == pytest.approx(recount, abs=1e-9)
        assert move.score_after < previous
        previous = move.score_after
    assert result.score_after == pytest.approx(previous, abs=1e-9)
