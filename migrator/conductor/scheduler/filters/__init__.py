"""Host filters: each says whether a host can take the guest, and if not, why.

A filter states its test once, as a Python expression over `h` (a HostState) and a few
names it takes from the request (bind()); applies() says whether it has anything to test
for this request at all (a disk filter when no disk is copied does not). From those the
scheduler compiles the filters that apply into one list comprehension, so the common
decision is a single pass over the hosts; host_passes() and filter_all() (used to explain
a refusal filter by filter) are compiled from the same expression, so they cannot disagree.
explain() is the sentence for a refused host. A filter is `transient` when its refusal goes
away by itself once a migration ends (a full inbound slot): a request refused only by such
a filter waits in the queue instead of failing.
"""


class BaseFilter:
    transient = False
    #: The test, over `h` and the names of `names`; true means the host passes.
    expression = 'True'
    #: Names the expression takes from bind(spec), unique across all filters.
    names = ()

    def __init__(self):
        params = ', '.join(('h',) + tuple(self.names))
        self._host_passes = eval(f'lambda {params}: {self.expression}')  # noqa: S307
        self._filter_all = compile_chain([self])

    @property
    def name(self):
        return type(self).__name__

    def applies(self, spec):
        """False when the filter passes every host for this request."""
        return True

    def bind(self, spec):
        """The values of `names` for this request, in order."""
        return ()

    def host_passes(self, host, spec):
        return not self.applies(spec) or self._host_passes(host, *self.bind(spec))

    def filter_all(self, hosts, spec):
        if not self.applies(spec):
            return hosts
        return self._filter_all(hosts, *self.bind(spec))

    def explain(self, host, spec):
        raise NotImplementedError


def compile_chain(chain):
    """One function running every filter of `chain` in one list comprehension:
    fn(hosts, *values) where values are the filters' bind() results, concatenated."""
    names = [n for flt in chain for n in flt.names]
    if len(set(names)) != len(names):
        raise ValueError(f'filters share expression names: {names}')
    test = ' and '.join(f'({flt.expression})' for flt in chain) or 'True'
    params = ', '.join(['hosts'] + names)
    return eval(f'lambda {params}: [h for h in hosts if {test}]')  # noqa: S307


def compile_test(chain):
    """fn(host, *values): whether one host passes every filter of `chain` (the same
    expression compile_chain() runs over a list)."""
    names = [n for flt in chain for n in flt.names]
    test = ' and '.join(f'({flt.expression})' for flt in chain) or 'True'
    return eval(f"lambda {', '.join(['h'] + names)}: {test}")  # noqa: S307


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
