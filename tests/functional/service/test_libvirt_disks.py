"""The libvirt driver's disk handling for block migration, against a real sandbox libvirtd:
destination disks (format, virtual size, backing file), never overwriting, removal only of
disks no domain uses; and abortJob on a domain without a job."""

import json
import os
import subprocess

import libvirt
import pytest

from migrator import conf  # noqa: F401 - registers the options
from migrator.common import exceptions
from migrator.compute.virt.libvirt import driver as libvirt_driver
from migrator.compute.virt.libvirt import migration
from migrator.sandbox import probe
from tests.functional.service.conftest import guest_name

IMAGES = '/var/lib/libvirt/images'


@pytest.fixture
def host2(sandbox):
    host = next(h for h in sandbox['hosts'] if h['name'] == 'sandbox-host2')
    driver = libvirt_driver.LibvirtDriver(uri=host['uri'], virt_type='qemu')
    driver.init_host(host['name'])
    yield driver, host
    driver.cleanup_host()


def _info(path):
    out = subprocess.run(['qemu-img', 'info', '-U', '--output=json', path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def test_destination_disks_keep_format_size_and_backing_file(sandbox, host2):
    driver, host = host2
    base = os.path.join(sandbox['shared_dir'], 'base-for-disks-test.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '3G'], check=True)
    specs = [
        {'path': f'{IMAGES}/t-overlay.qcow2', 'format': 'qcow2', 'capacity': 3 * 2 ** 30,
         'backing_path': base, 'backing_format': 'qcow2'},
        {'path': f'{IMAGES}/t-plain.raw', 'format': 'raw', 'capacity': 5 * 2 ** 20},
    ]
    outside = [os.path.join(host['image_dir_outside'], os.path.basename(s['path']))
               for s in specs]
    try:
        assert driver.create_migration_disks(specs) == [s['path'] for s in specs]

        overlay, plain = (_info(p) for p in outside)
        assert overlay['format'] == 'qcow2' and overlay['virtual-size'] == 3 * 2 ** 30
        assert overlay['backing-filename'] == base
        assert plain['format'] == 'raw' and plain['virtual-size'] == 5 * 2 ** 20
        assert os.stat(outside[1]).st_blocks == 0     # sparse

        # An existing file is never overwritten, and a failed batch leaves nothing new.
        again = [{'path': f'{IMAGES}/t-new.qcow2', 'format': 'qcow2', 'capacity': 2 ** 20},
                 specs[1]]
        with pytest.raises(exceptions.Conflict) as raised:
            driver.create_migration_disks(again)
        assert f'already has a file {IMAGES}/t-plain.raw' in str(raised.value)
        assert not os.path.exists(os.path.join(host['image_dir_outside'], 't-new.qcow2'))
        assert _info(outside[1])['virtual-size'] == 5 * 2 ** 20
    finally:
        result = driver.remove_unused_disks([s['path'] for s in specs])
        os.unlink(base)
    assert result == {'removed': [s['path'] for s in specs], 'kept': []}
    assert not any(os.path.exists(p) for p in outside)


def test_disks_in_use_are_not_removed(sandbox):
    name = guest_name(sandbox)
    [running_on] = probe.where(name, cluster=sandbox)
    host = next(h for h in sandbox['hosts'] if h['name'] == running_on)
    driver = libvirt_driver.LibvirtDriver(uri=host['uri'], virt_type='qemu')
    driver.init_host(host['name'])
    try:
        [disk] = driver.get_disks(next(g['uuid'] for g in sandbox['guests']
                                       if g['name'] == name))
        assert driver.remove_unused_disks([disk['path']]) == {'removed': [],
                                                               'kept': [disk['path']]}
        assert os.path.exists(next(g['disk_outside'] for g in sandbox['guests']
                                   if g['name'] == name))
        # abortJob on a guest without a migration job: "nothing to abort", not an error.
        dom = libvirt.open(host['uri']).lookupByName(name)
        assert migration.abort_domain_job(dom) is False
    finally:
        driver.cleanup_host()


def test_an_agent_reads_a_peer_daemon_and_deletes_only_in_its_pools(sandbox, host2, tmp_path):
    """What a recovery relies on: the agent itself reads another host's libvirt daemon
    (read-only) about a guest; and it refuses to delete a file outside its storage pools."""
    driver, _host = host2
    name = guest_name(sandbox)
    guest = next(g for g in sandbox['guests'] if g['name'] == name)
    [running_on] = probe.where(name, cluster=sandbox)
    peer = next(h for h in sandbox['hosts'] if h['name'] == running_on)
    seen = driver.peer_domain_state(guest['uuid'], peer['uri'])
    assert seen['exists'] and seen['active'] and not seen['incoming']
    assert seen['disks'] and all(p.endswith('.qcow2') for p in seen['disks'])
    absent = driver.peer_domain_state('0b6f7c2e-3c1a-4d6e-9a59-2f1d8e7b5a43', peer['uri'])
    assert absent == {'exists': False, 'active': False, 'incoming': False, 'disks': []}

    victim = tmp_path / 'not-a-guest-disk.img'
    victim.write_bytes(b'keep me')
    with pytest.raises(exceptions.UnmanagedPath):
        driver.remove_unused_disks([str(victim)])
    with pytest.raises(exceptions.UnmanagedPath):
        driver.remove_unused_disks([f'{IMAGES}/../../../../etc/hostname'])
    assert victim.read_bytes() == b'keep me'


pytestmark = pytest.mark.functional
