"""The agents' reports as the conductor writes them: in full only when something changed.

Most reports change nothing: the same inventory, the same guests, only a newer time. Written
in full, each rewrote the host row and every guest's row and settled the host's claims (5.3
rows and ~10 statements per report at 1,000 agents), and 64 RPC threads doing that against a
pool of 15 DB connections made reports fail with "QueuePool limit reached" under load.

So this conductor remembers, per host, a digest of the last report it wrote in full and the
host row's `updated_at` after that write (the stamp). A report with the same digest is only a
heartbeat: it is queued, and the queued heartbeats of all hosts are written every
[conductor] heartbeat_flush_interval seconds in one transaction (Database.host_heartbeats),
each one a compare-and-swap on the stamp. The stamp is what keeps this correct with several
conductors and anything else that writes a host row: if another conductor applied a report
of that host, or a claim, a status change or a down mark touched it, the row's updated_at
moved, the swap misses, and the report is written in full after all. A host that some
migration's claim targets is always written in full (a report settles claims). A conductor
that restarts, or a database that was reset, has no matching stamp: the first report of each
host is written in full. Only a report the DB took in full is stamped: when the instance
sync left a guest out (incoming, held by a migration elsewhere, newer elsewhere) or the
report was older than one applied already, the same report again is written in full, since
the DB does not hold what it says (a heartbeat would keep the DB's older word on those
guests). No RPC changes: the agents, old or new, send what they always sent.

Also every [conductor] report_full_write_interval seconds (each host at a random point of
the second half of it) a host's report is written in full whatever its digest, so that
nothing the digest does not see (a guest row changed by hand) stays wrong for longer than
that.

Full writes run at most [conductor] report_db_workers at a time, below the DB pool size: the
other RPC threads wait for a turn instead of for a connection (which timed out after 30 s).
"""

import datetime
import hashlib
import json
import random
import threading
import time

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


class _Written:
    """What this conductor last wrote for a host: the report's digest, the row after the
    write (its updated_at is the stamp a heartbeat swaps on), the instance sync's answer
    (when it wrote the guests' rows, how many the host has), when it was written in full."""

    __slots__ = ('digest', 'row', 'synced', 'full_due')

    def __init__(self, digest_, row, synced):
        self.digest = digest_
        self.row = row
        self.synced = synced
        # Spread over the second half of the interval: hosts first written together (a
        # conductor start, a slow catch-up) do not all fall due for a full write at once.
        self.full_due = time.monotonic() + (CONF.conductor.report_full_write_interval
                                            * random.uniform(0.5, 1.0))


class _Pending:
    __slots__ = ('digest', 'inventory', 'domains', 'reported_at')

    def __init__(self, digest_, inventory, domains, reported_at):
        self.digest = digest_
        self.inventory = inventory
        self.domains = domains
        self.reported_at = reported_at


class ReportWriter:
    def __init__(self, db, cache):
        self.db = db
        self.cache = cache     # the scheduler's HostStateCache
        self._lock = threading.Lock()
        self._written = {}     # host -> _Written
        self._pending = {}     # host -> _Pending: heartbeats waiting for the next flush
        self._down = {}        # host -> when its agent said it lost the hypervisor
        self._full_slots = threading.BoundedSemaphore(CONF.conductor.report_db_workers)
        self._stopping = threading.Event()
        self._flusher = None
        self.full_writes = 0   # counters for tests and the benchmark's log
        self.heartbeats = 0

    # -- life cycle -------------------------------------------------------------------------

    def start(self):
        self._stopping.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name='report-flusher',
                                         daemon=True)
        self._flusher.start()

    def stop(self):
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
            self._flusher = None
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
            written = self._written.get(host)
            if (written is not None and written.digest == dig
                    and time.monotonic() < written.full_due):
                queued = self._pending.get(host)
                if queued is None or queued.reported_at < reported_at:
                    self._pending[host] = _Pending(dig, inventory, domains, reported_at)
                batched = self._flusher is not None
            else:
                batched = None
        if batched is None:
            self.write_full(host, inventory, domains, reported_at, dig)
        elif not batched:
            # No flusher (unit tests drive the manager without start()): at once.
            self.flush()

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
            self._written.pop(host, None)

    def write_full(self, host, inventory, domains, reported_at, dig=None):
        """The report applied to the host row, its claims and its guests' rows."""
        dig = dig if dig is not None else digest(inventory, domains)
        with self._full_slots:
            row = self.db.host_report(host, inventory, reported_at,
                                      [d['uuid'] for d in domains if d.get('active')])
            self.cache.update(row)
            synced = self.db.instance_sync_host(host, domains, reported_at)
        self.full_writes += 1
        with self._lock:
            if row.get('usage_reported_at') == _naive(reported_at) and synced['complete']:
                self._written[host] = _Written(dig, row, synced)
            else:
                # A newer report was applied (by another thread or conductor): not ours to
                # stamp. Or the DB does not hold all this report says (a guest incoming or
                # held by a migration elsewhere, or newer elsewhere): the same report again
                # is not "nothing changed" but must be written again, until the DB agrees.
                self._written.pop(host, None)

    def flush(self):
        """Writes the queued heartbeats; the reports whose swap missed are written in full.
        Returns how many hosts were heartbeated."""
        with self._lock:
            pending, self._pending = self._pending, {}
            beats, full = [], []
            for host, report in pending.items():
                written = self._written.get(host)
                if written is not None and written.digest == report.digest:
                    beats.append((host, written.row['updated_at'], report.reported_at,
                                  written.synced['synced_at'], written.synced['count']))
                else:
                    full.append((host, report))
        now, done = self.db.host_heartbeats(beats) if beats else (utcnow(), set())
        for host, _stamp, reported_at, _synced, _count in beats:
            report = pending[host]
            if host not in done:
                full.append((host, report))
                continue
            with self._lock:
                written = self._written.get(host)
                if written is None or written.digest != report.digest:
                    continue
                written.row = {**written.row, 'last_heartbeat': now, 'updated_at': now,
                               'usage_reported_at': _naive(reported_at)}
                row = written.row
            self.cache.update(row)
        self.heartbeats += len(done)
        for host, report in full:
            try:
                self.write_full(host, report.inventory, report.domains, report.reported_at,
                                report.digest)
            except Exception:
                LOG.exception('The report of %s failed; its next one is written in full',
                              host)
                with self._lock:
                    self._written.pop(host, None)
        return len(done)


def _naive(moment):
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment
