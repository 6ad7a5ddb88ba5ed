"""Host weighers: among the hosts that passed the filters, which is best.

Each weigher names a HostState figure and whether more of it is better; the scheduler
scales each weigher's figures to 0..1 over the candidates (so weighers with different units
add up fairly, as in Nova), multiplies them by the weigher's multiplier (config) and adds
them. The highest total wins. Figures are read with C-level attribute getters, so weighing
10,000 candidates costs a few passes over a list.

Weighers are found through the `migrator.scheduler.weighers` entry points (setup.cfg) and
enabled by [scheduler] enabled_weighers.
"""

import functools
import operator

from stevedore import extension

from migrator.common import exceptions

NAMESPACE = 'migrator.scheduler.weighers'


class BaseWeigher:
    #: The HostState attribute weighed.
    attribute = None
    #: True when more of it is better (before the multiplier).
    higher_is_better = True

    def __init__(self):
        self._get = operator.attrgetter(self.attribute)

    @property
    def name(self):
        return type(self).__name__

    def multiplier(self):
        raise NotImplementedError

    def raw_weights(self, hosts, spec):
        """One figure per host, higher is better (before the multiplier)."""
        values = list(map(self._get, hosts))
        return values if self.higher_is_better else [-v for v in values]


@functools.cache
def all_weighers():
    """{name: class} of every weigher installed (the entry points of NAMESPACE)."""
    manager = extension.ExtensionManager(NAMESPACE, invoke_on_load=False)
    return {ext.name: ext.plugin for ext in manager}


def enabled(names):
    """Instances of the weighers `names`, in that order; Invalid names the unknown ones."""
    known = all_weighers()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise exceptions.Invalid(
            f"[scheduler] enabled_weighers names unknown weighers {', '.join(unknown)}; the "
            f"weighers are: {', '.join(known)}")
    return [known[n]() for n in names]


_COMPILED = {}


def _sum_of(attributes):
    """fn(hosts, offset0, scale0, offset1, scale1, ...) -> [total per host], one pass."""
    fn = _COMPILED.get(attributes)
    if fn is None:
        params = ', '.join(f'o{i}, s{i}' for i in range(len(attributes)))
        terms = ' + '.join(f'(h.{a} - o{i}) * s{i}' for i, a in enumerate(attributes))
        fn = _COMPILED[attributes] = eval(  # noqa: S307 - built from attribute names
            f'lambda hosts, {params}: [{terms} for h in hosts]')
    return fn


def scaling(weighers, bounds):
    """(attributes, [offset, scale, ...]) of the weighers that discriminate, given
    bounds(weigher) -> (lowest, highest) of its figure over the candidates."""
    attributes, args = [], []
    for weigher in weighers:
        multiplier = weigher.multiplier()
        if not multiplier:
            continue
        low, high = bounds(weigher)
        if high == low:
            continue
        # Scaled to 0..1 with the best at 1: (v - low) / (high - low), or its mirror.
        scale = multiplier / (high - low)
        offset = low
        if not weigher.higher_is_better:
            scale, offset = -scale, high
        attributes.append(weigher.attribute)
        args += [offset, scale]
    return tuple(attributes), args


def totals_of(attributes, args, hosts):
    """The totals scaling() describes, per host (the one expression both paths use)."""
    if not attributes:
        return [0.0] * len(hosts)
    return _sum_of(attributes)(hosts, *args)


def _totals(weighers, hosts, spec):
    attributes, args = scaling(
        weighers, lambda w: (min(map(w._get, hosts)), max(map(w._get, hosts))))
    return totals_of(attributes, args, hosts)


def weigh(weighers, hosts, spec):
    """[(total, host)] for hosts; totals are the sums of normalised, multiplied weights."""
    return list(zip(_totals(weighers, hosts, spec), hosts, strict=True))


def best(weighers, hosts, spec, count):
    """The `count` best [(total, host)], best first; of equal totals the host that comes
    first in `hosts`. A few C-level max() passes: cheaper than sorting 10,000 totals."""
    totals = _totals(weighers, hosts, spec)
    pick = totals.__getitem__
    remaining = list(totals) if count > 1 else totals
    ranking = []
    indexes = range(len(hosts))
    for _ in range(min(count, len(hosts))):
        index = max(indexes, key=remaining.__getitem__)
        ranking.append((pick(index), hosts[index]))
        remaining[index] = float('-inf')
    return ranking
