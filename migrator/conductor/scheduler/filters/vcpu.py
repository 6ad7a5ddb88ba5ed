from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class VcpuFilter(filters.BaseFilter):
    """Room for the guest's vCPUs: vcpus x cpu_allocation_ratio, less used and claimed."""

    def host_passes(self, host, spec):
        return host.free_vcpus >= spec.vcpus

    def filter_all(self, hosts, spec):
        need = spec.vcpus
        return [h for h in hosts if h.free_vcpus >= need]

    def explain(self, host, spec):
        return (f'{host.name} has {host.free_vcpus} vCPUs free (ratio '
                f'{CONF.scheduler.cpu_allocation_ratio}), the instance needs {spec.vcpus}')
