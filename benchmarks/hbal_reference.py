"""An hbal-like reference balancer: a measuring stick for the rebalance planner, not product code.

Ganeti's hbal cannot be installed here, so this re-implements the algorithm its man page
hbal(1) and design documents describe (no Ganeti code was read or copied), on our cluster model
(migrator.planner.model):

Cluster score (lower is better): an unweighted sum of metrics, each 0 when all is well --

    memory    standard deviation over the nodes of their fraction of free memory
    disk      standard deviation over the nodes with local disk of their fraction of free disk
    vcpu      standard deviation over the nodes of their virtual-to-physical CPU ratio
    tags      exclusion-tag conflicts (our anti-affinity groups): per node and group, the
              group's instances there beyond the first

The standard deviation of a free fraction equals that of the used fraction (free = 1 - used),
so the memory metric is the same figure as the planner's memory spread. hbal's other metrics
do not apply to our model and are left out: the reserved-memory metrics and the N+1 failure
count are about DRBD secondaries (ours have none: a move is a plain live migration of an
instance on shared or copied storage, hbal's "migrate to any node" for externally mirrored
instances); spindles, the dynamic load and the MonD CPU load are not in the model; a disabled
host is treated as hbal's *drained* node (it keeps its instances and counts in the metrics but
takes no new ones), so the offline-instance counts have nothing to count.

Hard limits, as hbal's: a node takes an instance only if its free memory holds it, its vCPUs
stay within the maximum virtual-to-physical ratio (hbal's --max-cpu, our allocation ratio), and,
for an instance whose disks are copied, its free local disk holds them.

Search: at every step every movable instance is tried on every other node that can take it
(an instance may move again at a later step, as in hbal), each candidate scored; the best
lowers the score or the search ends. The step is refused when its gain is below min_gain while
the score before it is already below min_gain_limit (hbal's --min-gain, default 0.01, and
--min-gain-limit, default 0.1: on a badly balanced cluster small steps are still taken, since
later ones may gain much); the search also ends once the score is at or below max_score
(hbal's -e/--max-score, default 1e-9) or after max_length steps (hbal's -l). Ties go to the
first candidate in (instance name, node name) order.

Jobsets, as hbal groups its moves for execution: consecutive moves share a jobset until a move
touches a node the jobset already touches, which starts the next one.
"""

import dataclasses
import math

from migrator.planner import score as score_mod

DEFAULT_MIN_GAIN = 0.01
DEFAULT_MIN_GAIN_LIMIT = 0.1
DEFAULT_MAX_SCORE = 1e-9


@dataclasses.dataclass
class Move:
    instance: str
    source: str
    target: str
    memory_mb: int
    score_after: float


@dataclasses.dataclass
class Result:
    moves: list
    score_before: float
    score_after: float
    stop_reason: str
    placement: dict      # uuid -> host name after the moves

    def jobsets(self):
        return jobsets([(m.source, m.target) for m in self.moves])

    @property
    def migrations(self):
        """Live migrations the plan runs: one per move (an instance moved twice costs two)."""
        return len(self.moves)


def jobsets(moves):
    """moves: (source, target) pairs in order -> lists of them, hbal's grouping."""
    sets, touched = [], set()
    for source, target in moves:
        if not sets or source in touched or target in touched:
            sets.append([])
            touched = set()
        sets[-1].append((source, target))
        touched |= {source, target}
    return sets


def _pstdev(values):
    if not values:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(max(0.0, sum((v - mean) ** 2 for v in values) / len(values)))


class _State:
    """Per-node use, and the metrics with and without one candidate move."""

    def __init__(self, cluster, cpu_ratio):
        self.hosts = list(cluster.hosts)
        self.index = {h.name: i for i, h in enumerate(self.hosts)}
        n = len(self.hosts)
        self.mem = [0] * n
        self.cpu = [0] * n
        self.disk = [0] * n
        self.groups = {}
        self.cpu_limit = [h.vcpus * cpu_ratio for h in self.hosts]
        self.disk_nodes = [i for i, h in enumerate(self.hosts) if h.disk_gb]
        for inst in cluster.instances:
            self.add(inst, self.index[inst.host], 1)

    def add(self, inst, i, sign):
        self.mem[i] += sign * inst.memory_mb
        self.cpu[i] += sign * inst.vcpus
        self.disk[i] += sign * score_mod.local_disk_gb(inst)
        if inst.group is not None:
            key = (i, inst.group)
            self.groups[key] = self.groups.get(key, 0) + sign

    def fits(self, inst, i):
        h = self.hosts[i]
        disk = score_mod.local_disk_gb(inst)
        return (h.enabled and self.mem[i] + inst.memory_mb <= h.memory_mb
                and self.cpu[i] + inst.vcpus <= self.cpu_limit[i]
                and (not disk or self.disk[i] + disk <= h.disk_gb))

    def metrics(self):
        hosts = self.hosts
        return {
            'memory': _pstdev([1 - self.mem[i] / h.memory_mb for i, h in enumerate(hosts)]),
            'disk': _pstdev([1 - self.disk[i] / hosts[i].disk_gb for i in self.disk_nodes]),
            'vcpu': _pstdev([self.cpu[i] / h.vcpus for i, h in enumerate(hosts)]),
            'tags': sum(c - 1 for c in self.groups.values() if c > 1),
        }

    def score(self):
        return sum(self.metrics().values())


class _Sums:
    """Sums and sums of squares of each metric's per-node values, so a candidate move (which
    changes two nodes) is scored in O(1) instead of over the whole cluster."""

    def __init__(self, state):
        self.st = state
        self.refresh()

    def _values(self, i):
        st, h = self.st, self.st.hosts[i]
        disk = 1 - st.disk[i] / h.disk_gb if h.disk_gb else None
        return 1 - st.mem[i] / h.memory_mb, st.cpu[i] / h.vcpus, disk

    def refresh(self):
        st = self.st
        self.vals = [self._values(i) for i in range(len(st.hosts))]
        self.n = len(st.hosts)
        self.disk_count = len(st.disk_nodes)
        self.s = [sum(v[k] for v in self.vals if v[k] is not None) for k in range(3)]
        self.q = [sum(v[k] ** 2 for v in self.vals if v[k] is not None) for k in range(3)]
        self.tags = sum(c - 1 for c in st.groups.values() if c > 1)
        self.total = self._total(self.s, self.q, self.tags)

    def _sd(self, s, q, n):
        if not n:
            return 0.0
        mean = s / n
        return math.sqrt(max(0.0, q / n - mean * mean))

    def _total(self, s, q, tags):
        return (self._sd(s[0], q[0], self.n) + self._sd(s[1], q[1], self.n)
                + self._sd(s[2], q[2], self.disk_count) + tags)

    def after(self, inst, a, b):
        """The score after moving inst from node a to node b."""
        st = self.st
        ha, hb = st.hosts[a], st.hosts[b]
        va, vb = self.vals[a], self.vals[b]
        disk = score_mod.local_disk_gb(inst)
        na = (va[0] + inst.memory_mb / ha.memory_mb, va[1] - inst.vcpus / ha.vcpus,
              va[2] + disk / ha.disk_gb if va[2] is not None else None)
        nb = (vb[0] - inst.memory_mb / hb.memory_mb, vb[1] + inst.vcpus / hb.vcpus,
              vb[2] - disk / hb.disk_gb if vb[2] is not None else None)
        s, q = list(self.s), list(self.q)
        for k in range(3):
            for old, new in ((va[k], na[k]), (vb[k], nb[k])):
                if old is not None:
                    s[k] += new - old
                    q[k] += new * new - old * old
        tags = self.tags
        if inst.group is not None:
            ca = st.groups.get((a, inst.group), 0)
            cb = st.groups.get((b, inst.group), 0)
            tags += (max(ca - 2, 0) - max(ca - 1, 0)) + (max(cb, 0) - max(cb - 1, 0))
        return self._total(s, q, tags)


def balance(cluster, cpu_ratio=4.0, min_gain=DEFAULT_MIN_GAIN,
            min_gain_limit=DEFAULT_MIN_GAIN_LIMIT, max_score=DEFAULT_MAX_SCORE,
            max_length=None):
    """hbal's greedy balancing of cluster (model.Cluster) -> Result."""
    state = _State(cluster, cpu_ratio)
    sums = _Sums(state)
    where = {inst.uuid: state.index[inst.host] for inst in cluster.instances}
    movable = sorted((inst for inst in cluster.instances if inst.movable),
                     key=lambda inst: (inst.name, inst.uuid))
    order = sorted(range(len(state.hosts)), key=lambda i: state.hosts[i].name)
    before = state.score()
    current = before
    moves = []
    stop = 'no_gain'
    while True:
        if current <= max_score:
            stop = 'max_score'
            break
        if max_length is not None and len(moves) >= max_length:
            stop = 'max_length'
            break
        best = None
        tried = set()
        for inst in movable:
            a = where[inst.uuid]
            # Instances of one size on one node score alike: the first by name stands for
            # them all (the tie would go to it anyway), which keeps big clusters quick.
            shape = (a, inst.memory_mb, inst.vcpus, score_mod.local_disk_gb(inst), inst.group)
            if shape in tried:
                continue
            tried.add(shape)
            for b in order:
                if b == a or not state.fits(inst, b):
                    continue
                t = sums.after(inst, a, b)
                if best is None or t < best[0]:
                    best = (t, inst, a, b)
        if best is None or best[0] >= current:
            stop = 'no_gain'
            break
        if current < min_gain_limit and current - best[0] < min_gain:
            stop = 'min_gain'
            break
        _t, inst, a, b = best
        state.add(inst, a, -1)
        state.add(inst, b, 1)
        where[inst.uuid] = b
        sums.refresh()   # exact sums after each step: no drift over a long plan
        current = sums.total
        moves.append(Move(inst.name, state.hosts[a].name, state.hosts[b].name,
                          inst.memory_mb, current))
    placement = {uuid: state.hosts[i].name for uuid, i in where.items()}
    return Result(moves, before, state.score(), stop, placement)


def metrics(cluster, placement=None, cpu_ratio=4.0):
    """The reference's metrics of cluster with instances placed by placement (uuid -> host
    name, default: where they are): memory, disk and vcpu spreads, tag conflicts."""
    instances = [dataclasses.replace(inst, host=(placement or {}).get(inst.uuid, inst.host))
                 for inst in cluster.instances]
    moved = dataclasses.replace(cluster, instances=instances)
    return _State(moved, cpu_ratio).metrics()
