"""migrator-manage: the operator's command line.

`db ...` works on the database directly, `rebalance plan` on a snapshot file; `host`,
`instance`, `migration`, `plan` and `cluster` go through the REST API (--url,
$MIGRATOR_URL, the `migration` endpoint of the Keystone catalog, or the [api] address of
the configuration: by default http://127.0.0.1:9777) with the credentials of --os-cloud,
OS_* or MIGRATOR_USERNAME/PASSWORD (migrator.cmd.client_auth); `user add` edits the
http_basic users file; `sandbox ...` runs the local multi-host libvirt cluster.

Exit status: 0 success, 1 error (message on stderr), 2 usage error, 3 `audit` found
discrepancies, 130 interrupted.
"""

import argparse
import logging
import os
import sys
import traceback

from oslo_config import cfg

from migrator import conf  # noqa: F401 - registers the options
from migrator.cmd import client as api_client
from migrator.cmd import client_auth
from migrator.cmd.manage import (
    audit,
    cluster,
    database,
    drains,
    hosts,
    instances,
    migrations,
    plans,
    rebalance,
    server_groups,
    status,
    users,
)
from migrator.common import exceptions
from migrator.sandbox import cli as sandbox_cli

CONF = cfg.CONF

_DEFAULT_API_HOST = '127.0.0.1'

# Each command group lives in its own module with a register(commands) function.
COMMAND_GROUPS = (database, hosts, drains, instances, migrations, server_groups, plans, cluster,
                  rebalance, audit, status, users)


def build_parser(argv=()):
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
    client_auth.add_arguments(parser, list(argv))
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True

    for module in COMMAND_GROUPS:
        module.register(commands)
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


def _auth_hint(exc):
    code = getattr(exc, 'code', None) if isinstance(exc, api_client.APIError) else None
    if code == 401:
        return (' (HTTP 401: authenticate with --os-cloud or the OS_* variables for '
                'Keystone, or MIGRATOR_USERNAME/MIGRATOR_PASSWORD for http_basic)')
    if code == 403:
        return ' (HTTP 403: your roles do not allow this)'
    return ''


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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

    args.client = None
    try:
        args.client = client_auth.build_client(args, _api_url(args))
        return args.func(args)
    except KeyboardInterrupt:
        print('Interrupted.', file=sys.stderr)
        return 130
    except (api_client.ClientError, exceptions.MigratorException) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"ERROR: {getattr(exc, 'message', exc)}{_auth_hint(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f'ERROR: {type(exc).__name__}: {exc} (run with --debug for the traceback)',
              file=sys.stderr)
        return 1
    finally:
        if args.client is not None:
            args.client.close()


if __name__ == '__main__':
    sys.exit(main())
