"""The agents' reports as the conductor writes them: in full only when something changed.

Most reports change nothing: the same inventory, the same guests, only a newer time. Written
in full, each rewrote the host row and every guest's row and settled the host's claims (5
rows and 9 statements per report), and 64 RPC threads doing that against a pool of 15 DB
connections made reports fail with "QueuePool limit reached" under load.

So the host's row says what the DB holds of its reports: the digest of the report last
written in full (hosts.report_digest; stored by the instance sync only when the DB took the
whole report and it is still the newest applied), when its guests' rows were written and how
many there were. A report with that digest is only a heartbeat, on whichever conductor it
lands: it is queued, and the queued heartbeats of all hosts are written every [conductor]
heartbeat_flush_interval seconds in one transaction (Database.host_heartbeats), each one a
compare-and-swap on the row: same digest, no newer report applied, no guest row of the host
changed and none came or went since, no claim of a migration targets the host (a report
settles claims). A swap that misses is written in full after all. A full write clears the
digest first, so while it is under way no heartbeat takes the old one for what the row says.

Before, each conductor remembered the digest of the reports it had written itself: after a
restart every host's first report, and with two conductors any report of a host whose
previous one the other conductor had written in full, was written in full (and each
conductor's full write made the other's next report of that host a full one). Now a
conductor keeps only a hint per host, the digest it last saw the DB hold: a report that
matches it is queued for the flush at once; one that does not (a change, or a host whose
reports went to another conductor, or this conductor new) is tried at once as a single
swap, and written in full only if that misses, so a change is seen as fast as before. No
RPC changes: the agents, old or new, send what they always sent.

Also every [conductor] report_full_write_interval seconds a host's report is written in full
whatever its digest (the swap requires the last full write to be younger than a point of
the second half of the interval fixed per host, so hosts first written together do not all
fall due together again), so that nothing the digest does not see (a row changed by hand)
stays wrong for longer than that. The due time is the row's, so two conductors do not each
force one.

Full writes run at most [conductor] report_db_workers at a time, below the DB pool size: the
other RPC threads wait for a turn instead of for a connection (which timed out after 30 s).
"""

import datetime
import hashlib
import json
import threading
import zlib

import futurist
from futurist import waiters
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common.timeutils import utcnow

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def digest(inventory, domains):
    """What a report says, apart from when: equal digests, equal reports."""
    body = [inventory, sorted(domains, key=lambda d: str(d.get('uuid')))]
    return hashlib.blake2b(json.dumps(body, sort_keys=True, separators=(',', ':'),
                                      default=str).encode(), digest_size=16).digest()


class _Pending:
    __slots__ = ('digest', 'inventory', 'domains', 'reported_at')

    def __init__(self, digest_, inventory, domains, reported_at):
        self.digest = digest_
        self.inventory = inventory
        self.domains = domains
        self.reported_at = reported_at


def _fresh_after(now, host):
    """The oldest full write a heartbeat of host may follow now: a point of the second half
    of report_full_write_interval back, fixed per host (by its name, so every conductor
    picks the same one) and spread evenly over the hosts: hosts first written together (a
    fleet's first start, a schema upgrade) do not all fall due together again. A point
    drawn again at every report made most hosts due early in the half (after about 0.63
    of the interval instead of 0.75 on average)."""
    spread = zlib.crc32(host.encode()) / 0xFFFFFFFF
    return now - datetime.timedelta(
        seconds=CONF.conductor.report_full_write_interval * (0.5 + 0.5 * spread))


class ReportWriter:
    def __init__(self, db, cache):
        self.db = db
        self.cache = cache     # the scheduler's HostStateCache
        self._lock = threading.Lock()
        self._held = {}        # host -> the digest this conductor last saw the DB hold
        self._pending = {}     # host -> _Pending: heartbeats waiting for the next flush
        self._down = {}        # host -> when its agent said it lost the hypervisor
        self._full_slots = threading.BoundedSemaphore(CONF.conductor.report_db_workers)
        self._stopping = threading.Event()
        self._flusher = None
        # The flush's misses, written in full by report_db_workers threads beside the
        # flusher: written by the flusher itself, one after the other (~10 ms each), the
        # forced full writes due at 10,000 agents (40-60 a second) and a warm-up's took
        # more than the flush interval and the heartbeats queued up behind them.
        self._missed = {}      # host -> _Pending: the newest missed report to write in full
        self._missed_pool = None
        self._submitted = []
        self.full_writes = 0   # counters for tests and the benchmark's log
        self.heartbeats = 0

    # -- life cycle -------------------------------------------------------------------------

    def start(self):
        self._stopping.clear()
        self._missed_pool = futurist.ThreadPoolExecutor(
            max_workers=CONF.conductor.report_db_workers)
        self._flusher = threading.Thread(target=self._flush_loop, name='report-flusher',
                                         daemon=True)
        self._flusher.start()

    def stop(self):
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
            self._flusher = None
        pool, self._missed_pool = self._missed_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.flush()

    def _flush_loop(self):
        while not self._stopping.wait(CONF.conductor.heartbeat_flush_interval):
            try:
                self.flush()
            except Exception:
                # The heartbeats of this flush are lost; the next reports bring new ones
                # well within the service down time.
                LOG.exception('Writing the queued heartbeats failed')

    # -- reports ----------------------------------------------------------------------------

    def handle(self, host, inventory, domains, reported_at):
        """One report (reported_at: an aware or naive UTC datetime)."""
        reported_at = _naive(reported_at)
        dig = digest(inventory, domains)
        with self._lock:
            down_at = self._down.get(host)
            if down_at is not None:
                if reported_at <= down_at:
                    return      # sent before the agent lost its hypervisor: says nothing
                del self._down[host]
            if CONF.conductor.report_full_write_interval == 0:
                route = 'full'
            elif self._held.get(host) == dig:
                queued = self._pending.get(host)
                if queued is None or queued.reported_at < reported_at:
                    self._pending[host] = _Pending(dig, inventory, domains, reported_at)
                # No flusher (unit tests drive the manager without start()): at once.
                route = 'queued' if self._flusher is not None else 'flush'
            else:
                route = 'try'
        if route == 'full':
            self.write_full(host, inventory, domains, reported_at, dig)
        elif route == 'flush':
            self.flush()
        elif route == 'try':
            # A change, or a host this conductor has not seen the DB hold this report of:
            # one swap tells whether the DB holds it already; a miss is written at once.
            if not self._heartbeat([(host, _Pending(dig, inventory, domains, reported_at))]):
                self.write_full(host, inventory, domains, reported_at, dig)

    def host_down(self, host, reported_at):
        """The host's agent lost its hypervisor at reported_at (the host is marked down):
        its reports from before, queued as heartbeats or still arriving, are dropped. Written
        after the mark, such a report missed the heartbeat's swap, went in full, and as a
        report older than the one applied it refreshed the host's heartbeat: the host read
        up again while libvirtd was away."""
        reported_at = _naive(reported_at)
        with self._lock:
            self._down[host] = max(reported_at, self._down.get(host, reported_at))
            queued = self._pending.get(host)
            if queued is not None and queued.reported_at <= reported_at:
                del self._pending[host]
            self._held.pop(host, None)

    def write_full(self, host, inventory, domains, reported_at, dig=None):
        """The report applied to the host row, its claims and its guests' rows."""
        dig = dig if dig is not None else digest(inventory, domains)
        with self._full_slots:
            row = self.db.host_report(
                host, inventory, reported_at, [d['uuid'] for d in domains if d.get('active')],
                alive_after=utcnow() - datetime.timedelta(
                    seconds=CONF.conductor.service_down_time))
            self.cache.update(row)
            synced = self.db.instance_sync_host(host, domains, reported_at, dig.hex())
        self.full_writes += 1
        with self._lock:
            if synced.get('held'):
                self._held[host] = dig
            else:
                # A newer report was applied (by another thread or conductor), or the DB
                # does not hold all this report says (a guest incoming or held by a
                # migration elsewhere, or newer elsewhere): the same report again is not
                # "nothing changed" but must be written again, until the DB agrees.
                self._held.pop(host, None)

    def _heartbeat(self, reports):
        """The swaps of [(host, _Pending)] in one transaction; the set of hosts done."""
        now = utcnow()
        beats = [(host, report.digest.hex(), report.reported_at, _fresh_after(now, host))
                 for host, report in reports]
        when, done = self.db.host_heartbeats(beats, now)
        with self._lock:
            for host, report in reports:
                if host in done:
                    self._held[host] = report.digest
                elif self._held.get(host) == report.digest:
                    self._held.pop(host, None)
        for host in done:
            self.cache.heartbeat(host, when)
        self.heartbeats += len(done)
        return done

    def flush(self):
        """Writes the queued heartbeats; the reports whose swap missed are written in full.
        Returns how many hosts were heartbeated."""
        with self._lock:
            pending, self._pending = self._pending, {}
        done = self._heartbeat(list(pending.items())) if pending else set()
        pool = self._missed_pool
        submitted = []
        for host, report in pending.items():
            if host in done:
                continue
            if pool is None:
                self._write_missed(host, report)
                continue
            with self._lock:
                # One write per host waiting at a time; a newer miss replaces its report.
                queued = self._missed.get(host)
                self._missed[host] = (report if queued is None
                                      or queued.reported_at < report.reported_at else queued)
            if queued is None:
                submitted.append(pool.submit(self._write_next_missed, host))
        self._submitted = submitted
        return len(done)

    def wait_missed(self, timeout=30):
        """Until the full writes of the last flush's misses are done (tests)."""
        waiters.wait_for_all(self._submitted, timeout)

    def _write_next_missed(self, host):
        with self._lock:
            report = self._missed.pop(host, None)
        if report is not None:
            self._write_missed(host, report)

    def _write_missed(self, host, report):
        try:
            self.write_full(host, report.inventory, report.domains, report.reported_at,
                            report.digest)
        except Exception:
            LOG.exception('The report of %s failed; its next one is written in full', host)
            with self._lock:
                self._held.pop(host, None)


def _naive(moment):
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment
