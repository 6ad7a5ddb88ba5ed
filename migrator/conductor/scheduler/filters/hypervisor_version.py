from migrator.conductor.scheduler import filters


class HypervisorVersionFilter(filters.BaseFilter):
    """The target's hypervisor is not older than the source's: QEMU accepts a migration
    stream from its own or an older version, not from a newer one."""

    def host_passes(self, host, spec):
        return spec.source is None or host.hypervisor_version >= spec.source.hypervisor_version

    def filter_all(self, hosts, spec):
        if spec.source is None:
            return hosts
        oldest = spec.source.hypervisor_version
        return [h for h in hosts if h.hypervisor_version >= oldest]

    def explain(self, host, spec):
        return (f'{host.name} has hypervisor version {host.hypervisor_version}, older than '
                f'the source\'s {spec.source.hypervisor_version}')
