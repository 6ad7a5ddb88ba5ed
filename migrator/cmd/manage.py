"""migrator-manage: the operator's command line.

`db ...` works on the database directly; `host`, `instance` and `migration` go through the
REST API (--url, $MIGRATOR_URL, or the [api] address of the configuration: by default
http://127.0.0.1:9777); `sandbox ...` runs the local multi-host libvirt cluster.

Exit status: 0 success, 1 error (message on stderr), 2 usage error, 130 interrupted.
"""

import argparse
import json
import logging
import os
import sys
import time
import traceback

from oslo_config import cfg

from migrator import conf  # noqa: F401 - registers the options
from migrator.cmd import client as api_client
from migrator.common import exceptions, states
from migrator.sandbox import cli as sandbox_cli

CONF = cfg.CONF

POLL_INTERVAL = 0.5
# How long --wait keeps retrying while the API cannot be reached (it may be restarting).
WAIT_RECONNECT_SECONDS = 15.0

_DEFAULT_API_HOST = '127.0.0.1'


# -- output ---------------------------------------------------------------------------------

def _cell(value):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value).replace('\r', ' ').replace('\n', ' ')


def format_table(headers, rows):
    """A plain ASCII table, like the OpenStack clients print."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    sep = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(values):
        return '| ' + ' | '.join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + ' |'

    return '\n'.join([sep, line(headers), sep] + [line(r) for r in cells] + [sep])


def format_record(record, fields):
    """A Field | Value table of `record`: `fields` first, in order, then any others."""
    names = [f for f in fields if f in record]
    names += [k for k in record if k not in names and k != 'events']
    return format_table(['Field', 'Value'], [(n, record[n]) for n in names])


def human_bytes(value):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    size = float(value)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(size) < 1024:
            return f'{size:.0f} {unit}' if unit == 'B' else f'{size:.1f} {unit}'
        size /= 1024
    return f'{size:.1f} TiB'


def percent(value):
    """42.7 -> '42%' (truncated: 100% only once it is all done)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'{int(value)}%'
    return value


def _emit(args, data, table):
    if args.format == 'json':
        print(json.dumps(data, indent=2))
    else:
        print(table())


# -- db ------------------------------------------------------------------------------------

def _db():
    from migrator.db import api as db_api
    return db_api.get_database()


def _safe_url(url):
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return '<the configured database>'


def do_db_sync(args):
    db = _db()
    db.sync()
    revision = db.version()
    _emit(args, {'connection': _safe_url(CONF.database.connection), 'revision': revision},
          lambda: f'Database {_safe_url(CONF.database.connection)} is at revision {revision}.')
    return 0


def do_db_version(args):
    revision = _db().version()
    _emit(args, {'revision': revision},
          lambda: revision if revision else
          'None (no schema yet: run `migrator-manage db sync`)')
    return 0


# -- hosts ---------------------------------------------------------------------------------

HOST_SHOW_FIELDS = (
    'name', 'state', 'status', 'status_reason', 'address', 'hypervisor_uri', 'virt_type',
    'hypervisor_version', 'cpu_model', 'vcpus', 'vcpus_used', 'memory_mb', 'memory_mb_used',
    'reserved_memory_mb', 'memory_mb_free', 'disk_gb', 'disk_gb_used', 'instances',
    'last_heartbeat', 'created_at', 'updated_at',
)


def _used_of(used, total):
    if total is None:
        return None
    return f"{used if used is not None else '?'} / {total}"


def do_host_list(args):
    hosts = args.client.host_list()
    _emit(args, {'hosts': hosts}, lambda: format_table(
        ['Name', 'Address', 'State', 'Status', 'vCPUs used', 'Memory MB used',
         'Memory MB free', 'Disk GB used', 'Instances', 'Last heartbeat'],
        [(h.get('name'), h.get('address'), h.get('state'), h.get('status'),
          _used_of(h.get('vcpus_used'), h.get('vcpus')),
          _used_of(h.get('memory_mb_used'), h.get('memory_mb')), h.get('memory_mb_free'),
          _used_of(h.get('disk_gb_used'), h.get('disk_gb')), h.get('instances'),
          h.get('last_heartbeat')) for h in hosts]))
    return 0


def do_host_show(args):
    host = args.client.host_get(args.name)
    _emit(args, host, lambda: format_record(host, HOST_SHOW_FIELDS))
    return 0


# -- instances -----------------------------------------------------------------------------

INSTANCE_SHOW_FIELDS = ('uuid', 'name', 'host', 'power_state', 'vcpus', 'memory_mb',
                        'disk_gb', 'migration_id', 'created_at', 'updated_at')


def do_instance_list(args):
    instances = args.client.instance_list(host=args.host)
    _emit(args, {'instances': instances}, lambda: format_table(
        ['UUID', 'Name', 'Host', 'Power state', 'vCPUs', 'Memory MB', 'Disk GB', 'Migration'],
        [(i.get('uuid'), i.get('name'), i.get('host'), i.get('power_state'), i.get('vcpus'),
          i.get('memory_mb'), i.get('disk_gb'), i.get('migration_id')) for i in instances]))
    return 0


def do_instance_show(args):
    instance = args.client.instance_get(args.instance)
    _emit(args, instance, lambda: format_record(instance, INSTANCE_SHOW_FIELDS))
    return 0


# -- migrations ----------------------------------------------------------------------------

MIGRATION_SHOW_FIELDS = (
    'id', 'instance_name', 'instance_uuid', 'type', 'block_migration', 'status', 'progress',
    'error', 'source_host', 'requested_target', 'target_host', 'conductor', 'memory_total',
    'memory_processed', 'memory_remaining', 'disk_total', 'disk_processed', 'disk_remaining',
    'dirty_rate', 'iteration', 'downtime_ms', 'eta_seconds', 'created_at', 'started_at',
    'finished_at', 'updated_at',
)
_BYTE_FIELDS = ('memory_total', 'memory_processed', 'memory_remaining', 'disk_total',
                'disk_processed', 'disk_remaining')


def format_migration(migration):
    shown = dict(migration)
    shown['progress'] = percent(shown.get('progress'))
    if 'block_migration' in shown and shown['block_migration'] is None:
        shown['block_migration'] = 'auto'
    for field in _BYTE_FIELDS:
        if field in shown:
            shown[field] = human_bytes(shown[field])
    text = format_record(shown, MIGRATION_SHOW_FIELDS)
    events = migration.get('events')
    if events is not None:
        text += '\nEvents:\n' + format_table(
            ['Time', 'From', 'To', 'Detail'],
            [(e.get('time'), e.get('from_state'), e.get('to_state'), e.get('detail'))
             for e in events])
    return text


def do_migration_list(args):
    page = args.client.migration_list(status=args.status, instance=args.instance,
                                      host=args.host, limit=args.limit, marker=args.marker)
    migrations = page.get('migrations', [])

    def table():
        text = format_table(
            ['ID', 'Instance', 'Type', 'Status', 'Source', 'Target', 'Progress', 'Created',
             'Finished'],
            [(m.get('id'), m.get('instance_name') or m.get('instance_uuid'), m.get('type'),
              m.get('status'), m.get('source_host'),
              m.get('target_host') or m.get('requested_target'), percent(m.get('progress')),
              m.get('created_at'), m.get('finished_at')) for m in migrations])
        if page.get('next') and migrations:
            text += (f"\nMore may follow: add --marker {migrations[-1]['id']} to see the next "
                     "page.")
        return text

    _emit(args, page, table)
    return 0


def do_migration_show(args):
    migration = args.client.migration_get(args.id)
    _emit(args, migration, lambda: format_migration(migration))
    return 0


def _progress_line(migration, elapsed):
    parts = [f'[{elapsed:6.1f}s]', str(migration.get('status'))]
    if migration.get('progress') is not None:
        parts.append(percent(migration['progress']))
    eta = migration.get('eta_seconds')
    if isinstance(eta, (int, float)) and not states.is_terminal(migration.get('status')):
        parts.append(f'ETA {eta:.1f} s')
    return ' '.join(parts)


def follow_migration(client, migration, out=None, interval=None):
    """Polls the migration until it ends, printing a line whenever its state or progress
    changes; returns the final migration."""
    out = out or sys.stdout
    interval = interval or POLL_INTERVAL
    start = time.monotonic()
    last = None
    unreachable_since = None
    while True:
        key = (migration.get('status'), percent(migration.get('progress')))
        if key != last:
            print(_progress_line(migration, time.monotonic() - start), file=out, flush=True)
            last = key
        if states.is_terminal(migration.get('status')):
            return migration
        time.sleep(interval)
        try:
            migration = client.migration_get(migration['id'])
            unreachable_since = None
        except api_client.ConnectionFailed:
            # The API may be restarting; the migration goes on without it.
            now = time.monotonic()
            unreachable_since = unreachable_since or now
            if now - unreachable_since > WAIT_RECONNECT_SECONDS:
                raise


def do_migration_create(args):
    block = {'yes': True, 'no': False}.get(args.block_migration)
    migration = args.client.migration_create(args.instance, migration_type=args.type,
                                             target_host=args.target_host,
                                             block_migration=block)
    if not args.wait:
        _emit(args, migration, lambda: format_migration(migration))
        return 0

    progress_out = sys.stderr if args.format == 'json' else sys.stdout
    print(f"Migration {migration['id']} of {args.instance} accepted; waiting for it to end "
          "(Ctrl-C stops waiting, not the migration).", file=progress_out, flush=True)
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


# -- the parser ----------------------------------------------------------------------------

def _leaf(subparsers, name, func, help_text):
    leaf = subparsers.add_parser(name, help=help_text, description=help_text)
    leaf.add_argument('-f', '--format', choices=('table', 'json'), default='table',
                      help='Output format (default: table).')
    leaf.set_defaults(func=func)
    return leaf


def _group(subparsers, name, help_text):
    group = subparsers.add_parser(name, help=help_text, description=help_text)
    sub = group.add_subparsers(dest='action', metavar='ACTION')
    sub.required = True
    return sub


def _positive_int(value):
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not an integer') from None
    if number < 1:
        raise argparse.ArgumentTypeError(f'must be 1 or more, not {number}')
    return number


def build_parser():
    parser = argparse.ArgumentParser(
        prog='migrator-manage',
        description='Manage the migrator service: database, hosts, instances, migrations '
                    'and the local sandbox cluster.')
    parser.add_argument('--config-file', action='append', default=[], metavar='PATH',
                        help='Configuration file (repeatable; later files win). Without it, '
                             'the usual places are searched (/etc/migrator/migrator.conf, '
                             '~/.migrator/migrator.conf, ...).')
    parser.add_argument('--url', default=None,
                        help='URL of the migrator API (default: $MIGRATOR_URL, else '
                             'http://[api] host_ip:[api] port of the configuration, i.e. '
                             f'{api_client.DEFAULT_URL} unless configured otherwise).')
    parser.add_argument('-d', '--debug', action='store_true',
                        help='Log debug messages and show tracebacks.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True

    db = _group(commands, 'db', 'Database schema (works on [database] connection directly).')
    _leaf(db, 'sync', do_db_sync, 'Create or upgrade the schema to the latest revision.')
    _leaf(db, 'version', do_db_version, 'Print the schema revision of the database.')

    host = _group(commands, 'host', 'Compute hosts.')
    _leaf(host, 'list', do_host_list, 'List the hosts with their state and capacity.')
    leaf = _leaf(host, 'show', do_host_show, 'Show one host.')
    leaf.add_argument('name', metavar='NAME')

    instance = _group(commands, 'instance', 'Instances (VMs) the hosts report.')
    leaf = _leaf(instance, 'list', do_instance_list, 'List the instances.')
    leaf.add_argument('--host', help='Only the instances on this host.')
    leaf = _leaf(instance, 'show', do_instance_show, 'Show one instance.')
    leaf.add_argument('instance', metavar='ID', help='UUID or name.')

    migration = _group(commands, 'migration', 'Migrations.')
    leaf = _leaf(migration, 'create', do_migration_create, 'Migrate an instance.')
    leaf.add_argument('instance', metavar='INSTANCE', help='UUID or name of the instance.')
    leaf.add_argument('--type', choices=('live', 'cold'), default='live',
                      help='Kind of migration (default: live; only live exists yet).')
    leaf.add_argument('--target-host', metavar='HOST',
                      help='Host to move to (default: the scheduler chooses).')
    leaf.add_argument('--block-migration', choices=('yes', 'no', 'auto'), default='auto',
                      help='Copy the disks too (yes), rely on shared storage (no), or let '
                           'the conductor decide (auto, the default).')
    leaf.add_argument('--wait', action='store_true',
                      help='Follow the migration until it ends; exit 0 only if it '
                           'completed.')
    leaf = _leaf(migration, 'list', do_migration_list, 'List migrations, newest first.')
    leaf.add_argument('--status', help='Only migrations in this state (e.g. running, '
                                       'completed, failed).')
    leaf.add_argument('--instance', help='Only migrations of this instance (UUID or name).')
    leaf.add_argument('--host', help='Only migrations from or to this host.')
    leaf.add_argument('--limit', type=_positive_int, help='Page size.')
    leaf.add_argument('--marker', help='Start after this migration id (from the previous '
                                       'page).')
    leaf = _leaf(migration, 'show', do_migration_show,
                 'Show one migration with its progress and event history.')
    leaf.add_argument('id', metavar='ID')

    sandbox_cli.add_parser(commands)
    return parser


def _api_url(args):
    if args.url:
        return args.url
    if os.environ.get('MIGRATOR_URL'):
        return os.environ['MIGRATOR_URL']
    host = CONF.api.host_ip
    if host in ('0.0.0.0', '::', ''):
        host = _DEFAULT_API_HOST
    if ':' in host:
        host = f'[{host}]'
    return f'http://{host}:{CONF.api.port}'


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (2) or --help (0)
        return exc.code if isinstance(exc.code, int) else 2

    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    try:
        config_args = []
        for path in args.config_file:
            config_args += ['--config-file', path]
        CONF(config_args, project='migrator')
    except cfg.Error as exc:
        print(f'migrator-manage: configuration error: {exc}', file=sys.stderr)
        return 1

    args.client = api_client.Client(_api_url(args))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print('Interrupted.', file=sys.stderr)
        return 130
    except (api_client.ClientError, exceptions.MigratorException) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"ERROR: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f'ERROR: {type(exc).__name__}: {exc} (run with --debug for the traceback)',
              file=sys.stderr)
        return 1
    finally:
        args.client.close()


if __name__ == '__main__':
    sys.exit(main())
