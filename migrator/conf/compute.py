from oslo_config import cfg

group = cfg.OptGroup('compute', title='Compute agent options')

opts = [
    cfg.FloatOpt('report_interval', default=10.0, min=0.1,
                 help='Seconds between inventory reports (heartbeats) to the conductor. '
                      'Domain lifecycle events are reported at once in between.'),
    cfg.FloatOpt('progress_interval', default=0.5, min=0.05,
                 help='Seconds between progress samples of a running migration job.'),
    cfg.IntOpt('reserved_host_memory_mb', default=512, min=0,
               help='Memory kept back for the host itself; not offered to guests.'),
    cfg.IntOpt('reserved_host_disk_gb', default=0, min=0,
               help='Disk space kept back for the host itself; not offered to guests.'),
    cfg.FloatOpt('disk_copy_bandwidth', default=0.0, min=0.0,
                 help='MiB/s at most that a cold migration\'s disk copy pulls from the '
                      'source host (each copy on its own), so a copy does not take the '
                      'whole network or disk from the guests. 0: no limit.'),
    cfg.ListOpt('managed_storage_paths', default=[],
                help='Directories, besides [libvirt] images_path and those of the storage '
                     'pools defined in libvirt on this host, whose files (guest disks) this '
                     'agent may delete when a migration moves or rolls back. A request to '
                     'delete a file anywhere else is refused and logged as an error.'),
    cfg.FloatOpt('copy_abort_timeout', default=60.0, min=1.0,
                 help='Seconds a cold migration\'s rollback waits for an aborted disk copy '
                      'to stop before it gives up (the migration then ends in error).'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
