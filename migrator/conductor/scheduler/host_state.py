"""The conductor's in-memory view of the hosts, so a decision never scans the DB.

How every conductor sees every report: the agents' reports are cast to the conductor topic,
so only one conductor receives each; it writes the row (updating `updated_at`) and its own
cache at once. The other conductors catch up from the DB: before a decision, a cache older
than [scheduler] host_cache_refresh_interval reads only the rows whose indexed `updated_at`
moved since its last refresh (a few rows per second at fleet scale, not the table). Claims
and slots also touch `updated_at`, so other conductors see them the same way. We chose this
over a fanout cast of the reports because it needs no change on the agents, costs one
indexed query per interval, and also carries claims, operator status changes and hosts a
conductor missed while it was down. Staleness never overcommits a host: the claim re-checks
the room in the DB and a lost race only makes the scheduler try the next host.
"""

import datetime
import json
import threading
import time

from oslo_config import cfg

from migrator.common.timeutils import utcnow
from migrator.conductor.scheduler import memory_index

CONF = cfg.CONF

# Rows written by conductors whose clocks run a little behind ours must still be read.
CLOCK_SKEW = datetime.timedelta(seconds=2)


class HostState:
    """One host as the scheduler sees it; the free_* figures already count claims and the
    allocation ratios, so the filters are single comparisons."""

    __slots__ = (
        'name', 'status', 'status_reason', 'last_heartbeat', 'reported_heartbeat', 'virt_type',
        'hypervisor_version', 'cpu_model', 'cpu_models', 'cpu_models_known', 'memory_mb',
        'memory_mb_used',
        'reserved_memory_mb', 'vcpus', 'vcpus_used', 'disk_gb', 'disk_gb_used',
        'claimed_memory_mb', 'claimed_vcpus', 'claimed_disk_gb', 'inbound_migrations',
        'outbound_migrations', 'free_memory_mb', 'free_vcpus', 'free_disk_gb', 'enabled',
        'migrations_in_flight',
        'updated_at',
        # Where the cache's FreeMemoryIndex keeps this host (None outside a cache).
        'index', 'position',
    )

    def __init__(self, row):
        self.index = None
        self.position = None
        self.update(row)

    def update(self, row):
        self.name = row['name']
        self.status = row.get('status') or 'enabled'
        self.status_reason = row.get('status_reason')
        self.reported_heartbeat = row.get('last_heartbeat')
        # Never None, so the filters compare without a check: no heartbeat is the oldest.
        self.last_heartbeat = self.reported_heartbeat or datetime.datetime.min
        self.virt_type = row.get('virt_type')
        self.hypervisor_version = row.get('hypervisor_version') or 0
        self.cpu_model = row.get('cpu_model')
        models = row.get('cpu_models')
        if isinstance(models, str):
            try:
                models = json.loads(models)
            except ValueError:
                models = None
        self.cpu_models_known = models is not None
        self.cpu_models = frozenset(models or ())
        for field in ('memory_mb', 'memory_mb_used', 'reserved_memory_mb', 'vcpus',
                      'vcpus_used', 'disk_gb', 'disk_gb_used', 'claimed_memory_mb',
                      'claimed_vcpus', 'claimed_disk_gb', 'inbound_migrations',
                      'outbound_migrations'):
            setattr(self, field, int(row.get(field) or 0))
        self.updated_at = row.get('updated_at')
        self.recompute()

    def recompute(self):
        sched = CONF.scheduler
        self.enabled = self.status == 'enabled'
        self.migrations_in_flight = self.inbound_migrations + self.outbound_migrations
        self.free_memory_mb = int(self.memory_mb * sched.ram_allocation_ratio
                                  - self.reserved_memory_mb - self.memory_mb_used
                                  - self.claimed_memory_mb)
        self.free_vcpus = int(self.vcpus * sched.cpu_allocation_ratio - self.vcpus_used
                              - self.claimed_vcpus)
        self.free_disk_gb = int(self.disk_gb * sched.disk_allocation_ratio
                                - CONF.compute.reserved_host_disk_gb - self.disk_gb_used
                                - self.claimed_disk_gb)
        if self.index is not None:
            self.index.moved(self)

    def add_claim(self, memory_mb, vcpus, disk_gb):
        """What our own claim in the DB did, so the next decision here sees it at once."""
        self.claimed_memory_mb += memory_mb
        self.claimed_vcpus += vcpus
        self.claimed_disk_gb += disk_gb
        self.inbound_migrations += 1
        self.recompute()

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__
                if name not in ('index', 'position')}


class HostStateCache:
    def __init__(self, db, refresh_interval=None):
        self.db = db
        self._interval = refresh_interval
        self._lock = threading.Lock()
        self._hosts = {}
        self._list = []
        self.index = memory_index.FreeMemoryIndex()
        self._last_refresh = None      # monotonic time of the last refresh
        self._since = None             # DB time the next refresh reads from

    @property
    def refresh_interval(self):
        if self._interval is not None:
            return self._interval
        return CONF.scheduler.host_cache_refresh_interval

    def load(self, rows):
        """Replace the whole cache (start-up, benchmarks)."""
        with self._lock:
            self._hosts = {r['name']: HostState(r) for r in rows}
            self._list = list(self._hosts.values())
            self.index = memory_index.FreeMemoryIndex(self._list)

    def update(self, row):
        """One host's row, as a report or a refresh read it."""
        with self._lock:
            state = self._hosts.get(row['name'])
            if state is None:
                state = self._hosts[row['name']] = HostState(row)
                self._list = list(self._hosts.values())
                self.index.add(state)
            else:
                state.update(row)
            return state

    def heartbeat(self, name, when):
        """A heartbeat of the host was written (last_heartbeat and updated_at set to
        when); a host not in the cache yet is read by the next refresh."""
        with self._lock:
            state = self._hosts.get(name)
            if state is not None:
                state.reported_heartbeat = state.last_heartbeat = state.updated_at = when

    def refresh(self):
        started = utcnow()
        rows = self.db.host_list_changed(self._since)
        for row in rows:
            self.update(row)
        self._since = started - CLOCK_SKEW
        self._last_refresh = time.monotonic()
        return len(rows)

    def refresh_if_stale(self):
        if (self._last_refresh is None
                or time.monotonic() - self._last_refresh >= self.refresh_interval):
            self.refresh()

    def refresh_host(self, name):
        """Re-read one host (a claim on it just failed: someone changed it)."""
        try:
            row = self.db.host_get(name)
        except Exception:  # noqa: BLE001 - a vanished host simply stays as it was
            return self._hosts.get(name)
        return self.update(row)

    def get(self, name):
        return self._hosts.get(name)

    def hosts(self):
        """Every host, as a list the caller must not change."""
        return self._list

    def __len__(self):
        return len(self._hosts)
