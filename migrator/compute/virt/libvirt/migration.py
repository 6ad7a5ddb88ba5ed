"""One outgoing peer-to-peer live migration job, watched until it ends.

The job itself runs inside libvirtd (peer-to-peer, managed): this process only starts it,
samples its statistics for progress, and reports the end. The end is taken from whichever
comes first of libvirt's JOB_COMPLETED event and the return of migrateToURI3; a failure only
shows as migrateToURI3 raising.
"""

import threading
import time

import libvirt
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

LIVE_FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
              | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)

# How long an abort keeps trying while migrateToURI3 has been called but libvirt has not
# yet begun the job (abortJob then answers "no job is active").
ABORT_START_TIMEOUT = 10.0


def abort_domain_job(dom):
    """virDomainAbortJob; False when there is no job to abort: none runs, or the domain has
    just left this host (the migration completed first)."""
    try:
        dom.abortJob()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_OPERATION_INVALID,
                                    libvirt.VIR_ERR_NO_DOMAIN):
            return False
        raise
    return True


def normalise_stats(raw):
    """libvirt's job statistics in the units the service stores: bytes, bytes/s, ms."""
    page_size = raw.get('memory_page_size') or 4096
    dirty_pages = raw.get('memory_dirty_rate')
    return {
        'memory_total': raw.get('memory_total'),
        'memory_processed': raw.get('memory_processed'),
        'memory_remaining': raw.get('memory_remaining'),
        'disk_total': raw.get('disk_total'),
        'disk_processed': raw.get('disk_processed'),
        'disk_remaining': raw.get('disk_remaining'),
        'data_total': raw.get('data_total'),
        'data_processed': raw.get('data_processed'),
        'data_remaining': raw.get('data_remaining'),
        'memory_bps': raw.get('memory_bps'),
        'disk_bps': raw.get('disk_bps'),
        'dirty_rate': dirty_pages * page_size if dirty_pages is not None else None,
        'iteration': raw.get('memory_iteration'),
        'downtime_ms': raw.get('downtime'),
        'elapsed_ms': raw.get('time_elapsed'),
    }


class LiveMigrationJob:
    def __init__(self, dom, dest_uri, flags, params, on_progress, on_done, interval):
        self.dom = dom
        self.uuid = dom.UUIDString()
        self.dest_uri = dest_uri
        self.flags = flags
        self.params = params
        self.on_progress = on_progress
        self.on_done = on_done
        self.interval = interval
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._reported = False
        self._last_stats = {}
        self._abort_requested = threading.Event()

    def start(self):
        threading.Thread(target=self._migrate, name=f'migrate-{self.uuid}', daemon=True).start()
        threading.Thread(target=self._monitor, name=f'monitor-{self.uuid}', daemon=True).start()

    # Called from the event loop thread.
    def job_completed(self, stats):
        self._finish(True, None, normalise_stats(stats))

    def abort(self):
        """Cancels the job; True once libvirt took the cancel, False if it had ended."""
        self._abort_requested.set()
        deadline = time.monotonic() + ABORT_START_TIMEOUT
        while not self._ended.is_set():
            if abort_domain_job(self.dom):
                return True
            if time.monotonic() > deadline:
                return False
            # migrateToURI3 was called but libvirt has no job yet: _migrate sees the flag
            # if it has not called it, else the job appears (or ends) in a moment.
            self._ended.wait(0.05)
        return False

    def _migrate(self):
        started = time.monotonic()
        if self._abort_requested.is_set():
            self._finish(False, 'migration aborted before the job started', {})
            return
        try:
            self.dom.migrateToURI3(self.dest_uri, self.params, self.flags)
        except libvirt.libvirtError as exc:
            LOG.warning('Migration of %s to %s failed: %s', self.uuid, self.dest_uri, exc)
            self._finish(False, str(exc), self._last_stats)
            return
        LOG.info('migrateToURI3 of %s returned after %.2fs', self.uuid,
                 time.monotonic() - started)
        self._finish(True, None, self._last_stats)

    def _monitor(self):
        while not self._ended.wait(self.interval):
            try:
                raw = self.dom.jobStats(0)
            except libvirt.libvirtError:
                # The domain is gone from this host: the job just ended; the end is reported
                # by the event or the migrate thread.
                return
            if raw.get('type', libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
                continue
            stats = normalise_stats(raw)
            self._last_stats = stats
            if not self._ended.is_set():
                self.on_progress(stats)

    def _finish(self, success, error, stats):
        with self._lock:
            if self._reported:
                return
            self._reported = True
        self._ended.set()
        self.on_done({'success': success, 'error': error, 'stats': stats or {}})
