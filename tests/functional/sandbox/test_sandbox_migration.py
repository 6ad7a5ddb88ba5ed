"""Live migrations between sandbox hosts, with plain libvirt-python calls.

After each move: the guest kept ticking, it runs on exactly one host (the
target), and the disk marker written before the move reads back after it.
"""

import os

import libvirt

from migrator.sandbox import probe
from tests.functional.sandbox.conftest import guest_by_mode, host_by_name

BASE_FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
              | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)


def _migrate(cluster, guest, src, dst, flags, params):
    conn = libvirt.open(src['uri'])
    try:
        dom = conn.lookupByName(guest['name'])
        dom.migrateToURI3(dst['uri'], params, flags)
    finally:
        conn.close()


def _console_head(guest):
    with open(guest['console_log'], 'rb') as f:
        return f.read()


def _assert_moved(cluster, guest, dst, tick_before, marker, console_before):
    assert probe.where(guest['name'], cluster) == [dst['name']]
    # defined (persistent) on the target only: UNDEFINE_SOURCE + PERSIST_DEST
    assert probe.where(guest['name'], cluster, active_only=False) == [dst['name']]
    conn = libvirt.open(dst['uri'])
    try:
        dom = conn.lookupByName(guest['name'])
        assert dom.isPersistent()
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    finally:
        conn.close()
    tick_after = probe.wait_for_tick(guest['console_log'], above=tick_before + 1, timeout=60)
    assert tick_after > tick_before
    # the target's QEMU appended to the same console log (append='on'), it did
    # not truncate it
    assert _console_head(guest).startswith(console_before)
    assert probe.read_disk(guest['name'], cluster=cluster) == marker


def test_live_migration_shared_storage(sandbox):
    guest = guest_by_mode(sandbox, 'shared')
    src, dst = host_by_name(sandbox, 'sandbox-host1'), host_by_name(sandbox, 'sandbox-host2')
    assert probe.where(guest['name'], sandbox) == [src['name']]
    probe.write_marker(guest['name'], pattern=0x5a, cluster=sandbox)
    marker = probe.read_disk(guest['name'], cluster=sandbox)
    assert marker == b'\x5a' * probe.MARKER_LENGTH
    tick_before = probe.wait_for_tick(guest['console_log'], timeout=60)
    console_before = _console_head(guest)

    # libvirt cannot tell that a local directory is shared: UNSAFE says we know.
    _migrate(sandbox, guest, src, dst, BASE_FLAGS | libvirt.VIR_MIGRATE_UNSAFE, {})

    _assert_moved(sandbox, guest, dst, tick_before, marker, console_before)


def test_block_migration_local_disk(sandbox):
    guest = guest_by_mode(sandbox, 'local')
    src, dst = host_by_name(sandbox, 'sandbox-host1'), host_by_name(sandbox, 'sandbox-host3')
    assert probe.where(guest['name'], sandbox) == [src['name']]
    probe.write_marker(guest['name'], pattern=0xa7, cluster=sandbox)
    marker = probe.read_disk(guest['name'], cluster=sandbox)
    assert marker == b'\xa7' * probe.MARKER_LENGTH

    # The destination disk must exist first: same name, size and format, in
    # the destination's private `default` pool.
    vol_name = os.path.basename(guest['disk'])
    sconn, dconn = libvirt.open(src['uri']), libvirt.open(dst['uri'])
    try:
        src_vol = sconn.storagePoolLookupByName('default').storageVolLookupByName(vol_name)
        capacity = src_vol.info()[1]
        dst_vol = dconn.storagePoolLookupByName('default').createXML(
            f"<volume><name>{vol_name}</name><capacity unit='bytes'>{capacity}</capacity>"
            f"<target><format type='qcow2'/></target></volume>", 0)
        assert dst_vol.path() == guest['disk']
    finally:
        sconn.close()
        dconn.close()
    tick_before = probe.wait_for_tick(guest['console_log'], timeout=60)
    console_before = _console_head(guest)

    _migrate(sandbox, guest, src, dst, BASE_FLAGS | libvirt.VIR_MIGRATE_NON_SHARED_DISK,
             {libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ['vda']})

    _assert_moved(sandbox, guest, dst, tick_before, marker, console_before)
    # the copy on the target's private disk holds the marker too
    dst_file = os.path.join(dst['image_dir_outside'], vol_name)
    assert probe.read_disk_file(dst_file) == marker
