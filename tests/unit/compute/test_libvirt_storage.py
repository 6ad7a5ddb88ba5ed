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
