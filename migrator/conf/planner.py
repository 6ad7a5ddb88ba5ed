from oslo_config import cfg

group = cfg.OptGroup('planner', title='Rebalance planner options')

opts = [
    cfg.FloatOpt('assumed_bandwidth_mib_s', default=1000.0, min=1.0,
                 help='Migration bandwidth, in MiB/s, that predicted move durations assume '
                      '(1000 is about a 10 Gbit/s link).'),
    cfg.FloatOpt('default_dirty_rate_mib_s', default=8.0, min=0.0,
                 help='Memory dirty rate, in MiB/s, assumed for a guest whose rate was '
                      'never observed in one of its migrations.'),
    cfg.FloatOpt('migration_overhead_seconds', default=2.0, min=0.0,
                 help='Seconds a move takes on top of copying its memory and disks '
                      '(starting the target QEMU, the hand-over).'),
    cfg.FloatOpt('cpu_allocation_ratio', default=4.0, min=0.1,
                 help='vCPUs a host may run per physical CPU: a hard limit of the plan '
                      '(no move puts a host over it, as the scheduler would refuse it), and '
                      'the measure of the over-commit penalty of hosts already over it.'),
    cfg.IntOpt('default_max_moves', default=100, min=1,
               help='Moves a plan may have when the request gives no max_moves.'),
    cfg.FloatOpt('default_min_gain', default=0.01, min=0.0,
                 help='Score decrease a move must buy to be planned, when the request gives '
                      'no min_gain: every move costs a live migration, so the search stops '
                      'once the best move left gains less (as hbal\'s minimum gain per '
                      'step), when the score is below min_gain_limit. 0.01 is one point of '
                      'memory or vCPU spread in a hundred; 0 plans every move that lowers '
                      'the score at all.'),
    cfg.FloatOpt('min_gain_limit', default=0.1, min=0.0,
                 help='Score below which min_gain applies (as hbal\'s --min-gain-limit): '
                      'while the cluster scores this or more, a move that lowers the score '
                      'at all is planned, since on a badly balanced cluster the moves after '
                      'a small one may gain much. 0.1 is hbal\'s default; a value above any '
                      'score (e.g. 1000) applies min_gain at every step.'),
    cfg.FloatOpt('apply_poll_interval', default=0.5, min=0.05,
                 help='Seconds between looks at the migrations of a jobset while a plan is '
                      'applied.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
