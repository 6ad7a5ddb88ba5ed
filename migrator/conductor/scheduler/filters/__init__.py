"""Host filters: each says whether a host can take the guest, and if not, why.

A filter's filter_all() keeps the hosts that pass, in one pass over the list (the
scheduler calls it on every candidate, so the common ones are list comprehensions over
precomputed HostState figures). explain() is the sentence for a refused host. A filter is
`transient` when its refusal goes away by itself once a migration ends (a full inbound
slot): a request refused only by such a filter waits in the queue instead of failing.
"""


class BaseFilter:
    transient = False

    @property
    def name(self):
        return type(self).__name__

    def host_passes(self, host, spec):
        raise NotImplementedError

    def filter_all(self, hosts, spec):
        passes = self.host_passes
        return [h for h in hosts if passes(h, spec)]

    def explain(self, host, spec):
        raise NotImplementedError


def all_filters():
    """{name: class} of every filter there is."""
    from migrator.conductor.scheduler.filters import (
        cpu_compatibility,
        disk,
        host_status,
        host_up,
        hypervisor_version,
        inbound_limit,
        memory,
        not_source,
        server_group_affinity,
        server_group_anti_affinity,
        vcpu,
        virt_type,
    )
    classes = (host_up.HostUpFilter, host_status.HostStatusFilter, not_source.NotSourceFilter,
               virt_type.VirtTypeFilter, hypervisor_version.HypervisorVersionFilter,
               cpu_compatibility.CpuCompatibilityFilter, memory.MemoryFilter,
               vcpu.VcpuFilter, disk.DiskFilter,
               server_group_affinity.ServerGroupAffinityFilter,
               server_group_anti_affinity.ServerGroupAntiAffinityFilter,
               inbound_limit.InboundLimitFilter)
    return {cls.__name__: cls for cls in classes}
