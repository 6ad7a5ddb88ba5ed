"""`migrator-manage host drain|undrain|drain-status|drain-cancel ...` (the host group)."""

import json
import sys

from migrator.cmd.manage import follow, output

POLL_INTERVAL = 0.5
TERMINAL = ('completed', 'partial', 'cancelled', 'failed')

DRAIN_SHOW_FIELDS = (
    'id', 'kind', 'host', 'mode', 'status', 'max_parallel', 'target_hosts', 'origin_id',
    'conductor', 'reason', 'created_at', 'updated_at', 'finished_at',
) + output.REQUESTER_ROWS


def _summary(job):
    counts = job.get('summary') or {}
    parts = [f"{counts.get(s, 0)} {s}" for s in ('moved', 'running', 'pending', 'failed',
                                                 'cancelled', 'gone') if counts.get(s)]
    return f"{counts.get('total', 0)} guests: " + (', '.join(parts) or 'none')


def _item_progress(item):
    migration = item.get('migration') or {}
    if item.get('status') == 'running' and migration:
        text = f"{migration.get('status')} {output.percent(migration.get('progress'))}"
        eta = migration.get('eta_seconds')
        if isinstance(eta, (int, float)) and eta > 0:
            text += f' ETA {eta:.1f} s'
        return text
    return None


def format_drain(job):
    shown = output.with_requester_rows(job)
    shown['summary'] = _summary(job)
    text = output.format_record(shown, DRAIN_SHOW_FIELDS + ('summary',))
    items = [i for i in job.get('items') or ()]
    text += '\nGuests:\n' + output.format_table(
        ['Instance', 'Status', 'From', 'To', 'Type', 'Migration', 'Progress', 'Reason'],
        [(i.get('instance_name') or i.get('instance_uuid'), i.get('status'),
          i.get('source_host'), i.get('target_host'), i.get('migration_type'),
          i.get('migration_id'), _item_progress(i), i.get('reason')) for i in items])
    return text


def _item_line(item, elapsed):
    name = item.get('instance_name') or item.get('instance_uuid')
    status = item.get('status')
    if status == 'moved':
        what = f"moved to {item.get('target_host')}"
    elif status == 'running':
        what = f"{item.get('migration_type')} migration {_item_progress(item) or ''}".strip()
    elif status in ('failed', 'cancelled', 'gone'):
        what = f"{status}: {item.get('reason')}"
    else:
        what = status
    return f'[{elapsed:6.1f}s]   {name}: {what}'


def follow_drain(client, job, out=None, interval=None):
    """Polls the job until it ends, printing its summary and each guest whenever they
    change; returns the final job."""

    def describe(job, elapsed):
        lines = [('drain', (job.get('status'), _summary(job)),
                  f"[{elapsed:6.1f}s] {job.get('status')}: {_summary(job)}")]
        for item in job.get('items') or ():
            key = (item.get('status'), item.get('migration_type'),
                   (item.get('migration') or {}).get('status'))
            lines.append((item.get('instance_uuid'), key, _item_line(item, elapsed)))
        return lines

    return follow.follow(lambda: client.drain_get(job['id']), job, describe,
                         lambda j: j.get('status') in TERMINAL, interval or POLL_INTERVAL,
                         out or sys.stdout)


def _wait_and_report(args, job, what):
    progress_out = sys.stderr if args.format == 'json' else sys.stdout
    print(f"{what} {job['id']} of {job['host']} accepted; waiting for it to end (Ctrl-C "
          f"stops waiting, not the {job['kind']}).", file=progress_out, flush=True)
    try:
        final = follow_drain(args.client, job, out=progress_out)
    except KeyboardInterrupt:
        print(f"Stopped waiting; {job['kind']} {job['id']} goes on (`migrator-manage host "
              f"drain-status {job['host']}`).", file=sys.stderr)
        return 130
    if args.format == 'json':
        print(json.dumps(final, indent=2))
    status = final.get('status')
    message = f"{what} {final['id']} of {final['host']} ended {status}: {_summary(final)}."
    if status == 'completed':
        if args.format != 'json':
            print(message)
        return 0
    print(message, file=sys.stderr)
    for item in final.get('items') or ():
        if item.get('status') in ('failed', 'cancelled'):
            print(f"  {item.get('instance_name') or item.get('instance_uuid')}: "
                  f"{item.get('status')}: {item.get('reason')}", file=sys.stderr)
    return 1


def do_host_drain(args):
    job = args.client.host_drain(args.name, mode=args.mode, target_hosts=args.target_host,
                                 max_parallel=args.max_parallel)
    if not args.wait:
        output.emit(args, job, lambda: format_drain(job))
        return 0
    return _wait_and_report(args, job, 'Drain')


def do_host_undrain(args):
    result = args.client.host_undrain(args.name, return_guests=args.return_guests)
    job = result.get('return')
    if job is None or not args.wait:
        def table():
            text = f"Host {result['host']['name']} is {result['host']['status']}."
            if job is not None:
                text += f"\nReturning its guests ({job['id']}):\n" + format_drain(job)
            elif args.return_guests:
                text += ' No guest of its last drain is left to bring back.'
            return text
        output.emit(args, result, table)
        return 0
    progress_out = sys.stderr if args.format == 'json' else sys.stdout
    print(f"Host {result['host']['name']} is {result['host']['status']}.", file=progress_out)
    return _wait_and_report(args, job, 'Return')


def do_host_drain_status(args):
    job = args.client.host_drain_get(args.name)
    output.emit(args, job, lambda: format_drain(job))
    return 0


def do_host_drain_cancel(args):
    job = args.client.host_drain_cancel(args.name)
    output.emit(args, job, lambda: format_drain(job))
    return 0


def register(commands):
    host = output.group(commands, 'host', 'Compute hosts.')
    leaf = output.leaf(host, 'drain', do_host_drain,
                       'Put a host in maintenance and move every guest off it.')
    leaf.add_argument('name', metavar='NAME')
    leaf.add_argument('--mode', choices=('live', 'live_then_cold', 'cold'), default='live',
                      help='live (default); live_then_cold: a guest whose live migration '
                           'fails or is refused moves cold; cold.')
    leaf.add_argument('--target-host', action='append', metavar='HOST',
                      help='A host the guests may go to (repeat it; default: any host the '
                           'scheduler picks).')
    leaf.add_argument('--max-parallel', type=output.positive_int, metavar='N',
                      help='Migrations at a time (default: [drain] max_parallel).')
    leaf.add_argument('--wait', action='store_true',
                      help='Follow the drain until it ends; exit 0 only if it completed.')
    leaf = output.leaf(host, 'undrain', do_host_undrain,
                       'Return a host to service; optionally bring its guests back.')
    leaf.add_argument('name', metavar='NAME')
    leaf.add_argument('--return-guests', action='store_true',
                      help='Move back the guests the last drain took away (those still on '
                           'the host they were moved to).')
    leaf.add_argument('--wait', action='store_true',
                      help='Follow the return until it ends; exit 0 only if it completed.')
    leaf = output.leaf(host, 'drain-status', do_host_drain_status,
                       "Show the host's newest drain (or return) with each guest's outcome.")
    leaf.add_argument('name', metavar='NAME')
    leaf = output.leaf(host, 'drain-cancel', do_host_drain_cancel,
                       "Cancel what has not started of the host's running drain or return.")
    leaf.add_argument('name', metavar='NAME')
