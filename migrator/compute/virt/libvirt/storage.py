"""Storage through libvirt's storage-pool API.

Everything goes through libvirt rather than the agent's own filesystem view: on a real host
the two agree, and in the sandbox each libvirtd sees its own mount namespace, so only
libvirt's view is the truth about what QEMU will open.
"""

import hashlib
import os
import uuid
from xml.etree import ElementTree

import libvirt
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

PROBE_PREFIX = '.migrator-shared-probe-'


# -- XML: every value goes through ElementTree, which escapes text and attributes (a path
# or name with a quote, "<" or "&" in it must never change the document's structure).

def _xml(tag, children=(), text=None, **attrs):
    element = ElementTree.Element(tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        element.text = str(text)
    element.extend(children)
    return element


def pool_xml(name, path):
    """A `dir` storage pool over path."""
    return ElementTree.tostring(_xml('pool', [
        _xml('name', text=name), _xml('target', [_xml('path', text=path)])], type='dir'),
        encoding='unicode')


def volume_xml(name, fmt, capacity, backing_path=None, backing_format=None):
    """A sparse volume of `capacity` bytes; a qcow2 one may sit on a backing file."""
    children = [_xml('name', text=name),
                _xml('capacity', text=int(capacity), unit='bytes'),
                _xml('allocation', text=0, unit='bytes'),
                _xml('target', [_xml('format', type=fmt)])]
    if backing_path:
        if fmt != 'qcow2':
            raise exceptions.Invalid(f'a {fmt} volume cannot have a backing file')
        children.append(_xml('backingStore', [_xml('path', text=backing_path),
                                              _xml('format', type=backing_format or 'raw')]))
    return ElementTree.tostring(_xml('volume', children), encoding='unicode')


# -- what this agent may delete

def managed_directories(conn):
    """The directories whose files this agent may delete: those of the storage pools
    defined (persistent) in libvirt on this host, [libvirt] images_path and
    [compute] managed_storage_paths. Not the transient pools migrator makes over any
    directory to probe or reach a file: those say nothing about ownership."""
    dirs = {os.path.normpath(CONF.libvirt.images_path)}
    dirs.update(os.path.normpath(p) for p in CONF.compute.managed_storage_paths)
    for pool in conn.listAllStoragePools():
        if not pool.isPersistent():
            continue
        target = ElementTree.fromstring(pool.XMLDesc(0)).findtext('target/path')
        if target:
            dirs.add(os.path.normpath(target))
    return dirs


def check_deletable(conn, path, host=None, action='delete'):
    """Raises UnmanagedPath (and logs an error) unless path is a file directly inside a
    managed directory: a request from the bus to delete anything else (another guest's
    disk elsewhere, /etc/...) is refused, whoever sent it."""
    normal = os.path.normpath(path) if isinstance(path, str) else ''
    directory = os.path.dirname(normal)
    managed = managed_directories(conn)
    if not normal or not os.path.isabs(normal) or normal != path.rstrip('/') \
            or directory not in managed:
        LOG.error('Refusing to %s %r on %s: it is not a file inside a storage pool this '
                  'agent manages (%s)', action, path, host or 'this host',
                  ', '.join(sorted(managed)))
        raise exceptions.UnmanagedPath(action=action, path=path, host=host or 'this host',
                                       managed=', '.join(sorted(managed)))


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
    return conn.storagePoolCreateXML(pool_xml(name, directory), 0), True


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
    with DirectoryPool(conn, directory) as pool:
        pool.createXML(volume_xml(name, 'raw', 0), 0)
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
    for spec in specs:
        check_deletable(conn, spec['path'], host, action='create')
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
    deleted. A missing one counts as deleted. UnmanagedPath, before anything is deleted,
    when one is outside the storage this agent manages (check_deletable)."""
    for path in paths:
        check_deletable(conn, path)
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
