"""The greedy planner: move after move, the one move that lowers the score most.

A move takes one movable instance to another enabled host that can take it by the limits the
scheduler enforces (score.ScoreState.fits): memory, vCPUs times the allocation ratio, and
local disk room for an instance whose disks are copied. Each instance moves at most once per
plan, so applying a plan is one migration per guest.

Every move costs a live migration, so a move must buy its cost: the search stops when the
best move left gains less than min_gain (as hbal's minimum gain per step; the default,
[planner] default_min_gain, is one hundredth of the score) while the score is already below
min_gain_limit (hbal's --min-gain-limit, [planner] min_gain_limit, 0.1: on a badly balanced
cluster a small step still counts, since the steps after it may gain much, and a search that
stops there leaves a spread hbal improves on), when no move lowers the score, or at
max_moves. A plan cut short by max_moves says so: the search goes on without recording
moves to tell how much gain, and how many more moves, were left (remaining_gain,
remaining_moves).

Finding the best move fast, yet exactly: the score after a move depends on the source only
through the source's memory and vCPU utilisation (and its capacity), and gets no worse when
the source is more loaded; likewise it gets no worse when the target is less loaded. So among
hosts of one capacity class the best source for an instance size is on the Pareto front of
the most loaded hosts holding that size, and the best target is on the Pareto front of the
least loaded enabled hosts (a host that is less loaded in both dimensions also has room
whenever the other has). A host on both fronts is paired with the front of the others (from
the first two layers), since it cannot move to itself. Each candidate's score comes in O(1)
from ScoreState's sums, and pairs are tried in the order of a separable lower bound (the
square root lies above its chord), which cuts the rest once the bound passes the best move
so far. Fronts are cached and rebuilt only for the hosts a move touched. Instances in
anti-affinity groups are scored against every enabled host, since their group changes the
order: they are expected to be few. So are instances with local disks (their copy needs
room on the target's disk, a third limit the fronts do not order, and changes the disk
spread), scored the same way; a move of any other instance leaves the disk spread as it is.
"""

import dataclasses
import math
import time

from migrator.planner import duration as duration_mod
from migrator.planner import jobsets as jobsets_mod
from migrator.planner import score as score_mod

DEFAULT_MAX_MOVES = 100
# The least a move must lower the score to be worth a live migration (hbal's default
# minimum gain per step): one point of memory spread in a hundred.
DEFAULT_MIN_GAIN = 0.01
# min_gain applies only once the score is below this (hbal's --min-gain-limit): on a badly
# balanced cluster a small step may open the way to big ones, so it is still taken.
DEFAULT_MIN_GAIN_LIMIT = 0.1
# After a cut by max_moves, how many more moves the search looks at to tell what was left.
REMAINING_LOOKAHEAD = 1000
# A move must lower the score by more than rounding noise to count as a gain.
GAIN_EPSILON = 1e-12

STOP_MAX_MOVES = 'max_moves'
STOP_MIN_GAIN = 'min_gain'
STOP_NO_GAIN = 'no_gain'


@dataclasses.dataclass
class Move:
    seq: int
    instance_uuid: str
    instance_name: str
    source: str
    target: str
    memory_mb: int
    vcpus: int
    disk_gb: int
    gain: float
    score_after: float
    predicted_seconds: float
    jobset: int = 0

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Plan:
    moves: list
    score_before: score_mod.Score
    score_after: score_mod.Score
    stop_reason: str
    stop_detail: str
    planning_seconds: float = 0.0
    # Only for a plan cut short by max_moves: what the search would still gain (score) and
    # in how many moves; None otherwise.
    remaining_gain: float | None = None
    remaining_moves: int | None = None

    @property
    def truncated(self):
        return self.stop_reason == STOP_MAX_MOVES

    def jobsets(self):
        sets = []
        for move in self.moves:
            while len(sets) <= move.jobset:
                sets.append([])
            sets[move.jobset].append(move)
        return sets

    @property
    def predicted_seconds(self):
        """Jobsets run one after the other; a jobset takes as long as its longest move."""
        return round(sum(max(m.predicted_seconds for m in js) for js in self.jobsets()), 3)

    def as_dict(self):
        return {
            'score_before': self.score_before.as_dict(),
            'score_after': self.score_after.as_dict(),
            'predicted_seconds': self.predicted_seconds,
            'jobsets': len(self.jobsets()),
            'stop_reason': self.stop_reason,
            'stop_detail': self.stop_detail,
            'truncated': self.truncated,
            'remaining_gain': self.remaining_gain,
            'remaining_moves': self.remaining_moves,
            'planning_seconds': round(self.planning_seconds, 3),
            'moves': [m.as_dict() for m in self.moves],
        }


def preference(instance, durations):
    """Among instances of one size on one host, the quickest to move goes first."""
    return (duration_mod.predict(instance, durations), instance.name, instance.uuid)


def _layers(points):
    """The first and second Pareto-minimal layers of (x, y, id) points, each sorted by x.

    Weak: points equal to a front point are kept (a superset of the front is harmless)."""
    first, rest = [], []
    best_y = math.inf
    for point in sorted(points):
        if point[1] <= best_y:
            best_y = point[1]
            first.append(point)
        else:
            rest.append(point)
    second = []
    best_y = math.inf
    for point in rest:
        if point[1] <= best_y:
            best_y = point[1]
            second.append(point)
    return first, second


def _freed(first, second, position):
    """The ids of the second-layer points that join the front when first[position] leaves
    it (a superset): only points it alone dominated can, those below its left neighbour's y
    and left of its right neighbour's x; everything else stays dominated."""
    left_y = first[position - 1][1] if position > 0 else math.inf
    right_x = first[position + 1][0] if position + 1 < len(first) else math.inf
    return [q[2] for q in second if q[1] <= left_y and q[0] <= right_x]


class _Search:
    def __init__(self, cluster, state, durations):
        self.state = state
        self.hosts = state.hosts
        index = state.index
        classes = {}
        self.class_of = [classes.setdefault((h.memory_mb, h.vcpus), len(classes))
                         for h in self.hosts]
        self.classes = range(len(classes))
        self.class_hosts = [[] for _ in self.classes]
        for i, k in enumerate(self.class_of):
            self.class_hosts[k].append(i)
        self.enabled = [h.enabled for h in self.hosts]
        # shape (memory, vcpus) -> host index -> its movable ungrouped instances of that
        # shape, least preferred first (pop() takes the preferred one).
        self.buckets = {}
        self.host_shapes = [set() for _ in self.hosts]
        self.grouped = []
        self.holders = {}   # (shape, class) -> hosts holding movable instances of shape
        for inst in cluster.instances:
            if not inst.movable:
                continue
            h = index[inst.host]
            if inst.group is not None or score_mod.local_disk_gb(inst):
                self.grouped.append((preference(inst, durations), inst, h))
                continue
            shape = (inst.memory_mb, inst.vcpus)
            self.buckets.setdefault(shape, {}).setdefault(h, []).append(
                (preference(inst, durations), inst))
            self.host_shapes[h].add(shape)
            self.holders.setdefault((shape, self.class_of[h]), set()).add(h)
        for per_host in self.buckets.values():
            for entries in per_host.values():
                entries.sort(reverse=True)
        self.grouped.sort(key=lambda entry: entry[0])
        self.targets = {}   # class -> the two front layers of target host indexes
        self.sources = {}   # (shape, class) -> the two front layers of source hosts

    def _target_layers(self, k):
        layers = self.targets.get(k)
        if layers is None:
            st = self.state
            first, second = _layers([(st.mem_util[i], st.cpu_util[i], i)
                                     for i in self.class_hosts[k] if self.enabled[i]])
            layers = self.targets[k] = (first, second, [p[2] for p in first],
                                        {p[2]: n for n, p in enumerate(first)})
        return layers

    def _targets(self, k):
        """The Pareto front of the least loaded enabled hosts of class k."""
        return self._target_layers(k)[2]

    def _targets_freed(self, k, without):
        """The hosts that join that front when `without` is left out."""
        first, second, _ids, position = self._target_layers(k)
        return _freed(first, second, position[without]) if without in position else []

    def _source_layers(self, shape, k):
        layers = self.sources.get((shape, k))
        if layers is None:
            st = self.state
            first, second = _layers([(-st.mem_util[i], -st.cpu_util[i], i)
                                     for i in self.holders.get((shape, k), ())])
            layers = self.sources[(shape, k)] = (first, second, [p[2] for p in first],
                                                 {p[2]: n for n, p in enumerate(first)})
        return layers

    def _sources(self, shape, k):
        """The Pareto front of the most loaded hosts of class k holding shape."""
        return self._source_layers(shape, k)[2]

    def _sources_freed(self, shape, k, without):
        """The hosts that join that front when `without` is left out."""
        first, second, _ids, position = self._source_layers(shape, k)
        return _freed(first, second, position[without]) if without in position else []

    def best(self):
        """(score after, tie key, instance, source index, target index) of the best move
        that gains more than GAIN_EPSILON, or None.

        Branch and bound: the score is monotone in each part of a target's contribution, so
        a source combined with the smallest parts any target of a class offers bounds every
        move from it into that class; a bound no better than the best so far skips them."""
        st = self.state
        names = [h.name for h in self.hosts]
        cfg = st.config
        n, wm, wc = st.n, cfg.memory_weight, cfg.vcpu_weight
        wo, wa = cfg.overcommit_weight, cfg.anti_affinity_weight
        s1m, s2m, s1c, s2c = st.s1m, st.s2m, st.s1c, st.s2c
        # Guests on shared storage leave the disk spread as it is.
        base = wo * st.over + wa * st.violations + st.disk_term
        sqrt = math.sqrt
        eps = GAIN_EPSILON

        def total(lv, av):
            mm = (s1m + lv[0] + av[0]) / n
            vm = (s2m + lv[1] + av[1]) / n - mm * mm
            mc = (s1c + lv[2] + av[2]) / n
            vc = (s2c + lv[3] + av[3]) / n - mc * mc
            return (wm * sqrt(vm if vm > 0.0 else 0.0) + wc * sqrt(vc if vc > 0.0 else 0.0)
                    + base + wo * (lv[4] + av[4]))

        best_total = st.total - eps   # only moves that gain count
        best = None

        def consider(a, leave, b, arrive, pref, inst):
            nonlocal best, best_total
            t = total(leave, arrive)
            if t > best_total + eps:
                return
            key = (names[a], names[b], pref)
            if t < best_total - eps or best is None or key < best[1]:
                if best is None or t < best_total:
                    best_total = t
                best = (t, key, inst, a, b)

        def chord(lo, hi):
            # sqrt is concave: over [lo, hi] it lies above its chord, a linear lower bound.
            lo = lo if lo > 0.0 else 0.0
            root = sqrt(lo)
            if hi <= lo + 1e-18:
                return root, 0.0, lo
            return root, (sqrt(hi) - root) / (hi - lo), lo

        def pairs(srcs, tgts, holders):
            """Every (source, target) move of one class pair that could beat the best,
            tried in the order of a separable lower bound so the rest is cut early."""
            l0, l2 = srcs[0][1][0], srcs[0][1][2]
            a0, a2 = tgts[0][1][0], tgts[0][1][2]
            mm = (s1m + l0 + a0) / n
            mc = (s1c + l2 + a2) / n
            km, kc = s2m / n - mm * mm, s2c / n - mc * mc
            l1 = [lv[1] for _, lv in srcs]
            a1 = [av[1] for _, av in tgts]
            l3 = [lv[3] for _, lv in srcs]
            a3 = [av[3] for _, av in tgts]
            rm, sm, vm0 = chord(km + (min(l1) + min(a1)) / n, km + (max(l1) + max(a1)) / n)
            rc, sc, vc0 = chord(kc + (min(l3) + min(a3)) / n, kc + (max(l3) + max(a3)) / n)
            bm, bc = wm * sm / n, wc * sc / n
            const = wm * (rm + sm * (km - vm0)) + wc * (rc + sc * (kc - vc0)) + base
            fs = sorted((bm * lv[1] + bc * lv[3] + wo * lv[4], a, lv) for a, lv in srcs)
            gs = sorted((bm * av[1] + bc * av[3] + wo * av[4], b, av) for b, av in tgts)
            g_min = gs[0][0]
            for f, a, leave in fs:
                if const + f + g_min > best_total + eps:
                    break
                pref, inst = holders[a][-1]
                for g, b, arrive in gs:
                    if const + f + g > best_total + eps:
                        break
                    if a != b:
                        consider(a, leave, b, arrive, pref, inst)

        for shape, holders in self.buckets.items():
            if not holders:
                continue
            memory_mb, vcpus = shape
            arrivals = {}
            for k in self.classes:
                tgts = [(b, st.arrive(b, memory_mb, vcpus)) for b in self._targets(k)
                        if st.fits(memory_mb, vcpus, b)]
                if tgts:
                    arrivals[k] = tgts
            if not arrivals:
                continue
            leaves = {}
            for k in self.classes:
                srcs = [(a, st.leave(a, memory_mb, vcpus)) for a in self._sources(shape, k)]
                if srcs:
                    leaves[k] = srcs
            for srcs in leaves.values():
                for tgts in arrivals.values():
                    pairs(srcs, tgts, holders)
            # A host on both fronts cannot move to itself: pair it with the hosts that join
            # either front when it is left out (the rest of the fronts it has met above).
            source_hosts = {a: lv for srcs in leaves.values() for a, lv in srcs}
            target_hosts = {b: av for tgts in arrivals.values() for b, av in tgts}
            for h in source_hosts.keys() & target_hosts.keys():
                pref, inst = holders[h][-1]
                leave, arrive = source_hosts[h], target_hosts[h]
                for b in self._targets_freed(self.class_of[h], h):
                    if st.fits(memory_mb, vcpus, b):
                        consider(h, leave, b, st.arrive(b, memory_mb, vcpus), pref, inst)
                for a in self._sources_freed(shape, self.class_of[h], h):
                    pref_a, inst_a = holders[a][-1]
                    consider(a, st.leave(a, memory_mb, vcpus), h, arrive, pref_a, inst_a)
        for pref, inst, a in self.grouped:
            for b in range(len(self.hosts)):
                if b == a or not self.enabled[b] or not st.fits(
                        inst.memory_mb, inst.vcpus, b, score_mod.local_disk_gb(inst)):
                    continue
                t = st.score_after(inst.memory_mb, inst.vcpus, inst.group, a, b,
                                   score_mod.local_disk_gb(inst))
                if t > best_total + eps:
                    continue
                key = (names[a], names[b], pref)
                if t < best_total - eps or best is None or key < best[1]:
                    best_total = t if best is None or t < best_total else best_total
                    best = (t, key, inst, a, b)
        return best

    def apply(self, inst, a, b):
        st = self.state
        touched_shapes = self.host_shapes[a] | self.host_shapes[b]
        if inst.group is None and not score_mod.local_disk_gb(inst):
            shape = (inst.memory_mb, inst.vcpus)
            entries = self.buckets[shape][a]
            entries.pop()
            if not entries:
                del self.buckets[shape][a]
                self.host_shapes[a].discard(shape)
                self.holders[(shape, self.class_of[a])].discard(a)
        else:
            self.grouped = [g for g in self.grouped if g[1] is not inst]
        st.apply(inst.memory_mb, inst.vcpus, inst.group, a, b, score_mod.local_disk_gb(inst))
        classes = {self.class_of[a], self.class_of[b]}
        for k in classes:
            self.targets.pop(k, None)
            for shape in touched_shapes:
                self.sources.pop((shape, k), None)


def plan(cluster, max_moves=DEFAULT_MAX_MOVES, min_gain=DEFAULT_MIN_GAIN,
         config=score_mod.ScoreConfig(), durations=duration_mod.DurationModel(),
         max_parallel=None, min_gain_limit=DEFAULT_MIN_GAIN_LIMIT):
    """The greedy plan for cluster (model.Cluster); max_moves None: no limit."""
    started = time.perf_counter()
    state = score_mod.ScoreState(cluster, config)
    before = score_mod.cluster_score(cluster, config)
    search = _Search(cluster, state, durations)
    moves = []
    stop_reason, stop_detail = STOP_MAX_MOVES, f'reached max_moves ({max_moves})'
    while max_moves is None or len(moves) < max_moves:
        found = search.best()
        gain = state.total - found[0] if found else 0.0
        if found is None or gain <= GAIN_EPSILON:
            stop_reason = STOP_NO_GAIN
            stop_detail = 'no move of a movable instance to a host with room lowers the score'
            break
        if gain < min_gain and state.total < min_gain_limit:
            stop_reason = STOP_MIN_GAIN
            stop_detail = (f'the best move left gains {gain:.3g}, less than min_gain '
                           f'{min_gain:g}, at a score below {min_gain_limit:g}')
            break
        _total, _key, inst, a, b = found
        search.apply(inst, a, b)
        moves.append(Move(
            seq=len(moves) + 1, instance_uuid=inst.uuid, instance_name=inst.name,
            source=state.hosts[a].name, target=state.hosts[b].name,
            memory_mb=inst.memory_mb, vcpus=inst.vcpus, disk_gb=inst.disk_gb,
            gain=gain, score_after=state.total,
            predicted_seconds=duration_mod.predict(inst, durations)))
    # The final figures from scratch (two-pass), free of the running sums' rounding.
    after = score_mod.score_from_usage(state.hosts, state.memory_used, state.vcpus_used,
                                       state.groups, config, state.local_disk_used)
    remaining = None
    if stop_reason == STOP_MAX_MOVES:
        remaining = _remaining(search, state, min_gain, min_gain_limit)
        stop_detail += (f'; {remaining[1]} more move(s) would gain {remaining[0]:.3g}'
                        if remaining[1] else '; no move left would gain min_gain')
    return finish(moves, before, after, stop_reason, stop_detail, started, max_parallel,
                  remaining)


def _remaining(search, state, min_gain, min_gain_limit):
    """(score gain, moves) the search would still find after a cut: it goes on as plan()
    would without max_moves (up to REMAINING_LOOKAHEAD moves), recording nothing."""
    start, count = state.total, 0
    while count < REMAINING_LOOKAHEAD:
        found = search.best()
        gain = state.total - found[0] if found else 0.0
        if found is None or gain <= GAIN_EPSILON or (
                gain < min_gain and state.total < min_gain_limit):
            break
        _total, _key, inst, a, b = found
        search.apply(inst, a, b)
        count += 1
    return max(0.0, start - state.total), count


def finish(moves, before, after, stop_reason, stop_detail, started, max_parallel=None,
           remaining=None):
    """The Plan of moves, with their jobsets assigned; remaining: (gain, moves) left after
    a cut by max_moves."""
    for move, jobset in zip(moves, jobsets_mod.assign([(m.source, m.target) for m in moves],
                                                      max_parallel), strict=True):
        move.jobset = jobset
    gain, count = remaining if remaining is not None else (None, None)
    return Plan(moves, before, after, stop_reason, stop_detail,
                time.perf_counter() - started, gain, count)
