import pytest

from migrator.compute.virt.libvirt import domain_xml

XML = """<domain type='qemu'><name>g</name><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='/src/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><source file='/shared/b.raw'/><target dev='vdb'/></disk>
<disk type='file' device='cdrom'><target dev='hdc'/></disk>
</devices></domain>"""


def test_copied_disks_point_at_their_copies_and_shared_ones_stay():
    out = domain_xml.with_disk_paths(XML, {'/src/a.qcow2': '/images/a.qcow2'})
    assert "file=\"/images/a.qcow2\"" in out or "file='/images/a.qcow2'" in out
    assert '/src/a.qcow2' not in out
    assert '/shared/b.raw' in out
    assert "type=\"qcow2\"" in out or "type='qcow2'" in out


def test_a_path_that_is_no_disk_of_the_domain_is_refused():
    with pytest.raises(ValueError, match='/elsewhere/c.qcow2'):
        domain_xml.with_disk_paths(XML, {'/elsewhere/c.qcow2': '/images/c.qcow2'})
