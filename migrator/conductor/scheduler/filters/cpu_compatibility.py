from migrator.conductor.scheduler import filters


class CpuCompatibilityFilter(filters.BaseFilter):
    """The target can run the guest's CPU model.

    A guest with a named model (mode='custom') needs a host whose hypervisor lists that
    model as usable: each agent reports the usable models of libvirt's domain capabilities
    (virConnectGetDomainCapabilities, the same data libvirt's own CPU comparison reads), so a
    decision costs a set lookup, not a call to every host. A guest without a named model
    (host-model or host-passthrough) sees the host's CPU: it needs the source's CPU model.
    """

    def host_passes(self, host, spec):
        if spec.cpu_model:
            return host.cpu_models is not None and spec.cpu_model in host.cpu_models
        return spec.source is None or host.cpu_model == spec.source.cpu_model

    def explain(self, host, spec):
        if spec.cpu_model:
            if host.cpu_models is None:
                return f'{host.name} does not report the CPU models it can run'
            return f'{host.name} cannot run CPU model {spec.cpu_model}'
        return (f'{host.name} has CPU {host.cpu_model}; the guest sees the source\'s host CPU '
                f'{spec.source.cpu_model}')
