from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class VcpuFilter(filters.BaseFilter):
    """Room for the guest's vCPUs: vcpus x cpu_allocation_ratio, less used and claimed."""

    @staticmethod
    def passes(h, vcpu_need):
        return h.free_vcpus >= vcpu_need

    def bind(self, spec):
        return (spec.vcpus,)

    def explain(self, host, spec):
        return (f'{host.name} has {host.free_vcpus} vCPUs free (ratio '
                f'{CONF.scheduler.cpu_allocation_ratio}), the instance needs {spec.vcpus}')
