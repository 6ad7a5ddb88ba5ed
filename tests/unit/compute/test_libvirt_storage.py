"""The libvirt driver's storage XML, without a hypervisor."""

from xml.etree import ElementTree

import pytest

from migrator.common import exceptions
from migrator.compute.virt.libvirt import storage

DOMAIN = """<domain type='qemu'><name>g</name><devices>
  <disk type='file' device='disk'>
    <driver name='qemu' type='qcow2'/>
    <source file='/var/lib/libvirt/images/g.qcow2'/>
    <backingStore type='file'>
      <format type='raw'/>
      <source file='/srv/base/debian.raw'/>
      <backingStore/>
    </backingStore>
    <target dev='vda' bus='virtio'/>
  </disk>
  <disk type='file' device='disk'>
    <driver name='qemu' type='raw'/>
    <source file='/srv/shared/data.raw'/>
    <target dev='vdb' bus='virtio'/>
  </disk>
  <disk type='file' device='cdrom'>
    <source file='/srv/iso/boot.iso'/><target dev='hdc' bus='ide'/>
  </disk>
  <disk type='network' device='disk'>
    <source protocol='rbd' name='pool/img'/><target dev='vdc' bus='virtio'/>
  </disk>
</devices></domain>"""


def test_disks_in_xml_reads_file_disks_and_their_backing_file():
    assert storage.disks_in_xml(DOMAIN) == [
        {'target': 'vda', 'path': '/var/lib/libvirt/images/g.qcow2', 'format': 'qcow2',
         'backing_path': '/srv/base/debian.raw', 'backing_format': 'raw'},
        {'target': 'vdb', 'path': '/srv/shared/data.raw', 'format': 'raw',
         'backing_path': None, 'backing_format': None},
    ]


def test_volume_xml_same_format_and_virtual_size_sparse():
    vol = ElementTree.fromstring(storage.volume_xml('g.qcow2', 'qcow2', 2 ** 30))
    assert vol.findtext('name') == 'g.qcow2'
    assert vol.find('capacity').get('unit') == 'bytes'
    assert int(vol.findtext('capacity')) == 2 ** 30
    assert int(vol.findtext('allocation')) == 0
    assert vol.find('target/format').get('type') == 'qcow2'
    assert vol.find('backingStore') is None


def test_volume_xml_with_backing_file():
    vol = ElementTree.fromstring(storage.volume_xml('g.qcow2', 'qcow2', 5 * 2 ** 30,
                                                    '/srv/base/a&b.raw', 'raw'))
    assert vol.findtext('backingStore/path') == '/srv/base/a&b.raw'
    assert vol.find('backingStore/format').get('type') == 'raw'


def test_raw_volume_cannot_have_a_backing_file():
    with pytest.raises(exceptions.Invalid):
        storage.volume_xml('d.raw', 'raw', 1024, '/srv/base/x.raw', 'raw')


# -- escaping: a value never changes the document's structure ------------------------------

HOSTILE = "/srv/a'b\"c<d>&e</path><path>/etc"


def test_pool_xml_escapes_the_path_and_name():
    pool = ElementTree.fromstring(storage.pool_xml("p'<x>&", HOSTILE))
    assert pool.get('type') == 'dir'
    assert pool.findtext('name') == "p'<x>&"
    assert [p.text for p in pool.iter('path')] == [HOSTILE]


def test_volume_xml_escapes_every_value():
    vol = ElementTree.fromstring(storage.volume_xml(
        "v'<x/>&.qcow2", "qcow2", 1, backing_path=HOSTILE, backing_format="raw'/><x a='"))
    assert vol.findtext('name') == "v'<x/>&.qcow2"
    assert vol.findtext('backingStore/path') == HOSTILE
    assert vol.find('backingStore/format').get('type') == "raw'/><x a='"
    assert vol.find('x') is None and vol.find('backingStore/x') is None
    fmt = ElementTree.fromstring(storage.volume_xml('v', "raw' evil='1", 1))
    assert fmt.find('target/format').attrib == {'type': "raw' evil='1"}


# -- what an agent may delete (libvirt's test driver: real storage-pool API, no files) ------

@pytest.fixture
def test_conn():
    import libvirt
    conn = libvirt.open('test:///default')
    pool = conn.storagePoolDefineXML(storage.pool_xml('guests', '/srv/guests'), 0)
    yield conn
    pool.undefine()
    conn.close()


@pytest.mark.parametrize('path', ['/srv/guests/vm1.qcow2', '/var/lib/libvirt/images/vm.raw',
                                  '/default-pool/disk.img'])
def test_files_in_managed_pools_may_be_deleted(test_conn, path):
    storage.check_deletable(test_conn, path)


@pytest.mark.parametrize('path', ['/etc/passwd', '/srv/guests/../../etc/passwd',
                                  '/srv/guests/sub/vm.qcow2', 'vm1.qcow2', '/srv/guests',
                                  '/srv/guests//vm1.qcow2', '/srv/other/vm.qcow2'])
def test_anything_else_is_refused_and_logged(test_conn, path, caplog):
    with pytest.raises(exceptions.UnmanagedPath) as err:
        storage.check_deletable(test_conn, path, host='h1')
    assert path in str(err.value) and '/srv/guests' in str(err.value)
    assert any(r.levelname == 'ERROR' and 'Refusing to delete' in r.getMessage()
               for r in caplog.records)


def test_a_transient_pool_does_not_make_a_directory_managed(test_conn):
    pool = test_conn.storagePoolCreateXML(storage.pool_xml('probe', '/srv/other'), 0)
    try:
        with pytest.raises(exceptions.UnmanagedPath):
            storage.check_deletable(test_conn, '/srv/other/vm.qcow2')
    finally:
        pool.destroy()


def test_configured_paths_are_managed(test_conn):
    from oslo_config import cfg
    cfg.CONF.set_override('managed_storage_paths', ['/srv/other'], group='compute')
    try:
        storage.check_deletable(test_conn, '/srv/other/vm.qcow2')
    finally:
        cfg.CONF.clear_override('managed_storage_paths', group='compute')


def test_delete_disks_refuses_all_before_deleting_any(test_conn):
    pool = test_conn.storagePoolLookupByName('default-pool')
    pool.createXML(storage.volume_xml('keep.img', 'raw', 1024), 0)
    with pytest.raises(exceptions.UnmanagedPath):
        storage.delete_disks(test_conn, ['/default-pool/keep.img', '/etc/passwd'])
    assert pool.storageVolLookupByName('keep.img') is not None
    assert storage.delete_disks(test_conn, ['/default-pool/keep.img']) == \
        ['/default-pool/keep.img']


def test_block_migration_disks_are_not_created_outside_managed_storage(test_conn):
    with pytest.raises(exceptions.UnmanagedPath) as err:
        storage.create_disks(test_conn, 'h1', [{'path': '/etc/cron.d/x', 'format': 'raw',
                                                'capacity': 1}])
    assert 'create' in str(err.value)
