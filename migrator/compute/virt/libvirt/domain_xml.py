"""Domain XML as a cold migration moves it: disk sources rewritten to the copied volumes."""

from xml.etree import ElementTree


def with_disk_paths(xml, paths):
    """The domain XML with each file disk whose source is a key of paths moved to its value.

    Raises ValueError when a path to rewrite is not a disk of the domain: defining a guest
    that still points at the source's files would silently use the wrong disks.
    """
    root = ElementTree.fromstring(xml)
    seen = set()
    for source in root.findall("devices/disk/source[@file]"):
        old = source.get('file')
        if old in paths:
            source.set('file', paths[old])
            seen.add(old)
    missing = set(paths) - seen
    if missing:
        raise ValueError(f"not disks of the domain: {', '.join(sorted(missing))}")
    return ElementTree.tostring(root, encoding='unicode')
