"""The operator's endpoints beside the REST API: /healthcheck (health.py) and /metrics
(Prometheus). They sit outside the pecan application: no microversion, no JSON error
document, answered even when the API's own machinery is in trouble."""

from oslo_config import cfg

from migrator.api import health
from migrator.common import metrics

CONF = cfg.CONF

METRICS_PATH = '/metrics'


class OperationsEndpoints:
    def __init__(self, app, db):
        self.app = app
        self.healthcheck = health.build(db)
        self.metrics = metrics.wsgi_app() if CONF.metrics.enabled else None

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if path == health.PATH:
            return self.healthcheck(environ, start_response)
        if path == METRICS_PATH and self.metrics is not None:
            return self.metrics(environ, start_response)
        return self.app(environ, start_response)


def wrap(app, db):
    """The API with the operations endpoints; also installs the observers that send
    notifications and count metrics from what the API records."""
    from migrator.api import cluster_metrics
    from migrator.common import notifications
    notifications.install(db)
    metrics.install(db)
    cluster_metrics.register(db)
    return OperationsEndpoints(app, db)
