"""Which of a guest's disks are on storage that both hosts of a migration see.

Proven, never assumed from a path: the target host writes a probe file into the disk's
directory and the source host must see it (two hosts can have the same path on storage of
their own, like /var/lib/libvirt/images). Disks in one directory share the answer, so it is
asked once per directory.

The probe is removed in a thread of its own once the source has answered: the answer is
all the migration waits for, and the removal, a cast to the target, still waits for the
broker to take it (for as long as the broker is away, during an outage). A probe a removal
could not delete is logged; it is a small hidden file (storage.PROBE_PREFIX) and nothing
reads it again.
"""

import os
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def is_shared(ctxt, compute_api, source, target, directory):
    name = compute_api.create_shared_probe(ctxt, target, directory)
    try:
        return compute_api.check_shared_probe(ctxt, source, directory, name)
    finally:
        threading.Thread(target=_remove_probe,
                         args=(ctxt, compute_api, target, directory, name),
                         name=f'remove-probe-{name[-8:]}', daemon=True).start()


def _remove_probe(ctxt, compute_api, target, directory, name):
    try:
        compute_api.remove_shared_probe(ctxt, target, directory, name)
    except Exception as exc:  # noqa: BLE001 - nothing waits for this; it is only logged
        LOG.warning('Could not remove the shared-storage probe %s from %s on %s: %s',
                    name, directory, target, exc)


def unshared_disks(ctxt, compute_api, source, target, instance_uuid, disks=None):
    """The disks (dicts of get_disks) of the instance that target does not share."""
    if disks is None:
        disks = compute_api.get_disks(ctxt, source, instance_uuid)
    unshared = []
    for directory in sorted({os.path.dirname(d['path']) for d in disks}):
        if not is_shared(ctxt, compute_api, source, target, directory):
            unshared.extend(d for d in disks if os.path.dirname(d['path']) == directory)
    return unshared


def refusal(instance, unshared, source, target):
    """The message for block_migration false with disks that would have to be copied."""
    names = ', '.join(f"{d['target']} ({d['path']})" for d in unshared)
    return (f"block_migration is false (shared storage only), but disks {names} of "
            f"instance {instance['name']} are not on storage shared between {source} and "
            f"{target}. Use block_migration \"auto\" or true to copy them.")
