"""`migrator-manage plan ...`: rebalance plans in the service."""

import argparse
import sys

from migrator.cmd.manage import follow, output

POLL_INTERVAL = 1.0
FINAL = ('applied', 'partial', 'failed')

PLAN_SHOW_FIELDS = (
    'id', 'goal', 'status', 'error', 'score_before', 'score_after', 'memory_spread_before',
    'memory_spread_after', 'vcpu_spread_before', 'vcpu_spread_after', 'move_count',
    'jobsets', 'predicted_seconds', 'max_moves', 'min_gain', 'stop_reason', 'truncated',
    'remaining_gain', 'remaining_moves', 'conductor',
    'created_at', 'started_at', 'finished_at', 'updated_at',
) + output.REQUESTER_ROWS


def _num(value, digits=4):
    return round(value, digits) if isinstance(value, float) else value


def format_plan(plan):
    shown = {k: _num(v) for k, v in output.with_requester_rows(plan).items()
             if k != 'moves'}
    text = output.format_record(shown, PLAN_SHOW_FIELDS)
    moves = plan.get('moves') or []
    text += '\nMoves:\n' + output.format_table(
        ['#', 'Jobset', 'Instance', 'From', 'To', 'Memory MB', 'vCPUs', 'Gain', 'Predicted s',
         'Status', 'Migration', 'Reason'],
        [(m.get('seq'), m.get('jobset'), m.get('instance_name') or m.get('instance_uuid'),
          m.get('source_host'), m.get('target_host'), m.get('memory_mb'), m.get('vcpus'),
          _num(m.get('gain'), 6), m.get('predicted_seconds'), m.get('status', 'planned'),
          m.get('migration_id'), m.get('reason')) for m in moves])
    return text


def do_plan_create(args):
    plan = args.client.plan_create(max_moves=args.max_moves, min_gain=args.min_gain,
                                   max_parallel=args.max_parallel)
    output.emit(args, plan, lambda: format_plan(plan))
    return 0


def do_plan_list(args):
    page = args.client.plan_list(status=args.status, limit=args.limit)
    plans = page.get('plans', [])
    output.emit(args, page, lambda: output.format_table(
        ['ID', 'Goal', 'Status', 'Moves', 'Jobsets', 'Score before', 'Score after',
         'Predicted s', 'Created', 'Finished'],
        [(p.get('id'), p.get('goal'), p.get('status'), p.get('move_count'), p.get('jobsets'),
          _num(p.get('score_before')), _num(p.get('score_after')), p.get('predicted_seconds'),
          p.get('created_at'), p.get('finished_at')) for p in plans]))
    return 0


def do_plan_show(args):
    plan = args.client.plan_get(args.id)
    output.emit(args, plan, lambda: format_plan(plan))
    return 0


def _summary(plan):
    counts = {}
    for move in plan.get('moves') or []:
        counts[move.get('status')] = counts.get(move.get('status'), 0) + 1
    return ', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'no moves'


def follow_plan(client, plan, out, interval=None):
    """Polls the plan until it ends, printing a line whenever its moves change."""

    def describe(plan, elapsed):
        line = f"{plan.get('status')}: {_summary(plan)}"
        return [('plan', line, f'[{elapsed:6.1f}s] {line}')]

    return follow.follow(lambda: client.plan_get(plan['id']), plan, describe,
                         lambda p: p.get('status') in FINAL, interval or POLL_INTERVAL, out)


def do_plan_apply(args):
    plan = args.client.plan_apply(args.id)
    if not args.wait:
        output.emit(args, plan, lambda: format_plan(plan))
        return 0
    progress_out = sys.stderr if args.format == 'json' else sys.stdout
    print(f"Plan {plan['id']} is being applied; waiting for it to end (Ctrl-C stops waiting, "
          "not the plan).", file=progress_out, flush=True)
    try:
        final = follow_plan(args.client, plan, progress_out)
    except KeyboardInterrupt:
        print(f"Stopped waiting; plan {plan['id']} goes on (`migrator-manage plan show "
              f"{plan['id']}`).", file=sys.stderr)
        return 130
    output.emit(args, final, lambda: format_plan(final))
    if final.get('status') == 'applied':
        return 0
    print(f"Plan {final['id']} ended {final.get('status')}: {final.get('error')}",
          file=sys.stderr)
    return 1


def do_plan_cancel(args):
    plan = args.client.plan_cancel(args.id)
    output.emit(args, plan, lambda: f"Plan {plan['id']} cancelled: it can never be applied.")
    return 0


def _float_at_least_0(value):
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not a number') from None
    if number < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, not {value}')
    return number


def plan_options(leaf):
    leaf.add_argument('--max-moves', type=output.positive_int,
                      help='At most this many moves (default: [planner] default_max_moves).')
    leaf.add_argument('--min-gain', type=_float_at_least_0,
                      help='Stop when the best move lowers the score by less than this '
                           '(default: [planner] default_min_gain).')
    leaf.add_argument('--max-parallel', type=output.positive_int,
                      help='At most this many moves per jobset.')


def register(commands):
    plan = output.group(commands, 'plan', 'Rebalance plans in the service.')
    leaf = output.leaf(plan, 'create', do_plan_create,
                       'Plan a rebalance of the cluster; moves nothing.')
    plan_options(leaf)
    leaf = output.leaf(plan, 'list', do_plan_list, 'List plans, newest first.')
    leaf.add_argument('--status', help='Only plans in this state (planned, applying, '
                                       'applied, partial, failed).')
    leaf.add_argument('--limit', type=output.positive_int, help='At most this many.')
    leaf = output.leaf(plan, 'show', do_plan_show, 'Show a plan with its moves.')
    leaf.add_argument('id', metavar='ID')
    leaf = output.leaf(plan, 'apply', do_plan_apply, 'Apply a plan, jobset by jobset.')
    leaf.add_argument('id', metavar='ID')
    leaf.add_argument('--wait', action='store_true',
                      help='Follow the plan until it ends; exit 0 only if it was applied in '
                           'full.')
    leaf = output.leaf(plan, 'cancel', do_plan_cancel,
                       'Cancel a plan that is planned, so that nobody applies it by mistake '
                       '(a plan being applied is stopped by aborting its migrations).')
    leaf.add_argument('id', metavar='ID')
