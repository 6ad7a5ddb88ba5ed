"""The http_basic users file: an htpasswd-style file of bcrypt hashes, with roles.

One user a line; blank lines and lines starting with ``#`` are ignored::

    <name>:<bcrypt hash>[:<role>[,<role>...][:<project>]]

    admin:$2b$12$Kc2...:admin
    alice:$2y$12$w8T...:reader:ops

- name: what the user types; no ``:``, no spaces.
- bcrypt hash: ``$2a$``, ``$2b$`` or ``$2y$`` (``htpasswd -B`` writes ``$2y$``), so an
  Apache ``htpasswd -B`` file works as it is (its users then have no roles).
- roles: comma separated, what the policy rules check (``admin``, ``member``, ``reader``).
- project: the project the request is made in (default ``default``).

The API reports the user to the policy layer as keystonemiddleware would (X-User-Id and
X-User-Name = name, X-Roles, X-Project-Id and X-Project-Name = project, domain Default).
"""

import collections
import os
import re

import bcrypt

from migrator.common import exceptions

DEFAULT_PROJECT = 'default'
BCRYPT_ROUNDS = 12
_NAME_RE = re.compile(r'^[^\s:]+$')
_ROLE_RE = re.compile(r'^[A-Za-z0-9_.-]+$')
_HASH_RE = re.compile(r'^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$')

User = collections.namedtuple('User', 'name hash roles project')


class UserFileError(exceptions.MigratorException):
    code = 500


def parse_line(line, where='line'):
    """A User from one line of the file; UserFileError says what is wrong with it."""
    fields = line.split(':')
    if len(fields) < 2 or len(fields) > 4:
        raise UserFileError(f'{where}: expected name:bcrypt-hash[:roles[:project]], got '
                            f'{len(fields)} field(s)')
    name, hashed = fields[0], fields[1]
    roles = [r.strip() for r in fields[2].split(',') if r.strip()] if len(fields) > 2 else []
    project = fields[3].strip() if len(fields) > 3 and fields[3].strip() else DEFAULT_PROJECT
    if not _NAME_RE.match(name):
        raise UserFileError(f"{where}: user name '{name}' is empty or has a space")
    if not _HASH_RE.match(hashed):
        raise UserFileError(f"{where}: the password of '{name}' is not a bcrypt hash "
                            '($2a$/$2b$/$2y$); make one with `migrator-manage user add`')
    for role in roles:
        if not _ROLE_RE.match(role):
            raise UserFileError(f"{where}: role '{role}' of '{name}' may only have letters, "
                                'digits, _ . and -')
    if not _NAME_RE.match(project):
        raise UserFileError(f"{where}: project '{project}' of '{name}' has a space")
    return User(name, hashed, tuple(roles), project)


def parse(text, path='users file'):
    """{name: User} of a whole file."""
    users = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        user = parse_line(line, f'{path} line {number}')
        if user.name in users:
            raise UserFileError(f"{path} line {number}: user '{user.name}' appears twice")
        users[user.name] = user
    return users


def load(path):
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError as exc:
        raise UserFileError(f'cannot read the http_basic users file {path} ([api] '
                            f'http_basic_auth_user_file): {exc.strerror}') from None
    except UnicodeDecodeError:
        raise UserFileError(f'the http_basic users file {path} is not UTF-8 text') from None
    return parse(text, path)


def hash_password(password, rounds=BCRYPT_ROUNDS):
    return bcrypt.hashpw(password.encode('utf-8'), bcrypt.gensalt(rounds)).decode('ascii')


def check_password(user, password):
    # bcrypt hashes only the first 72 bytes; the bcrypt library refuses longer passwords
    # instead of cutting them, so do what htpasswd and every other bcrypt user does.
    try:
        return bcrypt.checkpw(password.encode('utf-8')[:72], user.hash.encode('ascii'))
    except ValueError:
        return False


def format_line(user):
    line = f'{user.name}:{user.hash}:{",".join(user.roles)}'
    if user.project != DEFAULT_PROJECT:
        line += f':{user.project}'
    return line


def set_user(path, name, password, roles, project=DEFAULT_PROJECT, rounds=BCRYPT_ROUNDS):
    """Adds the user, or replaces its password, roles and project; keeps the other lines
    (comments too) as they are. The file is replaced atomically, mode 0600 when new."""
    user = User(name, hash_password(password, rounds), tuple(roles), project or
                DEFAULT_PROJECT)
    parse_line(format_line(user), f"user '{name}'")  # validates name, roles and project
    lines, replaced = [], False
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        parse(text, path)  # refuse to edit a file we cannot read back
        for raw in text.splitlines():
            stripped = raw.strip()
            if stripped and not stripped.startswith('#') and stripped.split(':')[0] == name:
                lines.append(format_line(user))
                replaced = True
            else:
                lines.append(raw)
        mode = os.stat(path).st_mode & 0o777
    else:
        mode = 0o600
    if not replaced:
        lines.append(format_line(user))
    tmp = f'{path}.tmp{os.getpid()}'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(tmp, path)
    return user, replaced
