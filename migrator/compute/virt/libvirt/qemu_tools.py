"""How this agent runs QEMU's tools (qemu-nbd, qemu-img) for the nbd disk copy, and when
that copy must be encrypted.

The tools open the disks by the paths libvirt gives, so they must run where libvirtd's
files are: [compute] disk_tool_wrapper is put before each command line for an agent that
lives elsewhere (the sandbox's agents run outside their libvirtd's mount namespace).
"""

import json
import shlex
import shutil
import subprocess

from oslo_config import cfg

from migrator.common import exceptions

CONF = cfg.CONF

TOOLS = ('qemu-nbd', 'qemu-img')


def command(wrapper, *args):
    return [*shlex.split(wrapper or ''), *args]


def check_installed(wrapper):
    """MigrationFailed naming the package when a tool is missing (with a wrapper the
    tools are looked for where it runs them, so they are not checked here)."""
    if wrapper:
        return
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise exceptions.MigrationFailed(
            reason=f'{", ".join(missing)} not found on this host: [compute] '
                   f'disk_copy_method = nbd needs them (Debian/Ubuntu: qemu-utils; '
                   f'RHEL: qemu-img and qemu-kvm-tools)')


def encryption_required():
    """True when this host's configuration encrypts what it sends to other hosts (the
    libvirt connections or QEMU's migration stream): its disk copies must be encrypted
    too, whatever the conductor asked."""
    return (CONF.libvirt.remote_transport == 'tls'
            or CONF.libvirt.live_migration_with_native_tls)


def image_info(wrapper, path):
    """qemu-img info of the image at path: format, virtual size, allocation, backing file,
    and the qcow2 creation options a copy keeps."""
    proc = subprocess.run(command(wrapper, 'qemu-img', 'info', '--output=json', '-U', path),
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise exceptions.MigrationFailed(
            reason=f'qemu-img info {path}: {proc.stderr.strip() or proc.returncode}')
    info = json.loads(proc.stdout)
    options = {}
    if info.get('format') == 'qcow2':
        data = (info.get('format-specific') or {}).get('data') or {}
        if info.get('cluster-size'):
            options['cluster_size'] = str(info['cluster-size'])
        if data.get('compat'):
            options['compat'] = data['compat']
        if data.get('refcount-bits'):
            options['refcount_bits'] = str(data['refcount-bits'])
        if data.get('extended-l2'):
            options['extended_l2'] = 'on'
        if data.get('compression-type'):
            options['compression_type'] = data['compression-type']
    return {
        'format': info['format'],
        'virtual_size': int(info['virtual-size']),
        'allocation': int(info.get('actual-size') or 0),
        'backing': info.get('full-backing-filename') or info.get('backing-filename'),
        'create_options': options,
    }
