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
    max_moves = args.max_moves or CONF.planner.default_max_moves
    min_gain = CONF.planner.default_min_gain if args.min_gain is None else args.min_gain
    min_gain_limit = (CONF.planner.min_gain_limit if args.min_gain_limit is None
                      else args.min_gain_limit)
    plan = search.plan(cluster, max_moves=max_moves, min_gain=min_gain,
                       config=settings.score_config(CONF),
                       durations=settings.duration_model(CONF), max_parallel=args.max_parallel,
                       min_gain_limit=min_gain_limit)
    view = offline_view(plan, max_moves, min_gain)
    output.emit(args, view, lambda: plans.format_plan(view))
    return 0


# A plan from the service has an id, an owner and times; one planned offline has none.
_NOT_IN_SERVICE = ('id', 'conductor', 'error', 'created_at', 'updated_at', 'started_at',
                   'finished_at')
_REQUESTER = ('user_id', 'user_name', 'project_id', 'project_name', 'request_id',
              'global_request_id')


def offline_view(plan, max_moves, min_gain):
    """The plan as GET /v1/plans/{id} shows one (latest microversion), so that a script
    reads an offline plan and a service's plan alike; what only the service has is null."""
    view = {field: None for field in _NOT_IN_SERVICE}
    view.update({
        'goal': 'balance', 'status': 'planned', 'max_moves': max_moves, 'min_gain': min_gain,
        'score_before': plan.score_before.total, 'score_after': plan.score_after.total,
        'memory_spread_before': plan.score_before.memory_spread,
        'memory_spread_after': plan.score_after.memory_spread,
        'vcpu_spread_before': plan.score_before.vcpu_spread,
        'vcpu_spread_after': plan.score_after.vcpu_spread,
        'predicted_seconds': plan.predicted_seconds, 'jobsets': len(plan.jobsets()),
        'stop_reason': plan.stop_detail, 'truncated': plan.truncated,
        'remaining_gain': plan.remaining_gain, 'remaining_moves': plan.remaining_moves,
        'requester': {field: None for field in _REQUESTER},
        'moves': [{'seq': m.seq, 'jobset': m.jobset, 'instance_uuid': m.instance_uuid,
                   'instance_name': m.instance_name, 'source_host': m.source,
                   'target_host': m.target, 'memory_mb': m.memory_mb, 'vcpus': m.vcpus,
                   'disk_gb': m.disk_gb, 'gain': m.gain, 'score_after': m.score_after,
                   'predicted_seconds': m.predicted_seconds, 'status': 'planned',
                   'migration_id': None, 'reason': None, 'started_at': None,
                   'finished_at': None} for m in plan.moves],
        'move_count': len(plan.moves)})
    return view


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
    leaf.add_argument('--min-gain-limit', type=plans._float_at_least_0,
                      help='Apply --min-gain only once the score is below this, as hbal\'s '
                           '--min-gain-limit (default: [planner] min_gain_limit); a large '
                           'value (e.g. 1000) applies it at every step.')
