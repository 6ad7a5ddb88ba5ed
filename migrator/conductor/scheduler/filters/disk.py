from oslo_config import cfg

from migrator.conductor.scheduler import filters

CONF = cfg.CONF


class DiskFilter(filters.BaseFilter):
    """Room for the guest's disks when they are copied (block live or cold migration):
    disk_gb x disk_allocation_ratio, less reserved, used and claimed. Shared-storage live
    migration copies nothing and needs no room."""

    @staticmethod
    def passes(h, disk_need):
        return h.free_disk_gb >= disk_need

    def applies(self, spec):
        return spec.copies_disks

    def bind(self, spec):
        return (spec.disk_gb,)

    def explain(self, host, spec):
        return (f'{host.name} has {host.free_disk_gb} GiB of disk free (ratio '
                f'{CONF.scheduler.disk_allocation_ratio}), the instance\'s disks need '
                f'{spec.disk_gb} GiB')
