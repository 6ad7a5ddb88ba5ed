"""/healthcheck: oslo.middleware's healthcheck application with migrator's readiness
backends (entry points in the oslo.middleware.healthcheck namespace):

  migrator_database     the database answers a query
  migrator_message_bus  the broker of [DEFAULT] transport_url accepts a connection

[healthcheck] backends chooses them (both by default); 200 when every backend passes, 503
naming the failing one otherwise ([healthcheck] detailed shows more). A probe's result is
kept for CACHE_SECONDS, so a load balancer polling often costs one query and one broker
connection per interval, not one per request.
"""

import threading
import time

import sqlalchemy as sa
from oslo_config import cfg
from oslo_log import log as logging
from oslo_middleware import healthcheck
from oslo_middleware.healthcheck import opts as healthcheck_opts
from oslo_middleware.healthcheck import pluginbase

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

PATH = '/healthcheck'
DEFAULT_BACKENDS = ['migrator_database', 'migrator_message_bus']
# Seconds a probe's answer is reused; short, so a failure shows within a poll or two.
CACHE_SECONDS = 2.0
# Seconds a probe may take before it counts as failed.
PROBE_TIMEOUT = 5

# The Database of the API being checked, given by build(); a plugin instance has only the
# configuration (stevedore makes it).
_state = {'db': None}


class _Cached(pluginbase.HealthcheckBaseExtension):
    name = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._result = None
        self._at = 0.0

    def healthcheck(self, server_port):
        with self._lock:
            if self._result is None or time.monotonic() - self._at > CACHE_SECONDS:
                try:
                    self.probe()
                    self._result = pluginbase.HealthcheckResult(
                        available=True, reason='OK')
                except Exception as exc:  # noqa: BLE001 - any failure means not ready
                    LOG.warning('Health check %s failed: %s', self.name, exc)
                    self._result = pluginbase.HealthcheckResult(
                        available=False, reason=f'{self.name} unreachable',
                        details=str(exc))
                self._at = time.monotonic()
            return self._result

    def probe(self):
        raise NotImplementedError


class DatabaseHealthcheck(_Cached):
    """The database answers SELECT 1."""

    name = 'database'

    def probe(self):
        db = _state['db']
        if db is None:
            from migrator.db import api as db_api
            db = db_api.get_database()
        with db.engine.connect() as conn:
            conn.execute(sa.text('SELECT 1'))


class MessageBusHealthcheck(_Cached):
    """The broker accepts an AMQP connection (login and virtual host included); an
    in-process bus (migrator-all's inproc://, fake://) is always there."""

    name = 'message bus'

    def probe(self):
        import kombu
        import oslo_messaging as messaging
        url = messaging.TransportURL.parse(CONF)  # [DEFAULT] transport_url
        if url.transport not in ('rabbit', 'amqp', 'kombu'):
            return
        hosts = url.hosts or [None]
        errors = []
        for host in hosts:
            params = {'hostname': getattr(host, 'hostname', None) or 'localhost',
                      'port': getattr(host, 'port', None) or 5672,
                      'userid': getattr(host, 'username', None) or 'guest',
                      'password': getattr(host, 'password', None) or 'guest',
                      'virtual_host': url.virtual_host or '/'}
            conn = kombu.Connection(transport='pyamqp', connect_timeout=PROBE_TIMEOUT,
                                    **params)
            try:
                conn.connect()
                return  # one broker of the cluster is enough
            except Exception as exc:  # noqa: BLE001 - tried on the next host
                errors.append(f"{params['hostname']}:{params['port']}: {exc}")
            finally:
                conn.release()
        raise ConnectionError('; '.join(errors))


def build(db=None):
    """The /healthcheck WSGI application (oslo.middleware's Healthcheck)."""
    _state['db'] = db
    CONF.register_opts(healthcheck_opts.HEALTHCHECK_OPTS, group='healthcheck')
    CONF.set_default('backends', DEFAULT_BACKENDS, group='healthcheck')
    return healthcheck.Healthcheck(_not_found, CONF)


def _not_found(environ, start_response):
    # Reached only when [healthcheck] allowed_source_ranges leaves the request out.
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'Not Found']
