"""`migrator-manage user ...`: the http_basic users file, edited directly (no API).

The file is [api] http_basic_auth_user_file unless --file says otherwise; its format is in
migrator.common.htpasswd.
"""

import getpass
import sys

from oslo_config import cfg

from migrator.cmd.manage import output
from migrator.common import htpasswd

CONF = cfg.CONF


def _read_password(args):
    if args.password_stdin:
        password = sys.stdin.readline().rstrip('\r\n')
    else:
        if not sys.stdin.isatty():
            raise htpasswd.UserFileError('no terminal to ask the password on: pipe it in '
                                         'with --password-stdin')
        password = getpass.getpass(f"Password for '{args.name}': ")
        if getpass.getpass('Again: ') != password:
            raise htpasswd.UserFileError('the two passwords differ; nothing changed')
    if not password:
        raise htpasswd.UserFileError('the password is empty; nothing changed')
    if len(password.encode('utf-8')) > 72:
        raise htpasswd.UserFileError('bcrypt uses only the first 72 bytes of a password: '
                                     'choose a shorter one; nothing changed')
    return password


def do_user_add(args):
    path = args.file or CONF.api.http_basic_auth_user_file
    password = _read_password(args)
    roles = [r for value in args.role for r in value.split(',') if r]
    user, replaced = htpasswd.set_user(path, args.name, password, roles, args.project)
    data = {'name': user.name, 'roles': list(user.roles), 'project': user.project,
            'file': path, 'replaced': replaced}
    output.emit(args, data, lambda: (
        f"{'Updated' if replaced else 'Added'} user '{user.name}' (roles: "
        f"{', '.join(user.roles) or 'none'}; project: {user.project}) in {path}."))
    return 0


def do_user_list(args):
    path = args.file or CONF.api.http_basic_auth_user_file
    users = htpasswd.load(path)
    rows = [{'name': u.name, 'roles': list(u.roles), 'project': u.project}
            for u in users.values()]
    output.emit(args, {'users': rows}, lambda: output.format_table(
        ['Name', 'Roles', 'Project'],
        [(r['name'], ','.join(r['roles']), r['project']) for r in rows]))
    return 0


def register(commands):
    user = output.group(commands, 'user', 'Users of auth_strategy = http_basic (edits [api] '
                                          'http_basic_auth_user_file directly).')
    add = output.leaf(user, 'add', do_user_add,
                      'Add a user with a bcrypt hash of its password, or replace the '
                      'password, roles and project of an existing one. The API re-reads the '
                      'file by itself.')
    add.add_argument('name', help='User name (no ":" or spaces).')
    add.add_argument('--role', action='append', default=[], metavar='ROLE',
                     help='Role (repeatable, or comma separated): admin, member, reader, '
                          '...')
    add.add_argument('--project', default=htpasswd.DEFAULT_PROJECT,
                     help=f'Project of the user (default: {htpasswd.DEFAULT_PROJECT}).')
    add.add_argument('--password-stdin', action='store_true',
                     help='Read the password from the first line of standard input instead '
                          'of asking twice on the terminal.')
    add.add_argument('--file', help='Users file (default: [api] http_basic_auth_user_file).')
    listing = output.leaf(user, 'list', do_user_list, 'List the users of the file (names, '
                                                      'roles, projects; never hashes).')
    listing.add_argument('--file', help='Users file (default: [api] '
                                        'http_basic_auth_user_file).')
