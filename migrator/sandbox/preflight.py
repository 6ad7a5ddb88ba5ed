"""Checks done before anything is started: root, Debian packages, accounts,
addresses.  Each failure is a :class:`SandboxError` with a one-line message
that says what to do (usually: run tools/install-deps.sh)."""

import errno
import grp
import os
import pwd
import shutil
import socket
import struct
import subprocess

from migrator.sandbox.errors import SandboxError

LIBVIRT_PORT = 16509

# binary (absolute path, or a name looked up in PATH) -> Debian package.
REQUIRED_BINARIES = {
    '/usr/sbin/libvirtd': 'libvirt-daemon',
    '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so':
        'libvirt-daemon-driver-qemu',
    'qemu-system-x86_64': 'qemu-system-x86',
    'qemu-img': 'qemu-utils',
    'qemu-io': 'qemu-utils',
    'busybox': 'busybox-static',
    'unshare': 'util-linux',
    'mount': 'mount',
    'umount': 'mount',
    'ss': 'iproute2',
    'apt-get': 'apt',
    'dpkg-deb': 'dpkg',
}

INSTALL_HINT = 'run tools/install-deps.sh (as root)'


def check_root():
    if os.geteuid() != 0:
        raise SandboxError('the sandbox must run as root (it starts libvirtd '
                           'daemons in mount namespaces)')


def find_binary(name):
    if os.path.isabs(name):
        return name if os.path.exists(name) else None
    path = os.environ.get('PATH', '') + ':/usr/local/sbin:/usr/sbin:/sbin'
    return shutil.which(name, path=path)


def is_static_elf(path):
    """True if ``path`` is an ELF executable without a PT_INTERP (static)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(64)
            if head[:4] != b'\x7fELF' or head[4] != 2:  # 64-bit only
                return False
            phoff, = struct.unpack_from('<Q', head, 32)
            phentsize, phnum = struct.unpack_from('<HH', head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    for i in range(phnum):
        p_type, = struct.unpack_from('<I', table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


# binary -> Debian package, for `sandbox up --tls` (it makes certificates).
TLS_BINARIES = {'openssl': 'openssl'}


def check_binaries(tls=False):
    """Every binary the sandbox runs exists; names the missing packages."""
    missing = {}
    required = {**REQUIRED_BINARIES, **(TLS_BINARIES if tls else {})}
    for binary, package in required.items():
        if not find_binary(binary):
            missing.setdefault(package, os.path.basename(binary))
    busybox = find_binary('busybox')
    if busybox and not is_static_elf(busybox):
        missing.setdefault('busybox-static', f'{busybox} is not statically linked')
    if missing:
        what = ', '.join(f'{pkg} ({why})' for pkg, why in sorted(missing.items()))
        raise SandboxError(f'missing Debian package(s): {what}; {INSTALL_HINT}')


def ensure_qemu_accounts():
    """Create the accounts Debian's libvirtd looks up at start-up.

    Even with user/group "root" in qemu.conf, Debian's libvirtd 9.0 resolves its
    built-in default user ``libvirt-qemu`` and group ``libvirt-qemu`` (and the
    packaging expects group ``kvm``); without them the QEMU driver fails to
    initialise ("Failed to parse group 'libvirt-qemu'").
    """
    for group in ('kvm', 'libvirt-qemu'):
        try:
            grp.getgrnam(group)
        except KeyError:
            _run(['groupadd', '-r', group])
    try:
        pwd.getpwnam('libvirt-qemu')
    except KeyError:
        _run(['useradd', '-r', '-g', 'libvirt-qemu', '-G', 'kvm', '-d', '/var/lib/libvirt',
              '-s', '/usr/sbin/nologin', 'libvirt-qemu'])


def _run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SandboxError(f'{" ".join(cmd)} failed: {proc.stderr.strip()}')


def check_virt_type(virt_type):
    if virt_type not in ('qemu', 'kvm'):
        raise SandboxError(f'unknown virt type {virt_type!r}: use qemu or kvm')
    if virt_type == 'kvm' and not os.path.exists('/dev/kvm'):
        raise SandboxError('--virt-type kvm needs /dev/kvm, which does not exist here; '
                           'use --virt-type qemu')


def check_address_free(address, port=LIBVIRT_PORT):
    """Raise if ``address``:``port`` cannot be bound (something else has it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Like libvirtd itself: TIME_WAIT leftovers of a previous daemon do not count.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SandboxError(f'address {address}:{port} is already in use (another '
                               f'sandbox or libvirtd?); free it or run '
                               f'`migrator-manage sandbox down` for that sandbox') from None
        raise SandboxError(f'cannot bind {address}:{port}: {exc.strerror}') from None
    finally:
        sock.close()
