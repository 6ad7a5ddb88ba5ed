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
    # The data path of a cold migration's disk copy (doc/source/admin/cold-migration.rst).
    cfg.StrOpt('disk_copy_method', default='nbd',
               choices=[('nbd', 'the source agent exports each disk read-only with '
                                'qemu-nbd on its migration address, the target agent '
                                'pulls it with qemu-img convert (TLS-PSK with a key of '
                                'the migration\'s own when encryption is on)'),
                        ('stream', 'libvirt storage-volume streams: the target agent pulls '
                                   'through a libvirt connection to the source daemon '
                                   '(about 2.8x the CPU per byte of nbd)')],
               help='How a cold migration copies the disks of an instance leaving this '
                    'host: read on the source host when the copy starts. Agents older than '
                    'compute RPC 1.10 (or [upgrade_levels] compute below it) always use '
                    'stream. nbd needs qemu-nbd and qemu-img (Debian: qemu-utils) on both '
                    'hosts, and the target able to reach disk_export_port_min..max on the '
                    'source\'s migration address.'),
    cfg.PortOpt('disk_export_port_min', default=49216,
                help='First TCP port of the range the nbd disk copy exports disks on, one '
                     'port per disk while a copy runs (the range after libvirt\'s live '
                     'migration ports 49152-49215: open both in the firewall between '
                     'hosts).'),
    cfg.PortOpt('disk_export_port_max', default=49279,
                help='Last TCP port of the nbd disk copy\'s range (see '
                     'disk_export_port_min); must not be below it.'),
    cfg.StrOpt('disk_export_address', default=None, sample_default='<migration address>',
               help='Address the nbd disk copy\'s exports listen on. Unset: the host of '
                    'this host\'s [libvirt] migration_uri, the address live migrations '
                    'reach it on.'),
    cfg.StrOpt('disk_copy_tls_priority',
               default='NORMAL:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305',
               help='GnuTLS priority string of the nbd disk copy\'s TLS-PSK sessions, on '
                    'both ends (QEMU\'s tls-creds priority; QEMU adds the PSK key '
                    'exchanges). The default prefers AES-128-GCM: with QEMU 7.2 on this '
                    'project\'s machines the copy ran 2-4x faster with it than with '
                    'QEMU\'s default choice. Empty: QEMU\'s default. Keep it the same on '
                    'every host: two hosts without a common cipher cannot copy.'),
    cfg.FloatOpt('disk_copy_stall_timeout', default=30.0, min=1.0,
                 help='Seconds an nbd disk copy may move no data before the target stops '
                      'it as failed (the migration rolls back). QEMU\'s NBD client has no '
                      'keep-alive: without this a cut network holds the copy for the '
                      'kernel\'s TCP timeout (about 15 minutes). Read on the target.'),
    cfg.StrOpt('disk_tool_wrapper', default='',
               help='Command line put before qemu-nbd and qemu-img when the nbd disk copy '
                    'runs them, for an agent that does not see the disks at the paths '
                    'libvirt gives (e.g. an agent outside the mount namespace of its '
                    'libvirtd: the sandbox sets a script that nsenters it). Empty: run '
                    'them directly.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
