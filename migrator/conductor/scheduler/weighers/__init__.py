"""Host weighers: among the hosts that passed the filters, which is best.

Each weigher gives every candidate a raw figure; the scheduler scales each weigher's figures
to 0..1 over the candidates (so weighers with different units add up fairly, as in Nova),
multiplies them by the weigher's multiplier (config) and adds them. The highest total wins.
"""


class BaseWeigher:
    @property
    def name(self):
        return type(self).__name__

    def multiplier(self):
        raise NotImplementedError

    def raw_weights(self, hosts, spec):
        """One figure per host, higher is better (before the multiplier)."""
        raise NotImplementedError


def all_weighers():
    from migrator.conductor.scheduler.weighers import migrations, ram
    return [ram.RamWeigher(), migrations.MigrationsInFlightWeigher()]


def weigh(weighers, hosts, spec):
    """[(total, host)] for hosts; totals are the sums of normalised, multiplied weights."""
    totals = [0.0] * len(hosts)
    for weigher in weighers:
        multiplier = weigher.multiplier()
        if not multiplier:
            continue
        raw = weigher.raw_weights(hosts, spec)
        low, high = min(raw), max(raw)
        if high == low:
            continue
        scale = multiplier / (high - low)
        totals = [t + (r - low) * scale for t, r in zip(totals, raw, strict=True)]
    return list(zip(totals, hosts, strict=True))
