"""`migrator-manage rebalance plan`: plan from a snapshot file, with no service running."""

import sys

from oslo_config import cfg

from migrator.cmd.manage import output, plans
from migrator.planner import search, settings, snapshot

CONF = cfg.CONF


def do_rebalance_plan(args):
    try:
        cluster = snapshot.load(args.snapshot)
    except snapshot.SnapshotError as exc:
        print(f'ERROR: {exc}', file=sys.stderr)
        return 1
    plan = search.plan(cluster, max_moves=args.max_moves or CONF.planner.default_max_moves,
                       min_gain=(CONF.planner.default_min_gain if args.min_gain is None
                                 else args.min_gain),
                       config=settings.score_config(CONF),
                       durations=settings.duration_model(CONF), max_parallel=args.max_parallel)
    result = plan.as_dict()
    view = {
        'score_before': plan.score_before.total, 'score_after': plan.score_after.total,
        'memory_spread_before': plan.score_before.memory_spread,
        'memory_spread_after': plan.score_after.memory_spread,
        'vcpu_spread_before': plan.score_before.vcpu_spread,
        'vcpu_spread_after': plan.score_after.vcpu_spread,
        'move_count': len(plan.moves), 'jobsets': result['jobsets'],
        'predicted_seconds': result['predicted_seconds'], 'stop_reason': plan.stop_detail,
        'moves': [{'seq': m.seq, 'jobset': m.jobset, 'instance_uuid': m.instance_uuid,
                   'instance_name': m.instance_name, 'source_host': m.source,
                   'target_host': m.target, 'memory_mb': m.memory_mb, 'vcpus': m.vcpus,
                   'gain': m.gain, 'predicted_seconds': m.predicted_seconds}
                  for m in plan.moves]}
    output.emit(args, result, lambda: plans.format_plan(view))
    return 0


def _float_at_least_0(value):
    number = float(value)
    if number < 0:
        raise ValueError(value)
    return number



def register(commands):
    rebalance = output.group(commands, 'rebalance', 'Offline rebalance planning.')
    leaf = output.leaf(rebalance, 'plan', do_rebalance_plan,
                       'Plan a rebalance from a snapshot file, without any service.')
    leaf.add_argument('--snapshot', required=True, metavar='FILE',
                      help='A snapshot, e.g. from `migrator-manage cluster snapshot`.')
    plans.plan_options(leaf)
