"""/healthcheck: 200 while the database and the bus answer, 503 naming the one that does
not (the functional test stops a real PostgreSQL)."""

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from migrator.api import app as api_app
from migrator.api import health
from tests.unit.api import fakes

CONF = cfg.CONF


@pytest.fixture(autouse=True)
def in_process_bus(monkeypatch):
    """An in-process bus (always there) unless a test names a broker; no cached answers."""
    monkeypatch.setattr(health, 'CACHE_SECONDS', 0)
    import oslo_messaging as messaging
    messaging.TransportURL.parse(CONF)  # registers [DEFAULT] transport_url
    CONF.set_override('transport_url', 'fake://')
    yield
    CONF.clear_override('transport_url')


def test_healthy(client):
    resp = client.get('/healthcheck')
    assert resp.status_int == 200, resp.text
    assert 'OK' in resp.text


def test_database_down_is_503(db, conductor, monkeypatch):
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))

    def refused(*args, **kwargs):
        raise sa.exc.OperationalError('SELECT 1', {}, Exception('connection refused'))
    monkeypatch.setattr(db.engine, 'connect', refused)
    resp = client.get('/healthcheck')
    assert resp.status_int == 503
    assert 'database unreachable' in resp.text
    resp = client.get('/healthcheck', headers={'Accept': 'application/json'})
    assert resp.status_int == 503


def test_broker_down_is_503(client):
    # Nothing listens on port 1 of the loopback: the connection is refused at once.
    CONF.set_override('transport_url', 'rabbit://guest:guest@127.0.0.1:1/')
    resp = client.get('/healthcheck')
    assert resp.status_int == 503
    assert 'message bus unreachable' in resp.text


def test_healthcheck_is_outside_the_microversioned_api(client):
    resp = client.get('/healthcheck', headers={'OpenStack-API-Version': 'migration 9.9'})
    assert resp.status_int == 200


def test_api_request_while_the_database_is_down_is_503(db, conductor, monkeypatch):
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))

    def refused(*args, **kwargs):
        raise sa.exc.OperationalError('SELECT', {}, Exception('connection refused'))
    monkeypatch.setattr(db.engine, 'connect', refused)
    monkeypatch.setattr(db.engine, 'begin', refused)
    fakes.assert_error(client.get('/v1/hosts'), 503, 'database is not reachable')
