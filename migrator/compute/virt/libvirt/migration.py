"""One outgoing peer-to-peer live migration job, watched and steered until it ends.

The job itself runs inside libvirtd (peer-to-peer, managed): this process starts it, samples
its statistics for progress, applies the convergence controls the conductor settled (see
migrator.common.convergence), and reports the end. The end is taken from whichever comes
first of libvirt's JOB_COMPLETED event and the return of migrateToURI3; a failure only shows
as migrateToURI3 raising.

Controls:
- bandwidth cap, auto-converge and post-copy-permitted are set when the job starts (a
  migrateToURI3 parameter and flags);
- the allowed downtime's lowest step is set before the job starts, and raised
  (migrateSetMaxDowntime) one step each time a memory iteration ends without the job
  converging; with one step (always so on TCG with QEMU < 9.0, see [libvirt]
  live_migration_downtime_stepping) nothing about the job changes while it runs. The
  iterations are taken from libvirt's MIGRATION_ITERATION event as they start (the progress
  samples only catch up with them): a step that comes one sample late keeps the guest in a
  pass QEMU could already have ended with the next downtime;
- the completion timeout is watched here, where the job runs: on `abort` the job is aborted
  (abortJob) and the end is reported as aborted by the timeout; on `force_complete` the job
  is forced as by an operator;
- force_complete() switches to post-copy when it is permitted, else pauses the guest so the
  last copy finishes. libvirt resumes the guest on the target at switchover (checked on this
  machine: RUNNING/MIGRATED there after a suspend on the source during the job); when the job
  fails instead, the guest we paused is resumed here on the source.

Surviving the agent and libvirtd (see job_record and connection):
- attach() takes over a job a previous agent process started: its record (migration id,
  conductor, controls, start time) comes from the domain's metadata, the elapsed time from
  libvirt, so the completion timeout counts from the job's real start; the downtime stepper
  resumes from the downtime the job has now. With no migrateToURI3 call of ours to return,
  the end is taken from JOB_COMPLETED, or from the monitor seeing the job gone: the domain
  gone from this host (or shut off as MIGRATED) is success, the domain still here a failure.
- when libvirtd goes away during the job, migrateToURI3 fails with the connection, which
  says nothing about the job: the end is not reported then, but by rebind() once the agent
  has a new connection and can see where the guest is (still here: failed; gone: left).
"""

import threading
import time

import libvirt
from oslo_log import log as logging

from migrator.common import convergence, exceptions
from migrator.compute.virt.libvirt import job_record, remote

LOG = logging.getLogger(__name__)

LIVE_FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
              | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)

# How long an abort keeps trying while migrateToURI3 has been called but libvirt has not
# yet begun the job (abortJob then answers "no job is active").
ABORT_START_TIMEOUT = 10.0


# Words of libvirt's and QEMU's errors when TLS credentials are missing or not trusted
# ("Unable to access credentials ...", "The certificate hasn't got a known issuer", ...).
_TLS_ERROR_WORDS = ('credentials', 'certificate', 'x509', 'tls', 'handshake')
# ... coming from QEMU (a QMP command libvirt ran, or the migration job QEMU runs).
_QEMU_SIDE_WORDS = ('qemu command', "job 'migration out'", "job 'migration in'")
NATIVE_TLS_HINT = (
    '[libvirt] live_migration_with_native_tls is on: both hosts need QEMU x509 credentials '
    '(ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem) in the '
    'directory of qemu.conf\'s migrate_tls_x509_cert_dir (else default_tls_x509_cert_dir, '
    'else /etc/pki/qemu), signed by one CA, the target\'s server certificate naming its '
    'migration address; or turn the option off')


def explain_failure(error, flags, dest_uri=None):
    """libvirt's reason for a failed job, with what to configure when TLS is the cause:
    QEMU's native TLS (its errors come back from a QEMU command or the migration job) or
    the peer-to-peer connection (a qemu+tls:// dest_uri)."""
    lower = error.lower()
    native = bool(flags & libvirt.VIR_MIGRATE_TLS) and any(w in lower for w in _TLS_ERROR_WORDS)
    if native and any(w in lower for w in _QEMU_SIDE_WORDS):
        return f'{error} ({NATIVE_TLS_HINT})'
    explained = remote.explain_connect_failure(dest_uri, error)
    if explained != error:
        return explained
    return f'{error} ({NATIVE_TLS_HINT})' if native else error


def domain_job_active(dom):
    """True while the domain has a job (an outgoing migration on a migration source); False
    when it has none or has just left this host."""
    try:
        return dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_OPERATION_INVALID,
                                    libvirt.VIR_ERR_NO_DOMAIN):
            return False
        raise


def connection_alive(dom):
    try:
        return bool(dom.connect().isAlive())
    except libvirt.libvirtError:
        return False


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
FORCED_POST_COPY = 'post_copy'
FORCED_PAUSE = 'paused'


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
        # While the job runs this is QEMU's expected downtime; once it ended, the real one.
        'downtime_ms': raw.get('downtime'),
        'elapsed_ms': raw.get('time_elapsed'),
        'auto_converge_throttle': raw.get('auto_converge_throttle'),
    }


def flags_and_params(controls, flags, params):
    """The migrateToURI3 flags and parameters with the start-time controls applied."""
    params = dict(params)
    if controls.get('bandwidth_mib'):
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = int(controls['bandwidth_mib'])
    if controls.get('auto_converge'):
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    if controls.get('post_copy'):
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    return flags, params


class DowntimeStepper:
    """Which allowed downtime the job should have now, from the iterations seen so far."""

    def __init__(self, max_downtime_ms, steps):
        self.steps = convergence.downtime_steps(max_downtime_ms, steps)
        self.index = 0
        self._iteration = None
        self.preset = False         # the first step was set before the job started

    @property
    def current(self):
        return self.steps[self.index]

    def observe(self, iteration):
        """The downtime to set after seeing `iteration`, or None when it stays as it is.

        The first observation asks for the lowest step; after that, each iteration that
        began since the last observation means one that ended without converging: one step
        up for each, until the last.
        """
        if iteration is None:
            return None
        if self._iteration is None:
            self._iteration = iteration
            return None if self.preset else self.current
        if iteration <= self._iteration:
            return None
        missed = iteration - self._iteration
        self._iteration = iteration
        if self.index + 1 >= len(self.steps):
            return None
        self.index = min(len(self.steps) - 1, self.index + missed)
        return self.current


class LiveMigrationJob:
    def __init__(self, dom, dest_uri, flags, params, on_progress, on_done, interval,
                 controls=None, data_bytes=None, record=None):
        self.dom = dom
        self.record = record          # job_record: written into the domain before the job
        self.uuid = dom.UUIDString()
        self.dest_uri = dest_uri
        self.controls = dict(controls or {})
        self.flags, self.params = flags_and_params(self.controls, flags, params)
        self.on_progress = on_progress
        self.on_done = on_done
        self.interval = interval
        self.stepper = None
        if self.controls.get('max_downtime_ms'):
            self.stepper = DowntimeStepper(self.controls['max_downtime_ms'],
                                           self.controls.get('downtime_steps') or 1)
        self.timeout = convergence.completion_timeout(
            self.controls.get('completion_timeout_per_gib'), data_bytes)
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._step_lock = threading.Lock()
        self._reported = False
        self._last_stats = {}
        self._abort_requested = threading.Event()
        self._started = None
        self._timed_out = False
        self._aborted_reason = None
        self.forced = None            # FORCED_POST_COPY or FORCED_PAUSE once forced
        self.forced_by = None
        self.post_copy = False
        self.attached = False         # took over a job another agent process started
        self._monitor_generation = 0

    def start(self):
        if self.record is not None:
            try:
                job_record.write(self.dom, self.record)
            except libvirt.libvirtError as exc:
                # The job still runs; only an agent restart during it could not re-attach.
                LOG.warning('Migration of %s: could not record the job in the domain (%s); '
                            'an agent restart during it will not re-attach', self.uuid, exc)
        self._started = time.monotonic()
        threading.Thread(target=self._migrate, name=f'migrate-{self.uuid}', daemon=True).start()
        self._start_monitor()

    @classmethod
    def attach(cls, dom, record, raw_stats, on_progress, on_done, interval):
        """A job found running in libvirtd that an earlier agent process started."""
        controls = record.get('controls') or {}
        job = cls(dom, record.get('dest_uri'), record.get('flags') or 0, {}, on_progress,
                  on_done, interval, controls=controls, data_bytes=record.get('data_bytes'),
                  record=record)
        job.attached = True
        elapsed = (raw_stats.get('time_elapsed') or 0) / 1000.0
        job._started = time.monotonic() - elapsed
        job._resume_controls()
        LOG.info('Migration %s of %s: re-attached to its libvirt job (running %.1fs)',
                 record.get('migration_id'), job.uuid, elapsed)
        job._start_monitor()
        return job

    def _resume_controls(self):
        """What the previous agent had done to the job, read back from libvirt."""
        if self.stepper is not None:
            try:
                now = self.dom.migrateGetMaxDowntime(0)
            except libvirt.libvirtError:
                now = None
            if now:
                self.stepper.index = max(
                    [i for i, step in enumerate(self.stepper.steps) if step <= now] or [0])
        try:
            state, reason = self.dom.state()
        except libvirt.libvirtError:
            return
        if state == libvirt.VIR_DOMAIN_PAUSED and reason == libvirt.VIR_DOMAIN_PAUSED_POSTCOPY:
            self.forced, self.forced_by, self.post_copy = FORCED_POST_COPY, 'requested', True
        elif state == libvirt.VIR_DOMAIN_PAUSED and reason == libvirt.VIR_DOMAIN_PAUSED_USER:
            self.forced, self.forced_by = FORCED_PAUSE, 'requested'

    def rebind(self, dom):
        """libvirtd is back (a new connection): dom is the domain on it, None when it is not
        on this host any more. Settles the job's end, or watches it again if it still runs."""
        if self._ended.is_set():
            return
        if dom is None:
            LOG.info('Migration of %s: the domain left this host while libvirtd was away',
                     self.uuid)
            self._finish(True, None, self._last_stats)
            return
        self.dom = dom
        if domain_job_active(dom):
            self.attached = True
            self._start_monitor()
            return
        self._settle('libvirtd stopped during the job')

    # Called from the event dispatch thread.
    def job_completed(self, stats):
        self._finish(True, None, normalise_stats(stats))

    def iteration_started(self, iteration):
        """libvirt's MIGRATION_ITERATION event: the downtime steps at once."""
        if not self._ended.is_set():
            self._step_downtime(iteration)

    # -- forcing ----------------------------------------------------------------------------

    def force_complete(self, reason='requested'):
        """Make the job finish: post-copy when permitted, else pause the guest.

        Returns what was done (FORCED_POST_COPY or FORCED_PAUSE); asking again returns the
        same without doing anything twice.
        """
        with self._lock:
            if self._ended.is_set():
                raise exceptions.Conflict(f'the migration job of {self.uuid} already ended')
            if self.forced is not None:
                return self.forced
            self.forced_by = reason
            self.forced = FORCED_POST_COPY if self.controls.get('post_copy') else FORCED_PAUSE
        try:
            if self.forced == FORCED_POST_COPY:
                LOG.info('Migration of %s: switching to post-copy (%s)', self.uuid, reason)
                self.dom.migrateStartPostCopy(0)
                self.post_copy = True
            else:
                LOG.info('Migration of %s: pausing the guest so the job finishes (%s)',
                         self.uuid, reason)
                self.dom.suspend()
        except libvirt.libvirtError:
            with self._lock:
                self.forced = self.forced_by = None    # not forced: may be asked again
            raise
        return self.forced

    def abort(self, reason=None):
        """Cancels the job; True once libvirt took the cancel, False if it had ended.

        A reason given here (the completion timeout) is reported as the job's `aborted`.
        """
        with self._lock:
            if self._ended.is_set():
                return False
            if reason is not None:
                self._aborted_reason = reason
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

    # -- threads ----------------------------------------------------------------------------

    def _migrate(self):
        if self._abort_requested.is_set():
            self._finish(False, 'migration aborted before the job started', {})
            return
        dom = self.dom
        self._preset_downtime(dom)
        try:
            dom.migrateToURI3(self.dest_uri, self.params, self.flags)
        except libvirt.libvirtError as exc:
            if not connection_alive(dom):
                # libvirtd went away: the call failed, not necessarily the job. The end is
                # settled by rebind() on the next connection.
                LOG.warning('Migration of %s: lost libvirtd during the job (%s); its end '
                            'is settled once the agent reconnects', self.uuid, exc)
                return
            LOG.warning('Migration of %s to %s failed: %s', self.uuid, self.dest_uri, exc)
            self._finish(False, explain_failure(str(exc), self.flags, self.dest_uri),
                         self._last_stats)
            return
        LOG.info('migrateToURI3 of %s returned after %.2fs', self.uuid,
                 time.monotonic() - self._started)
        self._finish(True, None, self._last_stats)

    def _preset_downtime(self, dom):
        """The first allowed downtime, set before the job exists: with one step (see
        [libvirt] live_migration_downtime_stepping) the job's parameters then never change
        while it runs. Where libvirt refuses, the first iteration sets it as before."""
        if self.stepper is None:
            return
        with self._step_lock:
            try:
                dom.migrateSetMaxDowntime(self.stepper.current, 0)
                self.stepper.preset = True
            except libvirt.libvirtError as exc:
                LOG.info('Migration of %s: the downtime limit could not be set before the '
                         'job (%s); it is set at the first iteration', self.uuid, exc)

    def _start_monitor(self):
        with self._lock:
            self._monitor_generation += 1
            generation = self._monitor_generation
        threading.Thread(target=self._monitor, args=(generation,),
                         name=f'monitor-{self.uuid}', daemon=True).start()

    def _monitor(self, generation):
        while not self._ended.wait(self.interval):
            if generation != self._monitor_generation:
                return
            dom = self.dom
            try:
                raw = dom.jobStats(0)
            except libvirt.libvirtError:
                # The domain is gone from this host: the job just ended; the end is reported
                # by the event or the migrate thread -- or, for a job we attached to, here.
                # A lost connection: rebind() takes over.
                if self.attached and connection_alive(dom):
                    self._settle()
                return
            if self.attached and raw.get('type', libvirt.VIR_DOMAIN_JOB_NONE) == \
                    libvirt.VIR_DOMAIN_JOB_NONE:
                self._settle()
                return
            try:
                self._sample(raw)
            except Exception:
                # This thread enforces the timeout and steps the downtime: it must outlive
                # one bad sample (a bus hiccup on the progress cast, an odd statistic).
                LOG.exception('Migration of %s: a progress sample failed; carrying on',
                              self.uuid)

    def _sample(self, raw):
        if raw.get('type', libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
            return
        stats = normalise_stats(raw)
        if not stats['memory_total'] and not stats['data_total']:
            # Before the first pass starts and while a cancelled job winds down, QEMU reports
            # a job without figures: nothing to show, and zeros would overwrite the real ones.
            return
        self._step_downtime(stats['iteration'])
        self._check_timeout()
        stats.update(self._control_stats())
        self._last_stats = stats
        if not self._ended.is_set():
            self.on_progress(stats)

    def _step_downtime(self, iteration):
        if self.stepper is None or not iteration:
            return
        # The event and the progress sample both step it; one of them at a time.
        with self._step_lock:
            downtime = self.stepper.observe(iteration)
            if downtime is None:
                return
            try:
                self.dom.migrateSetMaxDowntime(downtime, 0)
                LOG.info('Migration of %s: iteration %s, allowed downtime now %d ms',
                         self.uuid, iteration, downtime)
            except libvirt.libvirtError as exc:
                LOG.warning('Migration of %s: could not set the downtime to %d ms: %s',
                            self.uuid, downtime, exc)

    def _check_timeout(self):
        if self.timeout is None or self._timed_out:
            return
        elapsed = time.monotonic() - self._started
        if elapsed < self.timeout:
            return
        self._timed_out = True
        per_gib = self.controls.get('completion_timeout_per_gib')
        reason = (f'completion timeout hit: the job ran {elapsed:.0f} s, more than '
                  f'{self.timeout:.0f} s ({per_gib} s per GiB)')
        action = self.controls.get('timeout_action') or 'abort'
        LOG.warning('Migration of %s: %s; action %s', self.uuid, reason, action)
        try:
            if action == 'force_complete':
                self.force_complete(reason)
            else:
                self.abort(reason)
        except (libvirt.libvirtError, exceptions.MigratorException) as exc:
            LOG.warning('Migration of %s: %s failed: %s', self.uuid, action, exc)

    def _control_stats(self):
        return {
            'downtime_limit_ms': self.stepper.current if self.stepper else None,
            'post_copy': self.post_copy,
            'forced': self.forced,
            'forced_by': self.forced_by,
        }

    def _settle(self, error=None):
        """The job is over and no migrateToURI3 of ours says how: ask the domain."""
        try:
            state, reason = self.dom.state()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                self._finish(True, None, self._last_stats)   # it left this host
            elif connection_alive(self.dom):
                self._finish(False, f'cannot tell how the job ended: {exc}', self._last_stats)
            return
        if state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_MIGRATED:
            self._finish(True, None, self._last_stats)
            return
        why = None
        try:
            why = self.dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED).get('errmsg')
        except libvirt.libvirtError:
            pass
        self._finish(False, '; '.join(w for w in (error, why) if w)
                     or 'the migration job ended with the guest still on this host',
                     self._last_stats)

    def _finish(self, success, error, stats):
        with self._lock:
            if self._reported:
                return
            self._reported = True
            self._ended.set()
        if not success and self.record is not None:
            # The domain stays here: a later agent must not take its record for a job.
            job_record.clear(self.dom)
        if not success and self.forced == FORCED_PAUSE:
            self._resume_source()
        outcome = {'success': success, 'error': error,
                   'stats': {**(stats or {}), **self._control_stats()},
                   'post_copy': self.post_copy, 'forced': self.forced,
                   'forced_by': self.forced_by, 'aborted': None}
        if not success and self._aborted_reason:
            outcome['aborted'] = self._aborted_reason
            outcome['error'] = self._aborted_reason
        self.on_done(outcome)

    def _resume_source(self):
        """The job failed after we paused the guest for it: it runs on here, so resume it."""
        try:
            state, _reason = self.dom.state()
            if state == libvirt.VIR_DOMAIN_PAUSED:
                self.dom.resume()
                LOG.info('Migration of %s failed; resumed the guest paused for it', self.uuid)
        except libvirt.libvirtError as exc:
            LOG.warning('Migration of %s failed; could not resume the guest paused for it: '
                        '%s', self.uuid, exc)
