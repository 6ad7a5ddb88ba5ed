from migrator.conductor.scheduler import filters


class VirtTypeFilter(filters.BaseFilter):
    """Same virt type as the source: a KVM guest cannot continue under TCG or back."""

    def host_passes(self, host, spec):
        return spec.source is None or host.virt_type == spec.source.virt_type

    def filter_all(self, hosts, spec):
        if spec.source is None:
            return hosts
        wanted = spec.source.virt_type
        return [h for h in hosts if h.virt_type == wanted]

    def explain(self, host, spec):
        return (f'{host.name} runs virt type {host.virt_type}, the source '
                f'{spec.source.virt_type}')
