"""Storage through libvirt's storage-pool API.

Everything goes through libvirt rather than the agent's own filesystem view: on a real host
the two agree, and in the sandbox each libvirtd sees its own mount namespace, so only
libvirt's view is the truth about what QEMU will open.
"""

import hashlib
import os
import uuid
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import libvirt

from migrator.common import exceptions

PROBE_PREFIX = '.migrator-shared-probe-'


def pool_for_directory(conn, directory):
    """An active dir pool over directory, and whether we made it (transient) for this use."""
    directory = os.path.normpath(directory)
    for pool in conn.listAllStoragePools():
        target = ElementTree.fromstring(pool.XMLDesc()).findtext('target/path')
        if target and os.path.normpath(target) == directory:
            if not pool.isActive():
                pool.create()
            return pool, False
    name = 'migrator-probe-' + hashlib.sha1(directory.encode()).hexdigest()[:12]
    xml = (f"<pool type='dir'><name>{name}</name>"
           f"<target><path>{directory}</path></target></pool>")
    return conn.storagePoolCreateXML(xml, 0), True


class DirectoryPool:
    """Context manager: a pool over directory, torn down after use if we created it (the
    probe files and the disks of a block migration go through it)."""

    def __init__(self, conn, directory):
        self.conn = conn
        self.directory = directory
        self.pool = None
        self.transient = False

    def __enter__(self):
        self.pool, self.transient = pool_for_directory(self.conn, self.directory)
        return self.pool

    def __exit__(self, *exc):
        if self.transient:
            try:
                self.pool.destroy()
            except libvirt.libvirtError:
                pass
        return False


def create_probe(conn, directory):
    name = PROBE_PREFIX + uuid.uuid4().hex
    xml = (f"<volume><name>{name}</name><capacity>0</capacity>"
           f"<target><format type='raw'/></target></volume>")
    with DirectoryPool(conn, directory) as pool:
        pool.createXML(xml, 0)
    return name


def probe_exists(conn, directory, name):
    if not name.startswith(PROBE_PREFIX):
        raise ValueError(f'not a probe name: {name}')
    with DirectoryPool(conn, directory) as pool:
        pool.refresh(0)
        try:
            pool.storageVolLookupByName(name)
        except libvirt.libvirtError:
            return False
        return True


def remove_probe(conn, directory, name):
    if not name.startswith(PROBE_PREFIX):
        raise ValueError(f'not a probe name: {name}')
    with DirectoryPool(conn, directory) as pool:
        pool.refresh(0)
        try:
            pool.storageVolLookupByName(name).delete(0)
        except libvirt.libvirtError:
            pass


def disks_in_xml(xml):
    """File-backed disks of a domain XML: target, path, format, and the first backing
    file (backing_path, backing_format; None without one)."""
    root = ElementTree.fromstring(xml)
    disks = []
    for disk in root.findall("devices/disk[@device='disk']"):
        source = disk.find('source')
        path = source.get('file') if source is not None else None
        if not path:
            continue
        driver = disk.find('driver')
        backing = disk.find('backingStore')
        backing_source = backing.find('source') if backing is not None else None
        backing_format = backing.find('format') if backing is not None else None
        disks.append({
            'target': disk.find('target').get('dev'),
            'path': path,
            'format': driver.get('type', 'raw') if driver is not None else 'raw',
            'backing_path': backing_source.get('file') if backing_source is not None
            else None,
            'backing_format': backing_format.get('type') if backing_format is not None
            else None,
        })
    return disks


def domain_disks(dom):
    """File-backed disks of a domain: disks_in_xml plus capacity (virtual size, bytes)."""
    disks = disks_in_xml(dom.XMLDesc(0))
    for disk in disks:
        try:
            disk['capacity'] = dom.blockInfo(disk['path'], 0)[0]
        except libvirt.libvirtError:
            disk['capacity'] = 0
    return disks


def volume_xml(name, fmt, capacity, backing_path=None, backing_format=None):
    """A sparse volume of `capacity` bytes; a qcow2 one may sit on a backing file."""
    backing = ''
    if backing_path:
        if fmt != 'qcow2':
            raise exceptions.Invalid(f'a {fmt} volume cannot have a backing file')
        backing = (f"<backingStore><path>{escape(backing_path)}</path>"
                   f"<format type='{escape(backing_format or 'raw')}'/></backingStore>")
    return (f"<volume><name>{escape(name)}</name>"
            f"<capacity unit='bytes'>{int(capacity)}</capacity>"
            f"<allocation unit='bytes'>0</allocation>"
            f"<target><format type='{escape(fmt)}'/></target>{backing}</volume>")


def _lookup_volume(pool, name):
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise


def create_disks(conn, host, specs):
    """Creates the empty destination disks of a block migration, all or none.

    specs: dicts with path, format, capacity and optionally backing_path/backing_format.
    A disk is created at the very path the source uses (block migration keeps paths), in
    the pool over its directory. An existing file there is never overwritten: the probe
    found that directory is not shared with the source, so it is someone else's file.
    Returns the paths created.
    """
    created = []
    try:
        for spec in specs:
            directory, name = os.path.split(os.path.normpath(spec['path']))
            with DirectoryPool(conn, directory) as pool:
                pool.refresh(0)
                if _lookup_volume(pool, name) is not None:
                    raise exceptions.Conflict(
                        f"{host} already has a file {spec['path']}; it is not the source's "
                        f"(that directory is not shared between the hosts), so it is not "
                        f"overwritten. Remove it or choose another target host.")
                pool.createXML(volume_xml(name, spec['format'], spec['capacity'],
                                          spec.get('backing_path'),
                                          spec.get('backing_format')), 0)
            created.append(spec['path'])
    except BaseException:
        delete_disks(conn, created)
        raise
    return created


def delete_disks(conn, paths):
    """Deletes the volumes at paths (through the pools over their directories); the paths
    deleted. A missing one counts as deleted."""
    deleted = []
    for path in paths:
        directory, name = os.path.split(os.path.normpath(path))
        with DirectoryPool(conn, directory) as pool:
            pool.refresh(0)
            vol = _lookup_volume(pool, name)
            if vol is not None:
                vol.delete(0)
        deleted.append(path)
    return deleted
