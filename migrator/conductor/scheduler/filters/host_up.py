from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class HostUpFilter(filters.BaseFilter):
    """The host's agent reported within [conductor] service_down_time seconds."""

    def host_passes(self, host, spec):
        return host.last_heartbeat is not None and host.last_heartbeat >= spec.heartbeat_after

    def filter_all(self, hosts, spec):
        after = spec.heartbeat_after
        return [h for h in hosts if h.last_heartbeat is not None and h.last_heartbeat >= after]

    def explain(self, host, spec):
        return (f'{host.name} is down (no heartbeat for '
                f'{CONF.conductor.service_down_time}s; last {host.last_heartbeat})')
