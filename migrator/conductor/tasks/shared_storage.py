"""Whether a disk's directory is storage both hosts see: proven, never guessed from a path.

The target writes a probe file into the directory through its libvirt and the source must
see it through its own (what Nova does with a test file). Two hosts may both have
/var/lib/libvirt/images and still share nothing.
"""

import os


def is_shared(compute_api, ctxt, source, target, directory):
    name = compute_api.create_shared_probe(ctxt, target, directory)
    try:
        return compute_api.check_shared_probe(ctxt, source, directory, name)
    finally:
        compute_api.remove_shared_probe(ctxt, target, directory, name)


def split_disks(compute_api, ctxt, source, target, disks):
    """(shared, unshared) lists of disks, one probe per directory."""
    shared, unshared = [], []
    verdicts = {}
    for disk in disks:
        directory = os.path.dirname(disk['path'])
        if directory not in verdicts:
            verdicts[directory] = is_shared(compute_api, ctxt, source, target, directory)
        (shared if verdicts[directory] else unshared).append(disk)
    return shared, unshared
