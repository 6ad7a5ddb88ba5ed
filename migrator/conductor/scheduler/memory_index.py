"""The cached hosts ordered by free memory, one ordering per count of migrations in flight,
so a decision visits a few hosts at the ends of each ordering instead of all of them.

Why the answer is the full pass's: the weighers score a host by its free memory and its
migrations in flight only (best() refuses any other weigher). Among the hosts with the same
count of migrations, the count's term is one constant c, and the total
(free - offset) * scale + c only rises (scale > 0, spread) or only falls (scale < 0, pack)
with the free memory, also in floating point: the integer difference is exact, and rounding
a product and a sum never reverses an order. So the best host of a count is the first host
passing the filters from the matching end of its ordering, and the hosts tied with it in
total are the passing hosts right behind it; the best overall is the best of the counts,
ties going to the host first in the cache's list, as in the full pass. The scaling needs
the lowest and highest figures over every candidate: the lowest and highest free memory are
those first passing hosts from both ends of each ordering, the counts are those with any
candidate. When every candidate has the same free memory, the candidates of a count are in
the cache's order within its ordering, so the first passing one is the count's best. When
the free memory's multiplier is 0, the order that decides ties is the cache's over hosts of
any free memory, and best() gives up (NotImplemented): the caller runs the full pass.
"""

import bisect
import math
import threading

from migrator.conductor.scheduler import weighers as weighers_mod

FREE_MEMORY = 'free_memory_mb'
MIGRATIONS = 'migrations_in_flight'


class FreeMemoryIndex:
    def __init__(self, hosts=()):
        self._lock = threading.Lock()
        self._hosts = []       # position -> HostState, the cache's list order
        self._orders = {}      # migrations in flight -> sorted [(free memory, position)]
        self._keys = []        # position -> (migrations in flight, free memory) as indexed
        for position, host in enumerate(hosts):
            key = (host.migrations_in_flight, host.free_memory_mb)
            self._orders.setdefault(key[0], []).append((key[1], position))
            self._keys.append(key)
            self._hosts.append(host)
            host.position, host.index = position, self
        for order in self._orders.values():
            order.sort()

    def add(self, host):
        """A host new to the cache, last in its list; the index follows it from now on."""
        with self._lock:
            host.position = len(self._hosts)
            self._hosts.append(host)
            self._keys.append(None)
            self._place(host)
        host.index = self

    def moved(self, host):
        """The host's figures were recomputed (HostState.recompute calls this)."""
        with self._lock:
            self._place(host)

    def _place(self, host):
        position = host.position
        key = (host.migrations_in_flight, host.free_memory_mb)
        old = self._keys[position]
        if old == key:
            return
        if old is not None:
            order = self._orders[old[0]]
            del order[bisect.bisect_left(order, (old[1], position))]
        bisect.insort(self._orders.setdefault(key[0], []), (key[1], position))
        self._keys[position] = key

    def best(self, weighers, passes, memory_floor=None):
        """(total, host) the full pass would rank first among the hosts passing
        passes(host); None when no host passes; NotImplemented when this cannot tell.
        memory_floor: a host with less free memory than this fails the filters."""
        if any(w.attribute not in (FREE_MEMORY, MIGRATIONS) for w in weighers) or not all(
                math.isfinite(w.multiplier()) for w in weighers):
            return NotImplemented
        hosts = self._hosts
        with self._lock:
            # Per count: its ordering, and the indexes of its lowest and highest candidates.
            ends = []
            for count, order in self._orders.items():
                start = 0 if memory_floor is None else bisect.bisect_left(order,
                                                                          (memory_floor,))
                high = next((i for i in range(len(order) - 1, start - 1, -1)
                             if passes(hosts[order[i][1]])), None)
                if high is None:
                    continue
                low = next(i for i in range(start, high + 1) if passes(hosts[order[i][1]]))
                ends.append((count, order, low, high))
            if not ends:
                return None
            bounds = {
                FREE_MEMORY: (min(order[low][0] for _, order, low, _ in ends),
                              max(order[high][0] for _, order, _, high in ends)),
                MIGRATIONS: (min(e[0] for e in ends), max(e[0] for e in ends)),
            }
            attributes, args = weighers_mod.scaling(weighers, lambda w: bounds[w.attribute])
            ranked = []   # (total, -position, host) of every count's best and its ties
            if FREE_MEMORY not in attributes:
                lowest, highest = bounds[FREE_MEMORY]
                if lowest != highest:
                    return NotImplemented
                # Every candidate has the same free memory: within a count they are in
                # the cache's order, and the first one (at `low`) is that count's best.
                for _count, order, low, _high in ends:
                    host = hosts[order[low][1]]
                    total = weighers_mod.totals_of(attributes, args, [host])[0]
                    ranked.append((total, -host.position, host))
                total, _, host = max(ranked, key=lambda r: (r[0], r[1]))
                return total, host
            spread = args[2 * attributes.index(FREE_MEMORY) + 1] > 0
            for _count, order, low, high in ends:
                walk = range(high, low - 1, -1) if spread else range(low, high + 1)
                group_best = None
                for i in walk:
                    host = hosts[order[i][1]]
                    if not passes(host):
                        continue
                    total = weighers_mod.totals_of(attributes, args, [host])[0]
                    if group_best is None:
                        group_best = total
                    elif total < group_best:
                        break
                    ranked.append((total, -host.position, host))
        total, _, host = max(ranked, key=lambda r: (r[0], r[1]))
        return total, host
