"""The API as a WSGI application for a WSGI server of the operator's choice (uWSGI,
mod_wsgi, gunicorn): `application` in this module.

    uwsgi --http-socket 127.0.0.1:9777 --module migrator.api.wsgi_app:application
    gunicorn --bind 127.0.0.1:9777 migrator.api.wsgi_app:application

The configuration is read from the file named by MIGRATOR_CONFIG_FILE, else from
/etc/migrator/migrator.conf when it exists. The application is built when the module is
imported: run the server so that each worker imports it (gunicorn does; uWSGI with
--lazy-apps), so each worker has its own database pool and message-bus client. A database
that is not reachable or not synced stops the import with a message that says what to do.
"""

import os

from oslo_config import cfg
from oslo_log import log as logging

from migrator import conf  # noqa: F401 - registers the options
from migrator.api import app as api_app

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

CONFIG_ENV = 'MIGRATOR_CONFIG_FILE'
DEFAULT_CONFIG_FILE = '/etc/migrator/migrator.conf'


def config_files(environ=os.environ):
    """The configuration files: MIGRATOR_CONFIG_FILE, else the default one if present."""
    named = environ.get(CONFIG_ENV)
    if named:
        if not os.path.isfile(named):
            raise RuntimeError(f'{CONFIG_ENV} names {named}, which is not a file')
        return [named]
    return [DEFAULT_CONFIG_FILE] if os.path.isfile(DEFAULT_CONFIG_FILE) else []


def init_application(environ=os.environ):
    """Parses the configuration, sets up logging, checks the database, builds the app."""
    from migrator.cmd import api as api_cmd
    from migrator.db import api as db_api

    logging.register_options(CONF)
    CONF([], project='migrator', prog='migrator-api', default_config_files=config_files(environ))
    logging.setup(CONF, 'migrator')
    db = db_api.get_database()
    problem = api_cmd.check_schema(db)
    if problem:
        LOG.error('migrator-api (WSGI) cannot start: %s', problem)
        raise RuntimeError(f'migrator-api cannot start: {problem}')
    LOG.info('migrator-api WSGI application ready (configuration: %s)',
             ', '.join(CONF.config_file) or 'defaults')
    return api_app.setup_app(db=db)


application = init_application()
