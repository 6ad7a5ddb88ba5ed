from oslo_config import cfg

group = cfg.OptGroup('scheduler', title='Scheduler options: filters, weighers, claims and '
                                        'concurrency limits')

ALL_FILTERS = ['HostUpFilter', 'HostStatusFilter', 'NotSourceFilter', 'VirtTypeFilter',
               'HypervisorVersionFilter', 'CpuCompatibilityFilter', 'MemoryFilter',
               'VcpuFilter', 'DiskFilter', 'ServerGroupAffinityFilter',
               'ServerGroupAntiAffinityFilter', 'InboundLimitFilter']

DEFAULT_WEIGHERS = ['RamWeigher', 'MigrationsInFlightWeigher']

opts = [
    cfg.ListOpt('enabled_filters', default=ALL_FILTERS,
                help='Filters a host must pass to be a migration target, in the order they '
                     'run (cheap and selective first). A forced target passes them too. '
                     'Filters are found by name among the migrator.scheduler.filters entry '
                     'points; besides the default ones the project ships NotSendingFilter '
                     '(no target that is sending guests away).'),
    cfg.ListOpt('enabled_weighers', default=DEFAULT_WEIGHERS,
                help='Weighers that rank the hosts that passed the filters; their weights '
                     'are scaled to 0..1 and multiplied by their multiplier option (such as '
                     'ram_weight_multiplier). '
                     'Weighers are found by name among the migrator.scheduler.weighers entry '
                     'points.'),
    cfg.FloatOpt('ram_allocation_ratio', default=1.0, min=0.1,
                 help='Memory a host offers to guests, as a multiple of its physical memory '
                      'less reserved_memory_mb. 1.0 never overcommits memory.'),
    cfg.FloatOpt('cpu_allocation_ratio', default=4.0, min=0.1,
                 help='vCPUs a host offers to guests per physical CPU.'),
    cfg.FloatOpt('disk_allocation_ratio', default=1.0, min=0.1,
                 help='Disk a host offers to guests, as a multiple of its storage pool size; '
                      'checked for block and cold migration, which copy the disks.'),
    cfg.FloatOpt('ram_weight_multiplier', default=1.0,
                 help='Weight of the free memory a host has left after taking the guest. '
                      'Positive spreads guests over the hosts with most free memory; '
                      'negative packs them onto the fullest hosts that still fit.'),
    cfg.FloatOpt('migrations_weight_multiplier', default=1.0,
                 help='Weight of the migrations in flight into and out of a host: positive '
                      'prefers hosts with fewer of them.'),
    cfg.IntOpt('max_outbound_per_host', default=2, min=1,
               help='Migrations leaving one host at once; more wait as queued (KubeVirt '
                    'ships 2).'),
    cfg.IntOpt('max_inbound_per_host', default=2, min=1,
               help='Migrations entering one host at once; a host at this limit is not '
                    'chosen, and a migration forced onto it waits as queued.'),
    cfg.IntOpt('max_migrations_in_cluster', default=5, min=1,
               help='Migrations in flight in the whole cluster at once; more wait as '
                    'queued (KubeVirt ships 5).'),
    cfg.FloatOpt('queue_poll_interval', default=10.0, min=0.1,
                 help='Seconds between looks at the queue for migrations that can start. '
                      'A migration that ends starts the next at once; this only catches '
                      'slots freed by a conductor that died.'),
    cfg.FloatOpt('host_cache_refresh_interval', default=1.0, min=0.0,
                 help='A decision re-reads the hosts changed in the DB since the last '
                      'refresh when the cache is older than this many seconds. Staleness '
                      'never overcommits (the claim in the DB re-checks the room); it can '
                      'only cost a retry.'),
    cfg.IntOpt('claim_attempts', default=3, min=1,
               help='Claims tried per placement: when another conductor took the room of '
                    'the chosen host between the decision and its claim, the host is re-read '
                    'and the scheduler decides again, up to this many times.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
