"""What a restarted agent needs to re-attach to a live-migration job, kept in the domain.

The agent has no DB, and its memory dies with it, while a peer-to-peer job runs on inside
libvirtd. Before it starts a job the agent writes the job's record -- migration id, the
conductor to report to, the convergence controls, when it started -- into the domain's live
XML as libvirt metadata in migrator's own namespace. Why there, and not handed back by the
conductor when a restarted agent reports a running job:

- it lives exactly as long as the job's domain on this host, in the process that holds the
  truth about the job (libvirtd), so it survives the agent but not the domain;
- the agent can re-attach at once on start, before (and without) the bus or any conductor
  answering: the completion timeout is enforced even while the conductor is down too;
- no RPC change, and nothing to keep in step between a DB row and a running job.

Only the live definition gets it (VIR_DOMAIN_AFFECT_LIVE): the persistent one that
PERSIST_DEST copies to the target stays clean. The target's live XML inherits the element
with the migration; it is harmless there (a record is only acted on by the host named its
source, and only for a job that started when the record says) and is replaced by the next
migration's record.
"""

import json
import time
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import libvirt
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

NAMESPACE = 'http://openstack.org/xmlns/migrator/migration/1.0'
PREFIX = 'migrator'
ELEMENT = 'migration'

# How far apart the record's start time and the start of the job libvirt reports may be for
# the record to describe that job (the record is written just before migrateToURI3; libvirt
# starts the job when the call reaches it).
START_TOLERANCE_S = 120.0


def make(migration_id, conductor, source_host, dest_uri, flags, controls, data_bytes):
    return {'migration_id': migration_id, 'conductor': conductor,
            'source_host': source_host, 'dest_uri': dest_uri, 'flags': flags,
            'controls': controls or {}, 'data_bytes': data_bytes,
            'started_at': time.time()}


def write(dom, record):
    body = json.dumps(record, sort_keys=True)
    xml = f'<{ELEMENT}>{escape(body)}</{ELEMENT}>'
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, PREFIX, NAMESPACE,
                    libvirt.VIR_DOMAIN_AFFECT_LIVE)


def read(dom):
    """The record in the domain's live XML, or None when there is none (or it is not ours)."""
    try:
        xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE,
                           libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN_METADATA,
                                    libvirt.VIR_ERR_NO_DOMAIN,
                                    libvirt.VIR_ERR_OPERATION_INVALID):
            return None
        raise
    return parse(xml)


def parse(xml):
    try:
        record = json.loads(ElementTree.fromstring(xml).text or '')
    except (ValueError, ElementTree.ParseError):
        LOG.warning('Unreadable migrator job record in a domain: %r', xml[:200])
        return None
    if not isinstance(record, dict) or not record.get('migration_id'):
        return None
    return record


def clear(dom):
    """Removes the record (the job ended and the domain stays here); quietly when gone."""
    try:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, NAMESPACE,
                        libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        LOG.debug('Could not remove the job record of %s: %s', _uuid(dom), exc)


def describes_job(record, elapsed_ms, now=None):
    """True when a job that has run elapsed_ms (libvirt's time_elapsed) is the one the record
    was written for, not a later job someone else started."""
    if elapsed_ms is None:
        return True
    now = time.time() if now is None else now
    job_started = now - elapsed_ms / 1000.0
    return abs(job_started - record.get('started_at', 0)) <= START_TOLERANCE_S


def _uuid(dom):
    try:
        return dom.UUIDString()
    except libvirt.libvirtError:
        return '?'
