from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class InboundLimitFilter(filters.BaseFilter):
    """Fewer than [scheduler] max_inbound_per_host migrations enter the host now. Transient:
    a request refused only by this waits in the queue for a slot."""

    transient = True

    @staticmethod
    def passes(h, inbound_limit):
        return h.inbound_migrations < inbound_limit

    def bind(self, spec):
        return (CONF.scheduler.max_inbound_per_host,)

    def explain(self, host, spec):
        return (f'{host.name} receives {host.inbound_migrations} migrations already '
                f'([scheduler] max_inbound_per_host is {CONF.scheduler.max_inbound_per_host})')
