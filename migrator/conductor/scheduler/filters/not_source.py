from migrator.conductor.scheduler import filters


class NotSourceFilter(filters.BaseFilter):
    """A guest does not migrate to the host it runs on."""

    def host_passes(self, host, spec):
        return host.name != spec.source_host

    def filter_all(self, hosts, spec):
        source = spec.source_host
        return [h for h in hosts if h.name != source]

    def explain(self, host, spec):
        return f'{host.name} is the source'
