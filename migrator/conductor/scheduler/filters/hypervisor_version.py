from migrator.conductor.scheduler import filters


class HypervisorVersionFilter(filters.BaseFilter):
    """The target's hypervisor is not older than the source's: QEMU accepts a migration
    stream from its own or an older version, not from a newer one."""

    @staticmethod
    def passes(h, source_version):
        return h.hypervisor_version >= source_version

    def applies(self, spec):
        return spec.source is not None

    def bind(self, spec):
        return (spec.source.hypervisor_version,)

    def explain(self, host, spec):
        return (f'{host.name} has hypervisor version {host.hypervisor_version}, older than '
                f'the source\'s {spec.source.hypervisor_version}')
