from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class InboundLimitFilter(filters.BaseFilter):
    """Fewer than [scheduler] max_inbound_per_host migrations enter the host now. Transient:
    a request refused only by this waits in the queue for a slot."""

    transient = True

    def host_passes(self, host, spec):
        return host.inbound_migrations < CONF.scheduler.max_inbound_per_host

    def filter_all(self, hosts, spec):
        limit = CONF.scheduler.max_inbound_per_host
        return [h for h in hosts if h.inbound_migrations < limit]

    def explain(self, host, spec):
        return (f'{host.name} receives {host.inbound_migrations} migrations already '
                f'([scheduler] max_inbound_per_host is {CONF.scheduler.max_inbound_per_host})')
