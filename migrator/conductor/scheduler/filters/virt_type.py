from migrator.conductor.scheduler import filters


class VirtTypeFilter(filters.BaseFilter):
    """Same virt type as the source: a KVM guest cannot continue under TCG or back."""

    @staticmethod
    def passes(h, source_virt_type):
        return h.virt_type == source_virt_type

    def applies(self, spec):
        return spec.source is not None

    def bind(self, spec):
        return (spec.source.virt_type,)

    def explain(self, host, spec):
        return (f'{host.name} runs virt type {host.virt_type}, the source '
                f'{spec.source.virt_type}')
