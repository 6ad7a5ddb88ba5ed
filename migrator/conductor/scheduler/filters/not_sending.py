from migrator.conductor.scheduler import filters


class NotSendingFilter(filters.BaseFilter):
    """The host sends no guest away right now. A host that is migrating guests out (being
    drained, or the source of a rebalance move) spends its network and CPU on that; landing
    another guest there slows both. Transient: the refusal ends with the outbound migrations,
    so a request refused only by this waits in the queue. Not enabled by default: add it to
    [scheduler] enabled_filters."""

    transient = True

    @staticmethod
    def passes(h):
        return h.outbound_migrations == 0

    def explain(self, host, spec):
        return f'{host.name} is sending {host.outbound_migrations} guests away'
