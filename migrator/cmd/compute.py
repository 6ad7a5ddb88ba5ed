"""migrator-compute: the agent of one hypervisor host."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from migrator import conf  # noqa: F401  (registers the options)
from migrator.common import exceptions, metrics, rpc, service
from migrator.compute import manager
from migrator.compute.virt.libvirt import driver as libvirt_driver

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def build(host=None, uri=None, virt_type=None, migration_uri=None, remote_tls_pki_path=None,
          tool_wrapper=None):
    """A compute agent for one host and its RPC service, neither started."""
    host = host or CONF.host
    driver = libvirt_driver.LibvirtDriver(uri=uri, virt_type=virt_type,
                                          migration_uri=migration_uri,
                                          remote_tls_pki_path=remote_tls_pki_path,
                                          tool_wrapper=tool_wrapper)
    agent = manager.ComputeManager(host, driver)
    return agent, service.RPCService(rpc.COMPUTE_TOPIC, host, agent)


def main(argv=None):
    service.prepare(argv if argv is not None else sys.argv, 'migrator compute agent')
    agent, rpc_service = build()
    metrics_server = metrics.MetricsServer(CONF.metrics.compute_port)
    metrics_server.start()
    # Listening before the first report: a conductor that sees the host up may call it at
    # once, and a call to a queue not declared yet is lost (the caller waits its timeout).
    rpc_service.start()
    try:
        agent.start()
    except exceptions.MigratorException as exc:
        LOG.error('%s', exc)
        rpc_service.stop()
        metrics_server.stop()
        rpc.cleanup()
        return 1
    try:
        service.wait_for_signal()
    finally:
        rpc_service.stop()
        agent.stop()
        metrics_server.stop()
        rpc.cleanup()
    return 0
