"""Running services: an RPC server per endpoint, started and stopped together, and the
process-level plumbing (config, logging, signals) every console script shares."""

import signal
import sys
import threading

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import rpc

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class RPCService:
    def __init__(self, topic, server, endpoint):
        self.topic = topic
        self.server_name = server
        self.endpoint = endpoint
        self.server = None

    def start(self):
        target = messaging.Target(topic=self.topic, server=self.server_name)
        self.server = rpc.get_server(target, [self.endpoint])
        self.server.start()
        LOG.info('Listening on %s.%s', self.topic, self.server_name)

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server.wait()
            self.server = None


def prepare(argv, description):
    """Parses config and sets up logging for a console script."""
    logging.register_options(CONF)
    CONF(argv[1:] if argv is not None else sys.argv[1:], project='migrator',
         description=description)
    check_upgrade_levels()
    logging.setup(CONF, 'migrator')
    # oslo.messaging and the AMQP library are chatty at INFO about every reconnect attempt.
    for noisy in ('oslo.messaging', 'oslo_messaging', 'amqp', 'kombu'):
        logging.getLogger(noisy).logger.setLevel('WARNING' if not CONF.debug else 'DEBUG')


def check_upgrade_levels():
    """A bad [upgrade_levels] pin stops the service at start, not at its first message."""
    try:
        for option in ('conductor', 'compute'):
            getattr(CONF.upgrade_levels, option)
    except (cfg.ConfigFileValueError, ValueError) as exc:
        sys.exit(f'Invalid [upgrade_levels] {option}: {exc}')


def wait_for_signal():
    """Blocks until SIGTERM or SIGINT."""
    stop = threading.Event()

    def handler(signum, frame):
        LOG.info('Signal %s received, stopping', signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop.wait(3600):
        pass
