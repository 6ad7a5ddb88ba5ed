"""The TLS-PSK key of one migration's nbd disk copy, where QEMU's tls-creds-psk object
reads it: keys.psk (lines `username:hexkey`) in a directory named by the object's `dir=`.

The conductor makes a fresh random key for every migration and hands it to both agents;
each writes it into a directory of the migration's own (0700, in the agent's state
directory) as a 0600 file, and the directory goes when the copy ends. A server reads the
file again at every handshake, so the source keeps it until its export is stopped.
"""

import os
import re

from migrator.common import exceptions

USERNAME = 'migrator'
KEYS_FILE = 'keys.psk'
# 256 bits, hex, as QEMU wants it.
_KEY = re.compile(r'^[0-9a-f]{64}$')


def check_key(psk):
    if not isinstance(psk, str) or not _KEY.match(psk):
        raise exceptions.Invalid('the disk copy\'s pre-shared key must be 64 hex digits')


def write(directory, psk):
    """Writes the key into directory (made 0700; its keys file 0600); returns directory."""
    check_key(psk)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    path = os.path.join(directory, KEYS_FILE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(f'{USERNAME}:{psk}\n')
    return directory


def remove(directory):
    try:
        os.unlink(os.path.join(directory, KEYS_FILE))
    except FileNotFoundError:
        pass
    try:
        os.rmdir(directory)
    except OSError:
        pass


def object_arg(directory, endpoint, priority=None):
    """qemu's --object argument of the credentials (endpoint: server or client; priority:
    a GnuTLS priority string, None for QEMU's default)."""
    def value(text):
        return text.replace(',', ',,')     # a comma in a value is written twice
    arg = f'tls-creds-psk,id=tls0,endpoint={endpoint},dir={value(directory)}'
    if endpoint == 'client':
        arg += f',username={USERNAME}'
    if priority:
        arg += f',priority={value(priority)}'
    return arg
