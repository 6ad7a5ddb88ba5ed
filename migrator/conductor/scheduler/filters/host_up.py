from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class HostUpFilter(filters.BaseFilter):
    """The host's agent reported within [conductor] service_down_time seconds."""

    @staticmethod
    def passes(h, up_after):
        return h.last_heartbeat >= up_after

    def bind(self, spec):
        return (spec.heartbeat_after,)

    def explain(self, host, spec):
        return (f'{host.name} is down (no heartbeat for '
                f'{CONF.conductor.service_down_time}s; last {host.reported_heartbeat})')
