from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class DiskFilter(filters.BaseFilter):
    """Room for the guest's disks when they are copied (block live or cold migration):
    disk_gb x disk_allocation_ratio, less reserved, used and claimed. Shared-storage live
    migration copies nothing and needs no room."""

    def host_passes(self, host, spec):
        return not spec.copies_disks or host.free_disk_gb >= spec.disk_gb

    def filter_all(self, hosts, spec):
        if not spec.copies_disks:
            return hosts
        need = spec.disk_gb
        return [h for h in hosts if h.free_disk_gb >= need]

    def explain(self, host, spec):
        return (f'{host.name} has {host.free_disk_gb} GiB of disk free (ratio '
                f'{CONF.scheduler.disk_allocation_ratio}), the instance\'s disks need '
                f'{spec.disk_gb} GiB')
