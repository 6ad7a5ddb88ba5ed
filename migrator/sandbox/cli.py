"""``migrator-manage sandbox ...``: up, down, status, add-guest.

``migrator.cmd.manage`` calls :func:`add_parser` with its sub-parsers; every
leaf parser sets ``func`` (``args -> exit code``).  ``python -m
migrator.sandbox.cli`` runs the same commands stand-alone.
"""

import argparse
import json
import logging
import subprocess
import sys

import libvirt

from migrator.sandbox import cluster
from migrator.sandbox.errors import SandboxError

LOG = logging.getLogger(__name__)


def _state_dir_arg(parser):
    parser.add_argument('--state-dir', default=None,
                        help=f'sandbox state directory (default: ${cluster.STATE_DIR_ENV} or '
                             f'{cluster.DEFAULT_STATE_DIR})')


def _format_arg(parser):
    parser.add_argument('-f', '--format', choices=('table', 'json'), default='table',
                        help='output format (default: table)')


def add_parser(subparsers):
    """Add the ``sandbox`` command (with its sub-commands) to ``subparsers``."""
    d = cluster.DEFAULTS
    sandbox = subparsers.add_parser(
        'sandbox', help='a local multi-host libvirt cluster for tests and benchmarks',
        description='A real multi-host libvirt/QEMU cluster on this machine (needs root).')
    sandbox.set_defaults(func=lambda args: _usage(sandbox))
    sub = sandbox.add_subparsers(dest='sandbox_command', metavar='{up,down,status,add-guest}')

    p = sub.add_parser('up', help='start the hosts and guests')
    p.add_argument('--hosts', type=int, default=d['hosts'], help='number of hosts (default 3)')
    p.add_argument('--guests-per-host', type=int, default=d['guests_per_host'],
                   help='guests started on each host (default 1)')
    p.add_argument('--guest-memory', type=int, default=d['memory_mib'], metavar='MIB',
                   help='memory of each guest in MiB (default 256)')
    p.add_argument('--dirty-rate', type=int, default=d['dirty_rate_mib'], metavar='MIB_PER_S',
                   help='MiB of guest memory rewritten per second (default 4)')
    p.add_argument('--disks', choices=('shared', 'local'), default=d['disks'],
                   help='guest disks in the shared dir or in each host\'s private pool')
    p.add_argument('--virt-type', choices=('qemu', 'kvm'), default=d['virt_type'],
                   help='qemu (TCG, default) or kvm (needs /dev/kvm)')
    p.add_argument('--tls', action='store_true',
                   help='make a CA and host certificates; the daemons also listen for '
                        'qemu+tls:// and QEMU gets migration TLS credentials (for '
                        '[libvirt] live_migration_with_native_tls and remote_transport = tls)')
    p.add_argument('--no-wait', dest='wait', action='store_false',
                   help='do not wait for the guests\' first tick')
    _state_dir_arg(p)
    _format_arg(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser('down', help='stop everything the sandbox started, remove its state')
    _state_dir_arg(p)
    p.set_defaults(func=cmd_down)

    p = sub.add_parser('status', help='hosts up/down, and where each guest runs')
    _state_dir_arg(p)
    _format_arg(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser('add-guest', help='start one more guest; prints its name')
    p.add_argument('--host', default=None, help='host name (default: the least loaded)')
    p.add_argument('--memory', type=int, default=None, metavar='MIB')
    p.add_argument('--dirty-rate', type=int, default=None, metavar='MIB_PER_S')
    p.add_argument('--disks', choices=('shared', 'local'), default=None)
    p.add_argument('--no-wait', dest='wait', action='store_false',
                   help='do not wait for the guest\'s first tick')
    _state_dir_arg(p)
    _format_arg(p)
    p.set_defaults(func=cmd_add_guest)
    return sandbox


def _usage(parser):
    parser.print_usage(sys.stderr)
    return 2


def _guarded(fn):
    """SandboxError (and Ctrl-C) -> one line on stderr and exit status 1."""
    def wrapper(args):
        try:
            return fn(args)
        except (SandboxError, libvirt.libvirtError, OSError, subprocess.SubprocessError) as exc:
            if isinstance(exc, libvirt.libvirtError):
                exc = f'libvirt: {exc.get_error_message()}'
            # one line, even when libvirt/QEMU errors quoted in it span several
            print('error: ' + ' '.join(str(exc).split()), file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print('error: interrupted', file=sys.stderr)
            return 1
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _silence_libvirt():
    # libvirt prints every error (e.g. each refused connection retry) on stderr
    # unless a handler is registered; errors reach us as exceptions anyway.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


@_guarded
def cmd_up(args):
    _silence_libvirt()
    c = cluster.up(hosts=args.hosts, guests_per_host=args.guests_per_host,
                   memory_mib=args.guest_memory, dirty_rate_mib=args.dirty_rate,
                   disks=args.disks, state_dir=args.state_dir, virt_type=args.virt_type,
                   wait=args.wait, tls=args.tls)
    if args.format == 'json':
        print(json.dumps(c, indent=2))
    else:
        print(f'sandbox up in {c["state_dir"]} ({cluster.cluster_file(c["state_dir"])})')
        _print_table(['HOST', 'ADDRESS', 'URI', 'PID'],
                     [[h['name'], h['address'],
                       h['uri'] + (f' {h["tls_uri"]}' if h.get('tls_uri') else ''), h['pid']]
                      for h in c['hosts']])
        if c.get('tls'):
            print(f'TLS: CA {c["ca_cert"]}; client credentials of each host (pkipath) in '
                  f'{cluster.state_dir_of(c["state_dir"])}/hosts/<host>/etc/pki/libvirt\n')
        _print_table(['GUEST', 'HOST', 'DISK', 'CONSOLE'],
                     [[g['name'], g['host'], f'{g["disk_mode"]}:{g["disk"]}', g['console_log']]
                      for g in c['guests']])
    return 0


@_guarded
def cmd_down(args):
    _silence_libvirt()
    result = cluster.down(args.state_dir)
    where = cluster.state_dir_of(args.state_dir)
    if result['removed']:
        print(f'sandbox in {where} is down (stopped {len(result["stopped"])} processes)')
    else:
        print(f'no sandbox in {where}; nothing to do')
    return 0


@_guarded
def cmd_status(args):
    _silence_libvirt()
    st = cluster.status(args.state_dir)
    if args.format == 'json':
        print(json.dumps(st, indent=2))
        return 0
    _print_table(['HOST', 'ADDRESS', 'PID', 'STATE'],
                 [[h['name'], h['address'], h['pid'], 'up' if h['up'] else 'DOWN']
                  for h in st['hosts']])
    _print_table(['GUEST', 'RUNNING ON', 'STATES', 'TICK'],
                 [[g['name'], ','.join(g['hosts']) or '-',
                   ' '.join(f'{h}={s}' for h, s in sorted(g['states'].items())) or '-',
                   '-' if g['tick'] is None else g['tick']] for g in st['guests']])
    return 0


@_guarded
def cmd_add_guest(args):
    _silence_libvirt()
    g = cluster.add_guest(args.state_dir, host=args.host, memory_mib=args.memory,
                          dirty_rate_mib=args.dirty_rate, disks=args.disks, wait=args.wait)
    print(json.dumps(g, indent=2) if args.format == 'json' else g['name'])
    return 0


def _print_table(header, rows):
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for r in [header, *rows]:
        print('  '.join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='migrator-sandbox')
    parser.add_argument('-v', '--verbose', action='store_true', help='log progress')
    subparsers = parser.add_subparsers(dest='command')
    add_parser(subparsers)
    argv = list(sys.argv[1:] if argv is None else argv)
    # Stand-alone, "sandbox" is implied: `python -m migrator.sandbox.cli up`.
    verbose = '-v' in argv or '--verbose' in argv
    argv = [a for a in argv if a not in ('-v', '--verbose')]
    if not argv or argv[0] != 'sandbox':
        argv.insert(0, 'sandbox')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
