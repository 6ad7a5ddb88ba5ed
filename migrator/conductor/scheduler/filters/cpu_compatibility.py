from migrator.conductor.scheduler import filters


class CpuCompatibilityFilter(filters.BaseFilter):
    """The target can run the guest's CPU model.

    A guest with a named model (mode='custom') needs a host whose hypervisor lists that
    model as usable: each agent reports the usable models of libvirt's domain capabilities
    (virConnectGetDomainCapabilities, the data libvirt's own CPU comparison against the
    hypervisor reads), so a decision costs a set lookup per host, not a call to every host.
    A guest without a named model (host-model or host-passthrough) sees the host's CPU: it
    needs the source's host CPU model.
    """

    @staticmethod
    def passes(h, guest_cpu, source_cpu):
        return (guest_cpu in h.cpu_models) if guest_cpu else (h.cpu_model == source_cpu)

    def applies(self, spec):
        return bool(spec.cpu_model) or spec.source is not None

    def bind(self, spec):
        return (spec.cpu_model, spec.source.cpu_model if spec.source is not None else None)

    def explain(self, host, spec):
        if spec.cpu_model:
            if not host.cpu_models_known:
                return f'{host.name} does not report the CPU models it can run'
            return f'{host.name} cannot run CPU model {spec.cpu_model}'
        return (f'{host.name} has CPU {host.cpu_model}; the guest sees the source\'s host CPU '
                f'{spec.source.cpu_model}')
