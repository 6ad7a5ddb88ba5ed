from oslo_config import cfg

group = cfg.OptGroup('drain', title='Host drain options')

opts = [
    cfg.IntOpt('max_parallel', default=2, min=1, max=64,
               help='Migrations one drain (or undrain return) runs at a time when the '
                    'request gives no max_parallel. The scheduler\'s per-host and cluster '
                    'limits apply on top of it.'),
    cfg.FloatOpt('poll_interval', default=1.0, min=0.05,
                 help='Seconds between two looks of a drain at the migrations it started, '
                      'when none of them ended meanwhile (one DB read per look for the '
                      'whole drain). The end of a migration this conductor drives wakes '
                      'the drain at once; the looks are for those another conductor '
                      'drives.'),
    cfg.IntOpt('item_timeout', default=3900, min=10,
               help='Seconds a drain waits for one guest\'s migration to end before it '
                    'reports that guest failed and goes on. Keep it above [conductor] '
                    'migration_timeout, which already ends a stuck libvirt job: this one '
                    'only fires when the conductor running that migration is gone.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
