"""`migrator-manage audit [--fix]`: the DB compared with what every hypervisor says now.

Exit status: 0 when nothing is wrong (after the repairs, with --fix), 3 when discrepancies
remain (listed on stdout, each with who fixes it), 1 on error.
"""

import sys

from migrator.cmd.manage import output

DISCREPANCIES_REMAIN = 3


def format_report(report, fixing):
    lines = []
    fixed = report.get('fixed') or []
    if fixing:
        lines.append(f'Repaired ({len(fixed)}):' if fixed else 'Repaired: nothing.')
        lines += [f'  {line}' for line in fixed]
    found = report.get('discrepancies') or []
    checked = ', '.join(report.get('hosts_checked') or ()) or 'none'
    if not found:
        lines.append(f'No discrepancies: the DB agrees with the hypervisors ({checked}).')
        return '\n'.join(lines)
    lines.append(f"{len(found)} discrepanc{'y' if len(found) == 1 else 'ies'}"
                 + (' left' if fixing else '') + f' (hosts checked: {checked}):')
    lines.append(output.format_table(
        ['Kind', 'Subject', 'Detail', 'Fix'],
        [(d['kind'], d['subject'], d['detail'],
          'safe: `audit --fix` repairs it' if d['fix'] == 'safe' else 'a person must look')
         for d in found]))
    if not fixing and any(d['fix'] == 'safe' for d in found):
        lines.append('Run `migrator-manage audit --fix` to repair the safe ones '
                     '(bookkeeping only; no guest is touched).')
    if any(d['fix'] != 'safe' for d in found):
        lines.append('The others need a person: check where each guest runs '
                     '(`virsh list` on its hosts); a migration no conductor will settle can '
                     'be ended with `migrator-manage migration reset-state`.')
    return '\n'.join(lines)


def do_audit(args):
    report = args.client.audit(fix=args.fix)
    output.emit(args, report, lambda: format_report(report, args.fix))
    if report.get('discrepancies'):
        if args.format == 'json':
            print(f"{len(report['discrepancies'])} discrepancies remain.", file=sys.stderr)
        return DISCREPANCIES_REMAIN
    return 0


def register(commands):
    leaf = output.leaf(commands, 'audit', do_audit,
                       'Compare the DB with what every hypervisor reports now (asked live '
                       'through a conductor) and list each discrepancy: a guest running on '
                       'two hosts or on none, a DB host that is not where the guest runs, '
                       'claims or slots held by no migration in flight, migrations in flight '
                       'without a job. Exit 3 while discrepancies remain.')
    leaf.add_argument('--fix', action='store_true',
                      help='Repair what is safe first (bookkeeping only, never a running '
                           'guest) and list what is left for a person.')
