from oslo_config import cfg

group = cfg.OptGroup('convergence', title='Convergence forecast and stall diagnosis options')

opts = [
    cfg.IntOpt('dirty_rate_measure_seconds', default=14, min=0, max=60,
               help='Seconds the source hypervisor measures a guest\'s memory dirty rate for '
                    'a dry run\'s forecast (QEMU calc-dirty-rate, page sampling, in periods '
                    'of [libvirt] dirty_rate_period_seconds, each a new sample of 512 pages '
                    'per GiB, then one of [libvirt] dirty_rate_long_period_seconds that shows '
                    'the working set); the dry run waits that long. The interval the forecast '
                    'states for the rate narrows with the square root of the short periods; '
                    'a verdict that differs between its ends is borderline. 0: never '
                    'measure; the forecast uses the guest\'s last completed migration, else '
                    '[planner] default_dirty_rate_mib_s.'),
    cfg.IntOpt('overhead_observations', default=10, min=0, max=1000,
               help='Completed live migrations whose residual overhead (duration minus what '
                    'their passes explain) and effective rate (how fast their first pass '
                    'was worked off under their bandwidth cap) a forecast takes the median '
                    'of, newest first: those from the same source to the same target host '
                    'when there are any (for the rate: under the same cap), else those of '
                    'the whole cluster. 0, or none observed yet: [planner] '
                    'migration_overhead_seconds, and the cap itself as the rate.'),
    cfg.FloatOpt('observation_decay', default=0.7, min=0.1, max=1.0,
                 help='How much less each older one of those overhead_observations migrations '
                      'weighs in the median the forecast takes (the newest weighs 1, the one '
                      'before it this much, the next this squared...). 1: the plain median. '
                      'Below 1 the learned overhead and effective rate follow a host pair '
                      'whose load changes within minutes; at 0.7 one odd migration still moves '
                      'nothing, two in a row move it part of the way, three all of it.'),
    cfg.IntOpt('stall_iterations', default=3, min=3, max=100,
               help='Memory iterations a live migration must have begun before it may be '
                    'diagnosed as stalled (every pass from the second on left at least 80 % '
                    'of the one before it to send again).'),
    cfg.StrOpt('stall_action', default='suggest', choices=[
                   ('suggest', 'show the diagnosis and its suggested action only'),
                   ('force_complete', 'also force the migration to complete (post-copy '
                                      'when it permits post-copy, else pause the guest)')],
               help='What the conductor does when it diagnoses a running live migration as '
                    'stalled. The diagnosis is always shown (API, CLI, an event in the '
                    'migration\'s history, a migration.stalled notification).'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
