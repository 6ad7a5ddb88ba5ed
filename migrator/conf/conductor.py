from oslo_config import cfg

group = cfg.OptGroup('conductor', title='Conductor options')

opts = [
    cfg.IntOpt('workers', default=16, min=1,
               help='Threads that run migration tasks; each migration in flight holds one.'),
    cfg.IntOpt('service_down_time', default=30, min=1,
               help='Seconds without a heartbeat after which a compute host counts as down '
                    'and is not chosen as a target.'),
    cfg.IntOpt('compute_rpc_timeout', default=60, min=1,
               help='Seconds to wait for a compute agent to answer a preparation or check '
                    'call.'),
    cfg.IntOpt('migration_timeout', default=3600, min=1,
               help='Seconds a running migration may take before the conductor stops '
                    'waiting, aborts it and rolls back. A live migration whose completion '
                    'timeout ([libvirt] live_migration_completion_timeout per GiB) is longer '
                    'gets that plus 300 s instead.'),
    cfg.FloatOpt('disk_copy_check_interval', default=5.0, min=0.1,
                 help='Seconds between two questions to the target agent, while a cold '
                      'migration waits for its disk copy, whether the copy still runs: a '
                      'copy lost to an agent restart is rolled back within about this '
                      'long after the agent answers again.'),
    cfg.IntOpt('shutdown_timeout', default=60, min=0,
               help='Seconds a cold migration waits for the guest to shut down after the '
                    'ACPI power-button request before it forces the guest off (like pulling '
                    'the plug). 0 forces it off at once.'),
    cfg.IntOpt('audit_grace', default=30, min=0,
               help='Seconds a migration may sit in a state before `migrator-manage audit` '
                    'judges it: an `accepted` one no conductor took, a `running` live one '
                    'without a libvirt job; also how long after it landed a claim may wait '
                    'for its target to account for the guest.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
