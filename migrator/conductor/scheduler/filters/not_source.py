from migrator.conductor.scheduler import filters


class NotSourceFilter(filters.BaseFilter):
    """A guest does not migrate to the host it runs on."""

    @staticmethod
    def passes(h, source_name):
        return h.name != source_name

    def bind(self, spec):
        return (spec.source_host,)

    def explain(self, host, spec):
        return f'{host.name} is the source'
