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


class ProbePool:
    """Context manager: a pool over directory, torn down after use if we created it."""

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
    with ProbePool(conn, directory) as pool:
        pool.createXML(xml, 0)
    return name


def probe_exists(conn, directory, name):
    if not name.startswith(PROBE_PREFIX):
        raise ValueError(f'not a probe name: {name}')
    with ProbePool(conn, directory) as pool:
        pool.refresh(0)
        try:
            pool.storageVolLookupByName(name)
        except libvirt.libvirtError:
            return False
        return True


def remove_probe(conn, directory, name):
    if not name.startswith(PROBE_PREFIX):
        raise ValueError(f'not a probe name: {name}')
    with ProbePool(conn, directory) as pool:
        pool.refresh(0)
        try:
            pool.storageVolLookupByName(name).delete(0)
        except libvirt.libvirtError:
            pass


def domain_disks(dom):
    """File-backed disks of a domain: target, path, format, capacity in bytes."""
    root = ElementTree.fromstring(dom.XMLDesc(0))
    disks = []
    for disk in root.findall("devices/disk[@device='disk']"):
        source = disk.find('source')
        path = source.get('file') if source is not None else None
        if not path:
            continue
        target = disk.find('target').get('dev')
        driver = disk.find('driver')
        fmt = driver.get('type', 'raw') if driver is not None else 'raw'
        try:
            capacity = dom.blockInfo(path, 0)[0]
        except libvirt.libvirtError:
            capacity = 0
        disks.append({'target': target, 'path': path, 'format': fmt, 'capacity': capacity})
    return disks
