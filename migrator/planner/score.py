"""The cluster score: lower is better, 0 is a perfectly even cluster that breaks no rule.

Learnt from Ganeti's hbal (no code of it): the score adds up weighted metrics of the whole
cluster, each 0 when all is well:

    memory_spread   standard deviation over hosts of memory used / memory usable
    vcpu_spread     standard deviation over hosts of vCPUs used / physical CPUs
    disk_spread     standard deviation, over the hosts with a local disk, of the local disk
                    the guests whose disks are copied use / its size (hbal's free-disk
                    term; 0 when every guest's disks are on shared storage)
    overcommit      over every host, how far memory use exceeds the usable memory and vCPU
                    use exceeds cpus * cpu_allocation_ratio, as fractions (0.2 = 20 % over)
    violations      anti-affinity: over every host and group, the group's instances there
                    beyond the first

    score = memory_weight * memory_spread + vcpu_weight * vcpu_spread
            + disk_weight * disk_spread
            + overcommit_weight * overcommit + anti_affinity_weight * violations

Standard deviations of utilisation, not of absolute use, so a big host is expected to carry
more than a small one. The penalties are weighted far above the spreads: breaking a rule is
never worth a more even spread.

`cluster_score` computes it from scratch. `ScoreState` keeps per-host sums (sum and sum of
squares of the utilisations, penalties) so that the score after a candidate move is O(1):
a move changes two hosts only, and the standard deviation follows from those two sums.
"""

import collections
import dataclasses
import math

MIB = 2 ** 20
# ScoreState.apply re-sums from the per-host use after this many moves.
RESUM_EVERY = 64


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    memory_weight: float = 1.0
    vcpu_weight: float = 1.0
    disk_weight: float = 1.0
    overcommit_weight: float = 10.0
    anti_affinity_weight: float = 1.0
    # vCPUs a host may run per physical CPU before vCPU use counts as over-commit.
    cpu_allocation_ratio: float = 4.0


@dataclasses.dataclass(frozen=True)
class Score:
    total: float
    memory_spread: float
    vcpu_spread: float
    overcommit: float
    violations: int
    disk_spread: float = 0.0

    def as_dict(self):
        return dataclasses.asdict(self)


def _pstdev(values):
    if not values:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _over(fraction):
    return fraction - 1.0 if fraction > 1.0 else 0.0


def _violation(count):
    return count - 1 if count > 1 else 0


def score_from_usage(hosts, memory_used, vcpus_used, group_counts, config, disk_used=None):
    """The score of hosts (model.Host list) with the given per-host use (lists by index;
    disk_used: GiB of copied disks, None: none) and {(host index, group): instances} counts."""
    mem_util = [memory_used[i] / h.memory_mb for i, h in enumerate(hosts)]
    disk_util = [(disk_used[i] if disk_used else 0) / h.disk_gb
                 for i, h in enumerate(hosts) if h.disk_gb]
    cpu_util = [vcpus_used[i] / h.vcpus for i, h in enumerate(hosts)]
    overcommit = sum(_over(u) for u in mem_util) + sum(
        _over(vcpus_used[i] / (h.vcpus * config.cpu_allocation_ratio))
        for i, h in enumerate(hosts))
    violations = sum(_violation(c) for c in group_counts.values())
    memory_spread = _pstdev(mem_util)
    vcpu_spread = _pstdev(cpu_util)
    disk_spread = _pstdev(disk_util)
    total = (config.memory_weight * memory_spread + config.vcpu_weight * vcpu_spread
             + config.disk_weight * disk_spread
             + config.overcommit_weight * overcommit
             + config.anti_affinity_weight * violations)
    return Score(total, memory_spread, vcpu_spread, overcommit, violations, disk_spread)


def local_disk_gb(instance):
    """GiB of the instance's disks that a move copies to the target's local storage."""
    return 0 if instance.shared_disk else (instance.disk_gb or 0)


def usage(cluster, placement=None):
    """(memory used, vCPUs used, group counts) per host index, instances placed by their
    host or by placement {uuid: host name} where it says otherwise."""
    index = {h.name: i for i, h in enumerate(cluster.hosts)}
    memory_used = [0] * len(cluster.hosts)
    vcpus_used = [0] * len(cluster.hosts)
    groups = collections.Counter()
    for inst in cluster.instances:
        host = (placement or {}).get(inst.uuid, inst.host)
        i = index[host]
        memory_used[i] += inst.memory_mb
        vcpus_used[i] += inst.vcpus
        if inst.group is not None:
            groups[(i, inst.group)] += 1
    return memory_used, vcpus_used, groups


def disk_usage(cluster, placement=None):
    """GiB of copied (local) disks per host index, placed as usage() places them."""
    index = {h.name: i for i, h in enumerate(cluster.hosts)}
    used = [0] * len(cluster.hosts)
    for inst in cluster.instances:
        used[index[(placement or {}).get(inst.uuid, inst.host)]] += local_disk_gb(inst)
    return used


def cluster_score(cluster, config=ScoreConfig(), placement=None):
    """The score of the cluster, computed from scratch (placement: {uuid: host name})."""
    memory_used, vcpus_used, groups = usage(cluster, placement)
    return score_from_usage(cluster.hosts, memory_used, vcpus_used, groups, config,
                            disk_usage(cluster, placement))


class ScoreState:
    """Per-host use and the sums the score needs, for O(1) scores of candidate moves."""

    def __init__(self, cluster, config=ScoreConfig()):
        self.config = config
        self.hosts = list(cluster.hosts)
        self.n = len(self.hosts)
        self.index = {h.name: i for i, h in enumerate(self.hosts)}
        self.mem_cap = [float(h.memory_mb) for h in self.hosts]
        self.cpu_cap = [float(h.vcpus) for h in self.hosts]
        self.cpu_limit = [h.vcpus * config.cpu_allocation_ratio for h in self.hosts]
        self.disk_cap = [h.disk_gb for h in self.hosts]
        self.disk_hosts = sum(1 for h in self.hosts if h.disk_gb)
        self.memory_used, self.vcpus_used, self.groups = usage(cluster)
        self.local_disk_used = disk_usage(cluster)
        self.applied = 0
        self.resum()

    def resum(self):
        """Recomputes the sums from the per-host use (also clears rounding drift)."""
        mu = [self.memory_used[i] / self.mem_cap[i] for i in range(self.n)]
        cu = [self.vcpus_used[i] / self.cpu_cap[i] for i in range(self.n)]
        self.mem_util, self.cpu_util = mu, cu
        self.s1m, self.s2m = sum(mu), sum(u * u for u in mu)
        self.s1c, self.s2c = sum(cu), sum(u * u for u in cu)
        self.over = sum(_over(u) for u in mu) + sum(
            _over(self.vcpus_used[i] / self.cpu_limit[i]) for i in range(self.n))
        self.violations = sum(_violation(c) for c in self.groups.values())
        du = [self.local_disk_used[i] / self.disk_cap[i] for i in range(self.n)
              if self.disk_cap[i]]
        self.s1d, self.s2d = sum(du), sum(u * u for u in du)
        self.disk_term = self.config.disk_weight * self.disk_spread()
        self.total = self._total(self.s1m, self.s2m, self.s1c, self.s2c, self.over,
                                 self.violations)

    def _spread(self, s1, s2, n=None):
        n = n or self.n
        mean = s1 / n
        return math.sqrt(max(0.0, s2 / n - mean * mean))

    def disk_spread(self, s1d=None, s2d=None):
        if not self.disk_hosts:
            return 0.0
        return self._spread(self.s1d if s1d is None else s1d,
                            self.s2d if s2d is None else s2d, self.disk_hosts)

    def _total(self, s1m, s2m, s1c, s2c, over, violations, disk_term=None):
        c = self.config
        return (c.memory_weight * self._spread(s1m, s2m) + c.vcpu_weight * self._spread(s1c, s2c)
                + (self.disk_term if disk_term is None else disk_term)
                + c.overcommit_weight * over + c.anti_affinity_weight * violations)

    def score(self):
        return Score(self.total, self._spread(self.s1m, self.s2m),
                     self._spread(self.s1c, self.s2c), self.over, self.violations,
                     self.disk_spread())

    def _disk_moved(self, disk_gb, a, b):
        """The disk sums (s1, s2) after disk_gb of copied disks move from host a to b."""
        s1d, s2d = self.s1d, self.s2d
        for h, d in ((a, -disk_gb), (b, disk_gb)):
            if self.disk_cap[h]:
                old = self.local_disk_used[h] / self.disk_cap[h]
                new = (self.local_disk_used[h] + d) / self.disk_cap[h]
                s1d += new - old
                s2d += new * new - old * old
        return s1d, s2d

    def fits(self, memory_mb, vcpus, b, disk_gb=0):
        """Whether host b can take an instance of that size, by the limits the scheduler
        enforces: its usable memory, its vCPUs times the allocation ratio, and (for an
        instance whose disks are copied) the room of its local disk."""
        return (self.memory_used[b] + memory_mb <= self.mem_cap[b]
                and self.vcpus_used[b] + vcpus <= self.cpu_limit[b]
                and (not disk_gb or self.local_disk_used[b] + disk_gb <= self.disk_cap[b]))

    # -- one side of a move ------------------------------------------------------------------
    # A move's effect splits into what leaving the source does and what arriving at the
    # target does; each side is a tuple (d sum mem, d sum² mem, d sum cpu, d sum² cpu,
    # d overcommit), so the search can combine any source with any target in O(1).

    def leave(self, a, memory_mb, vcpus):
        xm = memory_mb / self.mem_cap[a]
        xc = vcpus / self.cpu_cap[a]
        um, uc = self.mem_util[a], self.cpu_util[a]
        used_c = self.vcpus_used[a]
        d_over = (_over(um - xm) - _over(um)
                  + _over((used_c - vcpus) / self.cpu_limit[a]) - _over(used_c / self.cpu_limit[a]))
        return (-xm, xm * xm - 2 * um * xm, -xc, xc * xc - 2 * uc * xc, d_over)

    def arrive(self, b, memory_mb, vcpus):
        xm = memory_mb / self.mem_cap[b]
        xc = vcpus / self.cpu_cap[b]
        um, uc = self.mem_util[b], self.cpu_util[b]
        used_c = self.vcpus_used[b]
        d_over = (_over(um + xm) - _over(um)
                  + _over((used_c + vcpus) / self.cpu_limit[b]) - _over(used_c / self.cpu_limit[b]))
        return (xm, xm * xm + 2 * um * xm, xc, xc * xc + 2 * uc * xc, d_over)

    def group_delta(self, group, a, b):
        if group is None:
            return 0
        at_a = self.groups.get((a, group), 0)
        at_b = self.groups.get((b, group), 0)
        return (_violation(at_a - 1) - _violation(at_a)
                + _violation(at_b + 1) - _violation(at_b))

    def combined(self, leave, arrive, d_violations=0, disk_term=None):
        """The total score after a move whose sides are leave and arrive."""
        return self._total(self.s1m + leave[0] + arrive[0], self.s2m + leave[1] + arrive[1],
                           self.s1c + leave[2] + arrive[2], self.s2c + leave[3] + arrive[3],
                           self.over + leave[4] + arrive[4], self.violations + d_violations,
                           disk_term)

    def score_after(self, memory_mb, vcpus, group, a, b, disk_gb=0):
        """The total score after moving an instance of that size (disk_gb: its copied
        disks) from host a to host b."""
        disk_term = None
        if disk_gb:
            disk_term = self.config.disk_weight * self.disk_spread(
                *self._disk_moved(disk_gb, a, b))
        return self.combined(self.leave(a, memory_mb, vcpus), self.arrive(b, memory_mb, vcpus),
                             self.group_delta(group, a, b), disk_term)

    def apply(self, memory_mb, vcpus, group, a, b, disk_gb=0):
        """Moves an instance of that size (disk_gb: its local disks, copied) from host a to
        host b: O(1), with a full re-sum now and then so rounding errors cannot pile up."""
        leave, arrive = self.leave(a, memory_mb, vcpus), self.arrive(b, memory_mb, vcpus)
        d_violations = self.group_delta(group, a, b)
        if disk_gb:
            self.s1d, self.s2d = self._disk_moved(disk_gb, a, b)
            self.disk_term = self.config.disk_weight * self.disk_spread()
        self.local_disk_used[a] -= disk_gb
        self.local_disk_used[b] += disk_gb
        self.memory_used[a] -= memory_mb
        self.memory_used[b] += memory_mb
        self.vcpus_used[a] -= vcpus
        self.vcpus_used[b] += vcpus
        if group is not None:
            self.groups[(a, group)] -= 1
            self.groups[(b, group)] += 1
        self.applied += 1
        if self.applied % RESUM_EVERY == 0:
            self.resum()
            return
        for h in (a, b):
            self.mem_util[h] = self.memory_used[h] / self.mem_cap[h]
            self.cpu_util[h] = self.vcpus_used[h] / self.cpu_cap[h]
        self.s1m += leave[0] + arrive[0]
        self.s2m += leave[1] + arrive[1]
        self.s1c += leave[2] + arrive[2]
        self.s2c += leave[3] + arrive[3]
        self.over += leave[4] + arrive[4]
        self.violations += d_violations
        self.total = self._total(self.s1m, self.s2m, self.s1c, self.s2c, self.over,
                                 self.violations)
