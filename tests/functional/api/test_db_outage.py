"""migrator-api over a PostgreSQL that goes away: every endpoint answers 503 with a message
(never a 500; a read answered just before may be served from the read cache until it
expires), and the API serves again once the database is back, without a restart. The
PostgreSQL is a private cluster of this test (never the shared one)."""

import psycopg2
import pytest
import requests

from migrator.db import api as db_api
from migrator.sandbox import faults
from tests.functional.service import processes

REQUESTS = [
    ('GET', '/v1/hosts', None), ('GET', '/v1/hosts/h1', None),
    ('GET', '/v1/instances', None), ('GET', '/v1/instances/vm1', None),
    ('GET', '/v1/migrations', None), ('GET', '/v1/migrations/m1', None),
    ('GET', '/v1/migrations/m1/samples', None), ('GET', '/v1/drains', None),
    ('GET', '/v1/drains/d1', None), ('GET', '/v1/plans', None), ('GET', '/v1/plans/p1', None),
    ('GET', '/v1/server-groups', None), ('GET', '/v1/server-groups/g1', None),
    ('GET', '/v1/hosts/h1/drain', None),
    ('POST', '/v1/migrations', {'instance': 'vm1'}),
    ('DELETE', '/v1/migrations/m1', None),
    ('POST', '/v1/migrations/m1/action', {'force_complete': None}),
    ('PUT', '/v1/hosts/h1', {'status': 'disabled'}),
    ('POST', '/v1/hosts/h1/drain', {}), ('DELETE', '/v1/hosts/h1/drain', None),
    ('POST', '/v1/hosts/h1/undrain', {}), ('DELETE', '/v1/drains/d1', None),
    ('POST', '/v1/plans/p1/apply', {}),
    ('POST', '/v1/server-groups', {'name': 'g', 'policy': 'affinity'}),
    ('DELETE', '/v1/server-groups/g1', None),
]


@pytest.fixture
def postgres():
    with faults.PrivatePostgres() as pg:
        yield pg


def _accepts(pg):
    try:
        psycopg2.connect(host='127.0.0.1', port=pg.port, user='postgres', dbname='postgres',
                         connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def test_database_outage_is_503_and_the_api_recovers(postgres, tmp_path):
    db = db_api.Database(postgres.url)
    db.sync()
    db.dispose()
    port = processes.free_port()
    config = processes.write_config(str(tmp_path / 'api.conf'), {
        'DEFAULT': {'transport_url': 'rabbit://guest:guest@127.0.0.1:5672/'},
        'database': {'connection': postgres.url},
        'api': {'port': port},
    })
    api = processes.ServiceProcess('migrator-api', config, str(tmp_path / 'api.log'))
    client = processes.ApiClient(f'http://127.0.0.1:{port}')
    try:
        processes.wait_until(client.answers, 60, 'migrator-api to answer')
        assert client.get('/v1/hosts').json() == {'hosts': []}

        postgres.stop_server()
        # A read answered just before the outage may come from the read cache for up to
        # [api] read_cache_ttl (1 s) more; then the database's absence shows.
        processes.wait_until(lambda: client.get('/v1/hosts').status_code == 503, 30,
                             'GET /v1/hosts to answer 503 once its cached answer expired')
        for method, path, body in REQUESTS:
            resp = requests.request(method, client.url + path, json=body, timeout=60,
                                    headers={'Content-Type': 'application/json'})
            assert resp.status_code == 503, (method, path, resp.text)
            assert 'database' in resp.json()['error']['message'], resp.text
        assert api.proc.poll() is None

        postgres.start()
        processes.wait_until(lambda: _accepts(postgres), 60, 'the private PostgreSQL to accept')
        resp = client.get('/v1/hosts')
        assert resp.status_code == 200, resp.text
        created = client.post('/v1/server-groups', {'name': 'back', 'policy': 'affinity'})
        assert created.status_code == 201, created.text
        assert 'Unexpected error' not in api.log()
    finally:
        api.stop()


pytestmark = pytest.mark.functional
