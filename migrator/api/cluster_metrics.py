"""Gauges of the whole cluster, read from the database when /metrics is scraped (the API's,
or migrator-all's): what is in flight and queued, each host's migration slots, and how old
each agent's last heartbeat is. Read at scrape time rather than kept up to date, so they are
right whichever conductor changed what."""

import datetime

from oslo_config import cfg
from oslo_log import log as logging
from prometheus_client import registry
from prometheus_client.core import GaugeMetricFamily

from migrator.common import kinds, states
from migrator.common.timeutils import utcnow

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

_QUEUED = frozenset({states.ACCEPTED, states.QUEUED})


class ClusterCollector(registry.Collector):
    def __init__(self):
        self.db = None

    def collect(self):
        db = self.db
        if db is None:
            return []
        try:
            counts = db.migration_counts_unfinished()
            hosts = db.host_list()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail with the DB
            LOG.warning('Cluster metrics not read from the database: %s', exc)
            return []
        in_flight = GaugeMetricFamily(
            'migrator_migrations_in_flight',
            'Migrations taken by a conductor and not yet ended, by type.', labels=['type'])
        queued = GaugeMetricFamily(
            'migrator_migrations_queued',
            'Migrations waiting for a conductor or a free slot, by type.', labels=['type'])
        totals = {}
        for (kind, status), count in counts.items():
            key = ('queued' if status in _QUEUED else 'in_flight', kind)
            totals[key] = totals.get(key, 0) + count
        for kind in kinds.NAMES:
            in_flight.add_metric([kind], totals.get(('in_flight', kind), 0))
            queued.add_metric([kind], totals.get(('queued', kind), 0))
        slots = GaugeMetricFamily(
            'migrator_host_migrations',
            'Migration slots in use on each host, by direction (in: arriving, out: leaving).',
            labels=['host', 'direction'])
        limits = GaugeMetricFamily(
            'migrator_host_migration_slots',
            'Migration slots each host has, by direction ([scheduler] max_*_per_host).',
            labels=['direction'])
        limits.add_metric(['in'], CONF.scheduler.max_inbound_per_host)
        limits.add_metric(['out'], CONF.scheduler.max_outbound_per_host)
        age = GaugeMetricFamily(
            'migrator_host_heartbeat_age_seconds',
            'Seconds since each host\'s agent last reported.', labels=['host'])
        now = utcnow()
        for host in hosts:
            slots.add_metric([host['name'], 'in'], host.get('inbound_migrations') or 0)
            slots.add_metric([host['name'], 'out'], host.get('outbound_migrations') or 0)
            beat = host.get('last_heartbeat')
            if isinstance(beat, datetime.datetime):
                age.add_metric([host['name']], max(0.0, (now - beat).total_seconds()))
        return [in_flight, queued, slots, limits, age]


_COLLECTOR = ClusterCollector()


def register(db):
    """Reads the cluster gauges from `db` (the process's newest API's) from now on."""
    if _COLLECTOR.db is None:
        registry.REGISTRY.register(_COLLECTOR)
    _COLLECTOR.db = db
