"""migrator-conductor: the brain; picks targets and drives the compute agents."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from migrator import conf  # noqa: F401  (registers the options)
from migrator.common import exceptions, metrics, notifications, rpc, service
from migrator.conductor import manager
from migrator.db import api as db_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def build(db=None):
    """The conductor's endpoint and its RPC service, not yet started."""
    db = db or db_api.get_database()
    # Notifications and metrics follow what the conductor records in the database.
    notifications.install(db)
    metrics.install(db)
    endpoint = manager.ConductorManager(db)
    return endpoint, service.RPCService(rpc.CONDUCTOR_TOPIC, CONF.host, endpoint)


def main(argv=None):
    service.prepare(argv if argv is not None else sys.argv, 'migrator conductor')
    endpoint, rpc_service = build()
    try:
        # Before listening: a second conductor under a live one's name must not take the
        # messages meant for it.
        endpoint.liveness.register()
    except exceptions.ConductorAlreadyRunning as exc:
        LOG.error('%s', exc)
        sys.stderr.write(f'migrator-conductor: {exc}\n')
        return 1
    metrics_server = metrics.MetricsServer(CONF.metrics.conductor_port)
    metrics_server.start()
    rpc_service.start()
    endpoint.start()
    try:
        service.wait_for_signal()
    finally:
        rpc_service.stop()
        endpoint.stop()
        metrics_server.stop()
        notifications.reset()
        rpc.cleanup()
    return 0
