from migrator.conductor.scheduler import filters


class HostStatusFilter(filters.BaseFilter):
    """The operator left the host enabled (not disabled, not in maintenance)."""

    @staticmethod
    def passes(h):
        return h.enabled

    def explain(self, host, spec):
        reason = f': {host.status_reason}' if host.status_reason else ''
        return f'{host.name} is {host.status}{reason}'
