"""Prometheus metrics of every migrator service (prometheus-client, the default registry).

Labels are bounded: migration type and status, RPC method, resource kind, host name (a
fleet's hosts); never a migration, instance or request id.

Counted where the work happens:
  migrator_migrations_total{type,status}               migrations that ended
  migrator_migration_duration_seconds{type}            histogram, started -> finished
  migrator_migration_downtime_seconds{type}            histogram, the guest's pause
  migrator_migration_transferred_bytes_total{type}     memory and disk bytes copied
  migrator_scheduler_decision_seconds{result}          histogram, one target choice
  migrator_rpc_errors_total{method,error}              RPC calls that failed, by method
  migrator_db_transition_conflicts_total{resource}     compare-and-swap transitions lost
  migrator_agent_last_report_timestamp_seconds{host}   an agent's last successful report
Read from the database when scraped (the API's /metrics; see migrator.api.cluster_metrics):
  migrator_migrations_in_flight{type}, migrator_migrations_queued{type},
  migrator_host_migrations{host,direction}, migrator_host_migration_slots{direction},
  migrator_host_heartbeat_age_seconds{host}

Counters that follow from the database (migrations ended, transition conflicts) are counted
by the process that recorded the change (install() observes the Database): summed over the
services' endpoints they give the cluster's figures.
"""

import functools
import time

import prometheus_client
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import figures, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

MIGRATIONS = prometheus_client.Counter(
    'migrator_migrations', 'Migrations that ended, by type and final status.',
    ['type', 'status'])
DURATION = prometheus_client.Histogram(
    'migrator_migration_duration_seconds',
    'Seconds from a migration\'s start (target chosen) to its end.', ['type'],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200))
DOWNTIME = prometheus_client.Histogram(
    'migrator_migration_downtime_seconds',
    'How long the guest was paused at the switch-over of a completed live migration.',
    ['type'], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
TRANSFERRED = prometheus_client.Counter(
    'migrator_migration_transferred_bytes',
    'Memory and disk bytes copied by migrations that ended.', ['type'])
SCHEDULER_DECISION = prometheus_client.Histogram(
    'migrator_scheduler_decision_seconds',
    'Seconds the scheduler took to choose a target (filters, weighers, claim).',
    ['result'], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                         2.5))
RPC_ERRORS = prometheus_client.Counter(
    'migrator_rpc_errors', 'RPC calls and casts that raised, by method and error class.',
    ['method', 'error'])
DB_CONFLICTS = prometheus_client.Counter(
    'migrator_db_transition_conflicts',
    'State transitions that lost their compare-and-swap (another actor moved the record '
    'first), by resource.', ['resource'])
AGENT_LAST_REPORT = prometheus_client.Gauge(
    'migrator_agent_last_report_timestamp_seconds',
    'Unix time of the agent\'s last report that reached the bus.', ['host'])


def observe_change(change):
    """The DB observer: counts ended migrations and lost compare-and-swaps."""
    if change.conflict:
        DB_CONFLICTS.labels(change.resource).inc()
        return
    record = change.record
    if change.resource != 'migration' or record is None:
        return
    status = record.get('status')
    if change.action != 'migration_transition' or status not in states.TERMINAL:
        return
    kind = record.get('type') or 'unknown'
    MIGRATIONS.labels(kind, status).inc()
    duration = figures.duration_seconds(record)
    if duration is not None:
        DURATION.labels(kind).observe(duration)
    moved = figures.bytes_transferred(record)
    if moved:
        TRANSFERRED.labels(kind).inc(moved)
    if status == states.COMPLETED and kind == 'live' and record.get('downtime_ms') is not None:
        DOWNTIME.labels(kind).observe(record['downtime_ms'] / 1000.0)


def install(db):
    if hasattr(db, 'add_observer'):  # test doubles of the DB may not observe
        db.add_observer(observe_change, key='metrics')


def timed(histogram):
    """Decorator: times each call into `histogram`, labelled with the result (ok, or the
    error's class: NoValidHost is a decision too)."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = 'ok'
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                result = type(exc).__name__
                raise
            finally:
                histogram.labels(result).observe(time.perf_counter() - start)
        return wrapper
    return decorate


class CountingRPCClient:
    """An oslo.messaging RPC client whose failed calls and casts are counted by method."""

    def __init__(self, client):
        self._client = client

    def prepare(self, *args, **kwargs):
        return CountingRPCClient(self._client.prepare(*args, **kwargs))

    def can_send_version(self, *args, **kwargs):
        return self._client.can_send_version(*args, **kwargs)

    def call(self, ctxt, method, **kwargs):
        try:
            return self._client.call(ctxt, method, **kwargs)
        except Exception as exc:
            RPC_ERRORS.labels(method, type(exc).__name__).inc()
            raise

    def cast(self, ctxt, method, **kwargs):
        try:
            return self._client.cast(ctxt, method, **kwargs)
        except Exception as exc:
            RPC_ERRORS.labels(method, type(exc).__name__).inc()
            raise

    def __getattr__(self, name):
        return getattr(self._client, name)


def wsgi_app():
    """/metrics of the process's registry, as a WSGI application."""
    return prometheus_client.make_wsgi_app()


class MetricsServer:
    """The metrics endpoint of a service without a web server of its own (conductor,
    agent): http://[metrics] host:port/metrics in a thread."""

    def __init__(self, port):
        self.port = port
        self.httpd = None

    def start(self):
        if not CONF.metrics.enabled or not self.port:
            return None
        try:
            self.httpd, _thread = prometheus_client.start_http_server(self.port,
                                                                     CONF.metrics.host)
        except OSError as exc:
            # Metrics are worth a log line, never the service itself.
            LOG.error('Metrics endpoint not started: cannot listen on %s:%s (%s); set '
                      '[metrics] host and the port', CONF.metrics.host, self.port, exc)
            return None
        LOG.info('Metrics at http://%s:%s/metrics', CONF.metrics.host, self.port)
        return self.httpd

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
