from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class MemoryFilter(filters.BaseFilter):
    """Room for the guest's memory: memory_mb x ram_allocation_ratio, less what is
    reserved, used and already claimed by migrations on their way there."""

    @staticmethod
    def passes(h, memory_need):
        return h.free_memory_mb >= memory_need

    def bind(self, spec):
        return (spec.memory_mb,)

    def explain(self, host, spec):
        return (f'{host.name} has {host.free_memory_mb} MiB of memory free (ratio '
                f'{CONF.scheduler.ram_allocation_ratio}, {host.claimed_memory_mb} MiB claimed '
                f'by migrations in flight), the instance needs {spec.memory_mb} MiB')
