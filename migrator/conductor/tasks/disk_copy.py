"""The disks a live migration copies (block migration): decided, created, cleaned up.

Per disk, by the probe of shared_storage (never by path): a disk on storage both hosts see
is not copied (libvirt is told it is safe); any other disk is copied. Its destination is
created empty on the target first, at the same path (block migration keeps paths), with the
same format and virtual size, and on the same backing file when that backing file is itself
on shared storage (proven the same way); a backing file the hosts do not share is not
trusted to be the same file, so that destination is a standalone image and the copy (always
the full content, VIR_MIGRATE_NON_SHARED_DISK) fills it.

After a failure or an abort the destination files are removed again; after success the
source's copies, which libvirt leaves behind when it undefines the source domain.
"""

import os

from oslo_log import log as logging

from migrator.common import exceptions
from migrator.conductor import shared_storage

LOG = logging.getLogger(__name__)


class DiskCopy:
    def __init__(self, ctxt, compute_api, instance, source, target, requested):
        """requested: the request's block_migration: None (auto), True or False."""
        self.ctxt = ctxt
        self.compute_api = compute_api
        self.instance = instance
        self.source = source
        self.target = target
        self.requested = requested
        self.copied = []     # the disks (get_disks dicts) the job copies
        self.created = []    # paths created on the target, to remove after a failure

    def _shared(self, directory):
        return shared_storage.is_shared(self.ctxt, self.compute_api, self.source,
                                        self.target, directory)

    def destination_spec(self, disk):
        spec = {'path': disk['path'], 'format': disk['format'], 'capacity': disk['capacity']}
        backing = disk.get('backing_path')
        if backing and disk['format'] == 'qcow2' and self._shared(os.path.dirname(backing)):
            spec['backing_path'] = backing
            spec['backing_format'] = disk.get('backing_format') or 'raw'
        return spec

    def prepare(self):
        """Decides what to copy and creates the destinations on the target.

        Returns (migrate_disks for the driver: None or disk targets, a phrase for the event
        log). Raises MigrationFailed when the request allows shared storage only but a disk
        is not shared.
        """
        uuid = self.instance['uuid']
        disks = self.compute_api.get_disks(self.ctxt, self.source, uuid)
        unshared = shared_storage.unshared_disks(self.ctxt, self.compute_api, self.source,
                                                 self.target, uuid, disks=disks)
        if not unshared:
            if self.requested:
                return None, ('block_migration true, but every disk is on storage shared '
                              'with the target: nothing to copy')
            return None, 'shared storage'
        if self.requested is False:
            raise exceptions.MigrationFailed(reason=shared_storage.refusal(
                self.instance, unshared, self.source, self.target))
        specs = [self.destination_spec(d) for d in unshared]
        self.created = self.compute_api.create_migration_disks(self.ctxt, self.target, uuid,
                                                               specs)
        self.copied = unshared
        names = ', '.join(d['target'] for d in unshared)
        return [d['target'] for d in unshared], f'block migration copying {names}'

    def remove_from_target(self):
        """After a failure: removes the destinations created. None when done, else a
        sentence saying what is left."""
        if not self.created:
            return None
        result = self.compute_api.remove_unused_disks(self.ctxt, self.target,
                                                      self.instance['uuid'], self.created)
        self.created = [p for p in self.created if p not in result['removed']]
        if result['kept']:
            return (f"disks {', '.join(result['kept'])} on {self.target} are used by a "
                    f"domain there and were not removed")
        return None

    def remove_from_source(self):
        """After success: removes the source's copies of the copied disks; a phrase for
        the event log. A failure here does not undo the migration."""
        if not self.copied:
            return ''
        paths = [d['path'] for d in self.copied]
        try:
            result = self.compute_api.remove_unused_disks(self.ctxt, self.source,
                                                          self.instance['uuid'], paths)
        except exceptions.MigratorException as exc:
            LOG.warning('Could not remove the source disks %s on %s: %s', paths,
                        self.source, exc)
            return f'; could not remove its old disks {", ".join(paths)} on {self.source}: {exc}'
        text = ''
        if result['removed']:
            text += f"; removed its old disks {', '.join(result['removed'])} on {self.source}"
        if result['kept']:
            text += (f"; kept {', '.join(result['kept'])} on {self.source}: a domain there "
                     f"still uses them")
        return text
