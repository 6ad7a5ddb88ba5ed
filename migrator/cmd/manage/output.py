"""Output and argument helpers shared by every migrator-manage command."""

import argparse
import json


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


def who(requester):
    """'alice (id 1f2e...) of project demo (id 9a8b...)' from a requester document; None
    when nobody asked (the services' own work)."""
    requester = requester or {}
    user = requester.get('user_name') or requester.get('user_id')
    if not user:
        return None
    text = user
    if requester.get('user_id') and requester.get('user_id') != user:
        text += f" (id {requester['user_id']})"
    project = requester.get('project_name') or requester.get('project_id')
    if project:
        text += f' of project {project}'
        if requester.get('project_id') and requester.get('project_id') != project:
            text += f" (id {requester['project_id']})"
    return text


# The rows `show` commands print for a record's requester.
REQUESTER_ROWS = ('requested_by', 'request_id', 'global_request_id')


def with_requester_rows(record):
    """`record` with its requester document as the rows of REQUESTER_ROWS."""
    shown = dict(record)
    requester = shown.pop('requester', None) or {}
    shown['requested_by'] = who(requester)
    shown['request_id'] = requester.get('request_id')
    shown['global_request_id'] = requester.get('global_request_id')
    return shown


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


def emit(args, data, table):
    if args.format == 'json':
        print(json.dumps(data, indent=2))
    else:
        print(table())


def leaf(subparsers, name, func, help_text):
    leaf = subparsers.add_parser(name, help=help_text, description=help_text)
    leaf.add_argument('-f', '--format', choices=('table', 'json'), default='table',
                      help='Output format (default: table).')
    leaf.set_defaults(func=func)
    return leaf


def group(subparsers, name, help_text):
    """The actions of command group `name`; several modules may add actions to one group
    (host drain lives apart from host list), so a group made before is reused."""
    existing = subparsers.choices.get(name)
    if existing is not None:
        return existing.migrator_actions
    group = subparsers.add_parser(name, help=help_text, description=help_text)
    sub = group.add_subparsers(dest='action', metavar='ACTION')
    sub.required = True
    group.migrator_actions = sub
    return sub


def positive_int(value):
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not an integer') from None
    if number < 1:
        raise argparse.ArgumentTypeError(f'must be 1 or more, not {number}')
    return number
