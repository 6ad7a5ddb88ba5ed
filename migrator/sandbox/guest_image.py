"""The guest image: a Debian cloud kernel and a busybox initramfs, built once.

Nothing is downloaded but Debian packages: the kernel comes from
``linux-image-cloud-amd64`` (``apt-get download`` of the versioned package it
depends on, then only ``boot/vmlinuz-*`` is taken out of the .deb), the
initramfs is a gzip'd cpio (newc) written here from the static busybox of
``busybox-static`` and the ``guest/init`` script next to this module.  Both are
cached under ``/var/cache/migrator-sandbox`` (``sandbox down`` keeps them); the
initramfs is rebuilt whenever the init script or busybox changes.
"""

import dataclasses
import fcntl
import glob
import gzip
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

from migrator.sandbox import preflight
from migrator.sandbox.errors import SandboxError

LOG = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = '/var/cache/migrator-sandbox'
KERNEL_METAPACKAGE = 'linux-image-cloud-amd64'
INIT_SCRIPT = os.path.join(os.path.dirname(__file__), 'guest', 'init')
APT_OPTS = ['-q', '-o', 'APT::Sandbox::User=root']


@dataclasses.dataclass
class GuestImage:
    kernel: str
    initrd: str


def ensure_image(cache_dir=None):
    """Return the cached :class:`GuestImage`, building what is missing."""
    cache_dir = cache_dir or DEFAULT_CACHE_DIR
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kernel = _cached_kernel(cache_dir)
        if kernel is None or not os.path.exists(_button_module_path(kernel)):
            # The same kernel's package again when one is cached (only its button module
            # is missing): guests already defined keep booting what they booted.
            kernel = _fetch_kernel(cache_dir, _package_of(kernel) if kernel else None)
        initrd = _ensure_initrd(cache_dir, _button_module_path(kernel))
    return GuestImage(kernel=kernel, initrd=initrd)


def _package_of(kernel):
    return 'linux-image-' + os.path.basename(kernel)[len('vmlinuz-'):]


def _button_module_path(kernel):
    """Where the ACPI button driver of `kernel` is cached: the cloud kernel builds it as a
    module (CONFIG_ACPI_BUTTON=m), and without it the guest never sees the power button."""
    version = os.path.basename(kernel)[len('vmlinuz-'):]
    return os.path.join(os.path.dirname(kernel), f'button-{version}.ko')


def _cached_kernel(cache_dir):
    found = sorted(glob.glob(os.path.join(cache_dir, 'vmlinuz-*')))
    return found[-1] if found else None


def _apt(args, what):
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ['?'])[-1]
        raise SandboxError(f'{what} failed: {last}')
    return proc.stdout


def _kernel_package():
    """The versioned kernel package that the cloud metapackage depends on."""
    for attempt in (1, 2):
        proc = subprocess.run(['apt-cache', 'depends', KERNEL_METAPACKAGE],
                              capture_output=True, text=True)
        match = re.search(r'Depends:\s*(linux-image-\S+)', proc.stdout)
        if match:
            return match.group(1)
        if attempt == 1:
            LOG.info('%s unknown to apt; running apt-get update', KERNEL_METAPACKAGE)
            _apt(['apt-get', *APT_OPTS, 'update'], 'apt-get update')
    return None


def _fetch_kernel(cache_dir, package=None):
    LOG.info('fetching the guest kernel from %s', package or KERNEL_METAPACKAGE)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        deb = None
        package = package or _kernel_package()
        if package:
            # apt-get download writes into the current directory.
            proc = subprocess.run(['apt-get', *APT_OPTS, 'download', package], cwd=tmp,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                LOG.warning('apt-get download %s failed: %s', package, proc.stderr.strip())
            debs = glob.glob(os.path.join(tmp, f'{package}_*.deb'))
            deb = debs[0] if debs else None
        if deb is None:  # offline: a copy apt left in its archive cache
            debs = sorted(glob.glob(f'/var/cache/apt/archives/{package}_*.deb')
                          or glob.glob('/var/cache/apt/archives/linux-image-*-cloud-amd64_'
                                       '*.deb'))
            deb = debs[-1] if debs else None
        if deb is None:
            raise SandboxError(f'cannot get the guest kernel: apt-get download '
                               f'{package or KERNEL_METAPACKAGE} failed (no Debian mirror?)')
        return _extract_vmlinuz(deb, cache_dir)


def _extract_vmlinuz(deb, cache_dir):
    """boot/vmlinuz-* and the ACPI button module out of the kernel package, into the
    cache (the module as button-<version>.ko); returns the kernel's path."""
    proc = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', deb], stdout=subprocess.PIPE)
    dest = button = None
    try:
        with tarfile.open(fileobj=proc.stdout, mode='r|') as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = os.path.basename(member.name)
                module = re.fullmatch(r'(?:\./)?lib/modules/([^/]+)/kernel/drivers/acpi/'
                                      r'button\.ko', member.name)
                if re.fullmatch(r'(?:\./)?boot/vmlinuz-.*', member.name):
                    dest = os.path.join(cache_dir, name)
                    _save(tar.extractfile(member), dest)
                elif module:
                    button = os.path.join(cache_dir, f'button-{module.group(1)}.ko')
                    _save(tar.extractfile(member), button)
                if dest and button:
                    break
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
    if dest is None:
        raise SandboxError(f'no boot/vmlinuz-* in {os.path.basename(deb)}')
    if button is None:
        LOG.warning('no ACPI button module in %s: guests will ignore the power button',
                    os.path.basename(deb))
    LOG.info('guest kernel: %s', dest)
    return dest


def _save(source, dest):
    with open(dest + '.tmp', 'wb') as out:
        shutil.copyfileobj(source, out)
    os.rename(dest + '.tmp', dest)


def _ensure_initrd(cache_dir, button_module=None):
    busybox = preflight.find_binary('busybox')
    if not busybox or not preflight.is_static_elf(busybox):
        raise SandboxError('a static busybox is needed for the guest image: install '
                           'busybox-static (tools/install-deps.sh)')
    with open(busybox, 'rb') as f:
        busybox_bytes = f.read()
    with open(INIT_SCRIPT, 'rb') as f:
        init_bytes = f.read()
    module_bytes = b''
    if button_module and os.path.exists(button_module):
        with open(button_module, 'rb') as f:
            module_bytes = f.read()
    digest = hashlib.sha256(busybox_bytes + b'\0' + init_bytes + b'\0'
                            + module_bytes).hexdigest()[:16]
    dest = os.path.join(cache_dir, f'initrd-{digest}.img')
    if os.path.exists(dest):
        return dest
    applets = subprocess.run([busybox, '--list'], capture_output=True, text=True,
                             check=True).stdout.split()
    data = build_initramfs(busybox_bytes, init_bytes, applets, module_bytes)
    with open(dest + '.tmp', 'wb') as out:
        out.write(data)
    # Older images stay: guests defined with them (and their migrations, which start QEMU
    # on the target with the same -initrd) still need them.
    os.rename(dest + '.tmp', dest)
    LOG.info('guest initramfs: %s (%d bytes)', dest, len(data))
    return dest


def build_initramfs(busybox_bytes, init_bytes, applets, button_module=b''):
    """A gzip'd newc cpio: /init, /bin/busybox + applet links, /dev/console, and the ACPI
    button driver as /lib/button.ko when given."""
    archive = _Cpio()
    for d in ('bin', 'dev', 'lib', 'proc', 'sys', 'tmp', 'work'):
        archive.add(d, 0o040755)
    if button_module:
        archive.add('lib/button.ko', 0o100644, button_module)
    archive.add('dev/console', 0o020600, rdev=(5, 1))
    archive.add('bin/busybox', 0o100755, busybox_bytes)
    for applet in applets:
        if applet != 'busybox' and '/' not in applet:
            archive.add(f'bin/{applet}', 0o120777, b'busybox')
    archive.add('init', 0o100755, init_bytes)
    return gzip.compress(archive.finish(), compresslevel=6, mtime=0)


class _Cpio:
    """Minimal writer of the "newc" cpio format the kernel unpacks."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def add(self, name, mode, data=b'', rdev=(0, 0)):
        nlink = 2 if mode & 0o040000 else 1
        fields = (self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0)
        self.ino += 1
        self.buf.write(b'070701' + b''.join(b'%08X' % v for v in fields))
        self.buf.write(name.encode() + b'\0')
        self._pad()
        self.buf.write(data)
        self._pad()

    def _pad(self):
        self.buf.write(b'\0' * (-self.buf.tell() % 4))

    def finish(self):
        self.add('TRAILER!!!', 0)
        return self.buf.getvalue()
