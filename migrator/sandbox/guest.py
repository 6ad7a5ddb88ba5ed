"""Sandbox guests: a qcow2 pool volume, a persistent domain, a console log.

The guest boots the cached kernel + busybox initramfs (see guest_image), dirties
memory at ``dirty_rate_mib`` MiB/s and writes ``MIGRATOR-TICK <n>`` once a second
to its serial port, a file chardev with ``append='on'`` under the state dir, so
whichever host runs the guest keeps appending to the same log.
"""

import logging
import os
import uuid
from xml.sax.saxutils import escape, quoteattr

import libvirt

from migrator.sandbox.errors import SandboxError

LOG = logging.getLogger(__name__)

DISK_SIZE_GIB = 1
DISK_TARGET = 'vda'
CPU_MODEL = 'qemu64'   # a named model: what TCG emulates, and migratable


def working_set_mib(memory_mib):
    """MiB the guest cycles over: a quarter of its memory, at most 64."""
    return max(1, min(64, memory_mib // 4))


def kernel_cmdline(name, memory_mib, dirty_rate_mib):
    return (f'console=ttyS0 quiet panic=-1 migrator.guest={name} '
            f'migrator.dirty_mib={dirty_rate_mib} '
            f'migrator.wss_mib={working_set_mib(memory_mib)}')


def create_disk(conn, pool_name, name, size_gib=DISK_SIZE_GIB):
    """Create ``<name>.qcow2`` in ``pool_name`` through the storage API; its path."""
    pool = conn.storagePoolLookupByName(pool_name)
    vol_name = f'{name}.qcow2'
    try:
        pool.refresh(0)
        old = pool.storageVolLookupByName(vol_name)
    except libvirt.libvirtError:
        old = None
    if old is not None:
        raise SandboxError(f'volume {vol_name} already exists in pool {pool_name}')
    vol = pool.createXML(volume_xml(vol_name, size_gib), 0)
    return vol.path()


def volume_xml(vol_name, size_gib, fmt='qcow2'):
    return (f"<volume><name>{escape(vol_name)}</name>"
            f"<capacity unit='GiB'>{size_gib}</capacity>"
            f"<target><format type='{fmt}'/></target></volume>")


def domain_xml(name, guest_uuid, memory_mib, kernel, initrd, cmdline, disk_path,
               console_log, virt_type='qemu', vcpus=1):
    # A named model for kvm too: host-passthrough fails here under nested KVM
    # ("failed to set MSR 0x10a"), and a named model keeps guests migratable.
    # qemu64 includes svm, which a nested KVM host does not offer: drop it there.
    extra = "<feature policy='disable' name='svm'/>" if virt_type == 'kvm' else ''
    cpu = (f"<cpu mode='custom' match='exact'><model fallback='forbid'>{CPU_MODEL}</model>"
           f"{extra}</cpu>")
    return f"""<domain type='{virt_type}'>
  <name>{escape(name)}</name>
  <uuid>{guest_uuid}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(kernel)}</kernel>
    <initrd>{escape(initrd)}</initrd>
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  <features><acpi/></features>
  {cpu}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file={quoteattr(disk_path)}/>
      <target dev='{DISK_TARGET}' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path={quoteattr(console_log)} append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def create(conn, host, name, *, image, state_dir, shared_dir, memory_mib, dirty_rate_mib,
           disk_mode, virt_type):
    """Create the disk, define and start guest ``name`` on ``host``; its record."""
    if disk_mode not in ('shared', 'local'):
        raise SandboxError(f'unknown disk mode {disk_mode!r}: use shared or local')
    pool = 'shared' if disk_mode == 'shared' else 'default'
    disk = create_disk(conn, pool, name)
    console_dir = os.path.join(state_dir, 'console')
    os.makedirs(console_dir, exist_ok=True)
    console_log = os.path.join(console_dir, f'{name}.log')
    guest_uuid = str(uuid.uuid4())
    xml = domain_xml(name, guest_uuid, memory_mib, image.kernel, image.initrd,
                     kernel_cmdline(name, memory_mib, dirty_rate_mib), disk, console_log,
                     virt_type=virt_type)
    dom = conn.defineXML(xml)
    dom.create()
    LOG.info('%s: started guest %s (%d MiB, %s disk %s)', host['name'], name, memory_mib,
             disk_mode, disk)
    record = {
        'name': name,
        'uuid': guest_uuid,
        'host': host['name'],
        'disk': disk,
        'disk_outside': disk if disk_mode == 'shared' else
        os.path.join(host['image_dir_outside'], os.path.basename(disk)),
        'disk_mode': disk_mode,
        'disk_target': DISK_TARGET,
        'console_log': console_log,
        'memory_mib': memory_mib,
        'dirty_rate_mib': dirty_rate_mib,
    }
    return record
