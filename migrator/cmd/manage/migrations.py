"""`migrator-manage migration ...`."""

import argparse
import json
import sys

from migrator.cmd.manage import follow, output
from migrator.common import kinds, states

POLL_INTERVAL = 0.5
# How long --wait keeps retrying while the API cannot be reached (it may be restarting).

MIGRATION_SHOW_FIELDS = (
    'id', 'instance_name', 'instance_uuid', 'type', 'block_migration', 'status', 'progress',
    'error', 'source_host', 'requested_target', 'target_host', 'conductor', 'memory_total',
    'memory_processed', 'memory_remaining', 'disk_total', 'disk_processed', 'disk_remaining',
    'memory_progress', 'disk_progress', 'data_total', 'data_processed', 'data_remaining',
    'dirty_rate', 'transfer_rate', 'iteration', 'downtime_ms', 'downtime_limit_ms',
    'eta_seconds', 'convergence', 'samples_count', 'created_at', 'started_at', 'finished_at',
    'updated_at',
) + output.REQUESTER_ROWS
_BYTE_FIELDS = ('memory_total', 'memory_processed', 'memory_remaining', 'disk_total',
                'disk_processed', 'disk_remaining', 'data_total', 'data_processed',
                'data_remaining')
_RATE_FIELDS = ('dirty_rate', 'transfer_rate')
# How many of the newest samples `migration show` lists under the migration.
SHOWN_SAMPLES = 10


def _rate(value):
    shown = output.human_bytes(value)
    return f'{shown}/s' if isinstance(shown, str) and value is not None else shown


def format_samples(samples, count):
    """The newest samples as a table, with how many there are in all."""
    if not samples:
        return '\nSamples: none kept'
    title = (f'\nSamples ({count} kept; the newest {len(samples)}; all: '
             '`GET /v1/migrations/<id>/samples`):\n')
    return title + output.format_table(
        ['Time', 'Progress', 'Remaining', 'Dirty rate', 'Transfer', 'Iteration',
         'Downtime limit', 'ETA'],
        [(x.get('time'), output.percent(x.get('progress')),
          output.human_bytes(x.get('data_remaining') if x.get('data_remaining') is not None
                             else x.get('memory_remaining')),
          _rate(x.get('dirty_rate')), _rate(x.get('transfer_rate')), x.get('iteration'),
          f"{x['downtime_limit_ms']} ms" if x.get('downtime_limit_ms') else None,
          f"{x['eta_seconds']:.1f} s" if x.get('eta_seconds') is not None else None)
         for x in samples])


def format_migration(migration):
    shown = output.with_requester_rows(migration)
    for field in ('progress', 'memory_progress', 'disk_progress'):
        if field in shown:
            shown[field] = output.percent(shown[field])
    for field in _RATE_FIELDS:
        if field in shown:
            shown[field] = _rate(shown[field])
    if isinstance(shown.get('convergence'), dict):
        shown['convergence'] = ', '.join(f'{k}={v}' for k, v in
                                         sorted(shown['convergence'].items()))
    if 'block_migration' in shown and shown['block_migration'] is None:
        shown['block_migration'] = 'auto'
    for field in _BYTE_FIELDS:
        if field in shown:
            shown[field] = output.human_bytes(shown[field])
    text = output.format_record(shown, MIGRATION_SHOW_FIELDS)
    if migration.get('convergence_verdict'):
        text += '\n' + format_verdict(migration['convergence_verdict'])
    events = migration.get('events')
    if events is not None:
        text += '\nEvents:\n' + output.format_table(
            ['Time', 'From', 'To', 'Detail', 'By', 'Request'],
            [(e.get('time'), e.get('from_state'), e.get('to_state'), e.get('detail'),
              output.who(e.get('requester')), (e.get('requester') or {}).get('request_id'))
             for e in events])
    return text


def do_migration_list(args):
    page = args.client.migration_list(status=args.status, instance=args.instance,
                                      host=args.host, limit=args.limit, marker=args.marker)
    migrations = page.get('migrations', [])

    def table():
        text = output.format_table(
            ['ID', 'Instance', 'Type', 'Status', 'Source', 'Target', 'Progress', 'Created',
             'Finished'],
            [(m.get('id'), m.get('instance_name') or m.get('instance_uuid'), m.get('type'),
              m.get('status'), m.get('source_host'),
              m.get('target_host') or m.get('requested_target'), output.percent(m.get('progress')),
              m.get('created_at'), m.get('finished_at')) for m in migrations])
        if page.get('next') and migrations:
            text += (f"\nMore may follow: add --marker {migrations[-1]['id']} to see the next "
                     "page.")
        return text

    output.emit(args, page, table)
    return 0


def do_migration_show(args):
    migration = args.client.migration_get(args.id)

    def table():
        text = format_migration(migration)
        if migration.get('samples_count'):
            samples = args.client.migration_samples(migration['id'], limit=SHOWN_SAMPLES)
            text += '\n' + format_samples(samples, migration['samples_count'])
        return text

    output.emit(args, migration, table)
    return 0


def _progress_line(migration, elapsed):
    parts = [f'[{elapsed:6.1f}s]', str(migration.get('status'))]
    if migration.get('progress') is not None:
        parts.append(output.percent(migration['progress']))
    eta = migration.get('eta_seconds')
    if isinstance(eta, (int, float)) and not states.is_terminal(migration.get('status')):
        parts.append(f'ETA {eta:.1f} s')
    verdict = migration.get('convergence_verdict')
    if verdict:
        parts.append(f"STALLED at iteration {verdict['iteration']}: {verdict['reason']}; "
                     f"suggested: force_complete ({verdict['action_effect']})")
    return ' '.join(parts)


def follow_migration(client, migration, out=None, interval=None):
    """Polls the migration until it ends, printing a line whenever its state or progress
    changes; returns the final migration."""
    return follow.follow(
        lambda: client.migration_get(migration['id']), migration,
        lambda m, elapsed: [('migration', (m.get('status'), output.percent(m.get('progress')),
                                           bool(m.get('convergence_verdict'))),
                             _progress_line(m, elapsed))],
        lambda m: states.is_terminal(m.get('status')),
        interval or POLL_INTERVAL, out or sys.stdout)


CONTROL_OPTIONS = {
    'max_downtime_ms': 'max_downtime', 'downtime_steps': 'downtime_steps',
    'bandwidth_mib': 'bandwidth', 'auto_converge': 'auto_converge', 'post_copy': 'post_copy',
    'completion_timeout_per_gib': 'completion_timeout', 'timeout_action': 'timeout_action',
}


def format_forecast(forecast):
    """The convergence forecast of a dry run, as lines: the verdict, then the figures."""
    f = forecast['figures']
    downtime = (f"{forecast['downtime_ms']:.0f} ms" if forecast.get('downtime_ms') is not None
                else 'none (it does not converge)')
    verdict = forecast['verdict']
    if forecast.get('borderline') and forecast.get('verdict_at_high'):
        verdict += (f" (BORDERLINE: {forecast['verdict_at_low']} at the low end of the dirty "
                    f"rate's interval, {forecast['verdict_at_high']} at the high end)")
    elif forecast.get('borderline'):
        verdict += (f" (BORDERLINE: {forecast.get('verdict_at_low')} at the low end of the "
                    f"dirty rate's interval)")
    rows = [
        ('Verdict', verdict),
        ('Why', forecast['reason']),
        ('Predicted duration', f"{forecast['predicted_seconds']:.1f} s"),
        ('Pre-copy iterations', forecast['iterations']),
        ('Expected downtime', downtime),
        ('With these controls', forecast['expected_outcome']),
        ('Suggested action', forecast.get('suggested_action') or '-'),
        ('Memory', output.human_bytes(f['memory_bytes'])),
        ('Dirty rate', f"{_rate(f['dirty_rate'])} ({f['dirty_rate_source']}"
                       + (f": {f['dirty_rate_note']}" if f.get('dirty_rate_note') else '')
                       + ')'),
        *([('Dirty rate interval', f"{_rate(f['dirty_rate_low'])} to "
                                   f"{_rate(f['dirty_rate_high'])}")]
          if f.get('dirty_rate_high') is not None else []),
        *([('Guest writes', _writes(f))] if f.get('writes_in_bursts') is not None else []),
        ('Bandwidth', f"{_rate(f['bandwidth'])} ({f['bandwidth_source']})"),
        *([('Effective rate', f"{_rate(f['effective_bandwidth'])} "
                              f"({f.get('effective_bandwidth_source')}: "
                              f"{f.get('effective_bandwidth_note')})")]
          if f.get('effective_bandwidth') else []),
        ('Fixed overhead', f"{f['overhead_seconds']:.1f} s"
                           + (f" ({f['overhead_source']}: {f['overhead_note']})"
                              if f.get('overhead_source') else '')),
        ('Downtime limit', f"{f['max_downtime_ms']} ms in {f['downtime_steps']} steps"),
        ('Completion timeout', f"{f['completion_timeout_seconds']} s"
                               if f.get('completion_timeout_seconds') else 'none'),
    ]
    return 'Convergence forecast:\n' + '\n'.join(f'  {k + ":":<21}{v}' for k, v in rows)


def _writes(figures):
    """How the guest writes its memory, as its measurement showed."""
    busy = figures.get('vcpu_busy')
    busy = f', its busiest vCPU ran {busy:.0%} of the time' if busy is not None else ''
    if figures['writes_in_bursts']:
        return f'in bursts with quiet stretches between{busy}'
    return f'steadily (no bursts that recur each second){busy}'


def format_verdict(verdict):
    """A migration's convergence_verdict (the stall diagnosis) in one paragraph."""
    text = (f"Convergence: {verdict['verdict']} at iteration {verdict['iteration']}: "
            f"{verdict['reason']}.\n  Suggested action: force_complete "
            f"(`migrator-manage migration force-complete ID`: {verdict['action_effect']})")
    if verdict.get('alternatives'):
        text += f"\n  For a new attempt: {', '.join(verdict['alternatives'])}"
        if verdict.get('bandwidth_needed_mib'):
            text += f" (bandwidth >= {verdict['bandwidth_needed_mib']} MiB/s)"
    return text


def format_dry_run(answer):
    lines = [f"Target: {answer.get('target_host') or 'none'}", f"Why: {answer.get('reason')}"]
    filters = answer.get('filters') or []
    if filters:
        lines.append('Filters:\n' + output.format_table(
            ['Filter', 'Hosts before', 'Removed', 'For example'],
            [(f['filter'], f['hosts_before'], f['removed'], '; '.join(f.get('examples') or ()))
             for f in filters]))
    weights = answer.get('weights') or []
    if weights:
        lines.append('Best candidates:\n' + output.format_table(
            ['Host', 'Weight', 'Memory MB free after', 'Migrations in flight'],
            [(w['host'], w['weight'], w.get('memory_mb_free_after'),
              w.get('migrations_in_flight')) for w in weights]))
    if answer.get('forecast'):
        lines.append(format_forecast(answer['forecast']))
    slots = answer.get('slots')
    if slots:
        lines.append(f"Slots: source sends {slots['source_outbound']} of "
                     f"{slots['max_outbound_per_host']}, cluster runs {slots['cluster_active']} "
                     f"of {slots['max_migrations_in_cluster']}"
                     + ('; it would wait in the queue' if slots.get('would_queue') else ''))
    return '\n'.join(lines)


def do_migration_create(args):
    block = {'yes': True, 'no': False}.get(args.block_migration)
    controls = {field: getattr(args, option) for field, option in CONTROL_OPTIONS.items()}
    migration = args.client.migration_create(args.instance, migration_type=args.type,
                                             target_host=args.target_host,
                                             block_migration=block, controls=controls,
                                             priority=args.priority, dry_run=args.dry_run)
    if args.dry_run:
        answer = migration['dry_run']
        output.emit(args, migration, lambda: format_dry_run(answer))
        return 0 if answer.get('possible') else 1
    if not args.wait:
        output.emit(args, migration, lambda: format_migration(migration))
        return 0
    return _wait_for_end(args, migration, f"Migration {migration['id']} of {args.instance} "
                                          "accepted")


def do_migration_force_complete(args):
    migration = args.client.migration_force_complete(args.id)
    how = {'post_copy': 'switched to post-copy: the guest runs on the target now and its '
                        'remaining memory follows',
           'paused': 'the guest is paused on the source so the last copy finishes; it '
                     'resumes on the target'}.get(migration.get('forced'),
                                                  str(migration.get('forced')))
    message = f"Migration {migration['id']} forced to complete: {how}"
    if not args.wait:
        if args.format == 'json':
            print(json.dumps(migration, indent=2))
        else:
            print(message + '.')
        return 0
    return _wait_for_end(args, migration, message)


def _wait_for_end(args, migration, headline):
    progress_out = sys.stderr if args.format == 'json' else sys.stdout
    print(f"{headline}; waiting for it to end (Ctrl-C stops waiting, not the migration).",
          file=progress_out, flush=True)
    try:
        final = follow_migration(args.client, migration, out=progress_out)
    except KeyboardInterrupt:
        print(f"Stopped waiting; migration {migration['id']} goes on (`migrator-manage "
              f"migration show {migration['id']}`).", file=sys.stderr)
        return 130
    status = final.get('status')
    if args.format == 'json':
        print(json.dumps(final, indent=2))
    if status == states.COMPLETED:
        if args.format != 'json':
            target = final.get('target_host') or final.get('requested_target') or '?'
            name = final.get('instance_name') or final.get('instance_uuid')
            print(f"Migration {final['id']} completed: instance {name} now runs on {target}.")
        return 0
    error = final.get('error') or 'no error recorded'
    print(f"Migration {final['id']} ended {status}: {error}", file=sys.stderr)
    return 1


def do_migration_abort(args):
    migration = args.client.migration_abort(args.id)
    if not args.wait:
        output.emit(args, migration, lambda: format_migration(migration))
        return 0
    progress_out = sys.stderr if args.format == 'json' else sys.stdout
    print(f"Abort of migration {migration['id']} requested; waiting for it to end "
          "(Ctrl-C stops waiting, not the abort).", file=progress_out, flush=True)
    try:
        final = follow_migration(args.client, migration, out=progress_out)
    except KeyboardInterrupt:
        print(f"Stopped waiting; the abort of migration {migration['id']} goes on "
              f"(`migrator-manage migration show {migration['id']}`).", file=sys.stderr)
        return 130
    if args.format == 'json':
        print(json.dumps(final, indent=2))
    status = final.get('status')
    name = final.get('instance_name') or final.get('instance_uuid')
    if status == states.CANCELLED:
        if args.format != 'json':
            print(f"Migration {final['id']} cancelled: instance {name} runs on "
                  f"{final.get('source_host')}.")
        return 0
    where = {states.COMPLETED: f" (it finished first: {name} runs on "
                               f"{final.get('target_host')})"}.get(status, '')
    error = final.get('error')
    print(f"Migration {final['id']} ended {status}, not cancelled{where}"
          + (f": {error}" if error and status != states.COMPLETED else '.'), file=sys.stderr)
    return 1


def do_migration_reset_state(args):
    migration = args.client.migration_reset_state(args.id, args.state, args.reason)
    name = migration.get('instance_name') or migration.get('instance_uuid')
    output.emit(args, migration, lambda: (
        f"Migration {migration['id']} reset to {migration['status']}; its instance lock, "
        f"slots and claims are given back. Nothing was done on any host: check where {name} "
        "runs (`migrator-manage audit`)."))
    return 0


def register(commands):
    migration = output.group(commands, 'migration', 'Migrations.')
    leaf = output.leaf(migration, 'create', do_migration_create, 'Migrate an instance.')
    leaf.add_argument('instance', metavar='INSTANCE', help='UUID or name of the instance.')
    leaf.add_argument('--type', choices=kinds.NAMES, default=kinds.DEFAULT,
                      help=f'Kind of migration (default: {kinds.DEFAULT}): '
                           + '; '.join(k.summary for k in kinds.KINDS.values()) + '.')
    leaf.add_argument('--target-host', metavar='HOST',
                      help='Host to move to (default: the scheduler chooses).')
    leaf.add_argument('--block-migration', choices=('yes', 'no', 'auto'), default='auto',
                      help='auto (the default) and yes copy the disks that are not on '
                           'storage both hosts see; no allows shared storage only and is '
                           'refused when a disk would need copying.')
    leaf.add_argument('--priority', type=int, default=None,
                      help='-100 to 100, default 0: queued migrations start highest '
                           'priority first, oldest first within a priority.')
    leaf.add_argument('--dry-run', action='store_true',
                      help='Only ask the scheduler which host it would choose and why (or '
                           'why none fits); create and move nothing. Exit 1 if none fits.')
    leaf.add_argument('--wait', action='store_true',
                      help='Follow the migration until it ends; exit 0 only if it '
                           'completed.')
    controls = leaf.add_argument_group(
        'convergence controls (live; unset ones take the [libvirt] live_migration_* '
        'defaults)')
    controls.add_argument('--max-downtime', type=int, metavar='MS',
                          help='Longest pause of the guest for the final copy; the job '
                               'starts lower and steps up to it while it does not converge.')
    controls.add_argument('--downtime-steps', type=int, metavar='N',
                          help='Steps up to --max-downtime.')
    controls.add_argument('--bandwidth', type=int, metavar='MIB_PER_S',
                          help='Bandwidth cap (0: unlimited).')
    controls.add_argument('--auto-converge', action=argparse.BooleanOptionalAction,
                          default=None, help='Throttle the guest\'s vCPUs while it does not '
                                             'converge.')
    controls.add_argument('--post-copy', action=argparse.BooleanOptionalAction, default=None,
                          help='Permit a switch to post-copy (force-complete or the '
                               'completion timeout).')
    controls.add_argument('--completion-timeout', type=int, metavar='S_PER_GIB',
                          help='Seconds per GiB of guest memory before --timeout-action '
                               '(0: none).')
    controls.add_argument('--timeout-action', choices=('abort', 'force_complete'),
                          help='At the completion timeout: abort (ends cancelled, the guest '
                               'stays on the source) or force_complete.')
    leaf = output.leaf(migration, 'force-complete', do_migration_force_complete,
                       'Make a running live migration finish: switch to post-copy when it '
                       'was started with post-copy permitted, else pause the guest until '
                       'the copy is done.')
    leaf.add_argument('id', metavar='ID')
    leaf.add_argument('--wait', action='store_true',
                      help='Follow the migration until it ends; exit 0 only if it '
                           'completed.')
    leaf = output.leaf(migration, 'list', do_migration_list, 'List migrations, newest first.')
    leaf.add_argument('--status', help='Only migrations in this state (e.g. running, '
                                       'completed, failed).')
    leaf.add_argument('--instance', help='Only migrations of this instance (UUID or name).')
    leaf.add_argument('--host', help='Only migrations from or to this host.')
    leaf.add_argument('--limit', type=output.positive_int, help='Page size.')
    leaf.add_argument('--marker', help='Start after this migration id (from the previous '
                                       'page).')
    leaf = output.leaf(migration, 'abort', do_migration_abort,
                       'Abort a migration; the instance stays on (or returns to) its source '
                       'host.')
    leaf.add_argument('id', metavar='ID')
    leaf.add_argument('--wait', action='store_true',
                      help='Follow the migration until it ends; exit 0 only if it ended '
                           'cancelled.')
    leaf = output.leaf(migration, 'reset-state', do_migration_reset_state,
                       'Administrators: end a migration in flight that nothing will settle '
                       '(its job is gone, or the hosts were repaired by hand). Bookkeeping '
                       'only, recorded as an event with the reason; refused (409) for a '
                       'migration that has ended.')
    leaf.add_argument('id', metavar='ID')
    leaf.add_argument('--state', required=True, choices=('error', 'failed'),
                      help='error: where the guest runs needs checking; failed: the guest '
                           'is known to run on its source.')
    leaf.add_argument('--reason', required=True, help='Why (recorded in the events).')
    leaf = output.leaf(migration, 'show', do_migration_show,
                 'Show one migration with its progress and event history.')
    leaf.add_argument('id', metavar='ID')
