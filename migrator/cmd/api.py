"""migrator-api: the REST API, served by waitress until SIGTERM or SIGINT."""

import signal
import sys

from oslo_config import cfg
from oslo_log import log as logging

from migrator import conf  # noqa: F401 - registers the options
from migrator.api import app as api_app
from migrator.api import auth, wsgi
from migrator.common import notifications, rpc, service
from migrator.db import api as db_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def check_schema(db):
    """None when the database is reachable and synced, else what is wrong and what to do."""
    try:
        current, head = db.version(), db.head()
    except Exception as exc:
        return f'cannot read the database ([database] connection): {exc}'
    if current != head:
        return (f'the database schema is at revision {current}, this migrator needs {head}: '
                'run `migrator-manage db sync` first')
    return None


def main(argv=None):
    """argv as sys.argv, program name first (like the other migrator services)."""
    service.prepare(argv if argv is not None else sys.argv, 'migrator REST API')
    logging.getLogger('alembic').logger.setLevel('WARNING' if not CONF.debug else 'DEBUG')

    problem = auth.check_listen(CONF.api.host_ip)
    if problem:
        LOG.error('migrator-api cannot start: %s', problem)
        return 1
    db = db_api.get_database()
    problem = check_schema(db)
    if problem:
        LOG.error('migrator-api cannot start: %s', problem)
        return 1
    try:
        app = api_app.setup_app(db=db)
    except auth.AuthConfigError as exc:
        LOG.error('migrator-api cannot start: %s', exc.message)
        return 1
    try:
        server = wsgi.build_server(app, CONF.api.host_ip, CONF.api.port, CONF.api.threads)
    except OSError as exc:
        LOG.error('migrator-api cannot listen on %s:%s: %s', CONF.api.host_ip, CONF.api.port,
                  exc)
        return 1

    def stop(signum, frame):
        LOG.info('migrator-api got %s, stopping', signal.Signals(signum).name)
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if CONF.auth_strategy == 'noauth':
        LOG.warning('migrator-api has no authentication (auth_strategy = noauth): anyone on '
                    'this machine who can reach %s can migrate every VM.', server.url)
    LOG.info('migrator-api serving on %s with %d threads, auth_strategy = %s', server.url,
             CONF.api.threads, CONF.auth_strategy)
    try:
        server.run()
    finally:
        notifications.reset()
        rpc.cleanup()
    LOG.info('migrator-api stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
