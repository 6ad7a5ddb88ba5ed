"""/healthcheck of a real migrator-api over the real RabbitMQ and a PostgreSQL cluster of
the test's own: 200 while both answer, 503 once the database is stopped, 200 again when it
is back."""

import os
import subprocess
import sys

import pytest
import requests

from migrator.sandbox import faults
from tests.functional.service import processes


@pytest.fixture
def postgres():
    with faults.PrivatePostgres() as pg:
        yield pg


def _status(url):
    try:
        return requests.get(url, timeout=30).status_code
    except requests.ConnectionError:
        return None


def test_healthcheck_follows_the_database(postgres, rabbit_url, workdir):
    port = processes.free_port()
    conf = processes.write_config(workdir / 'api.conf', {
        'DEFAULT': {'transport_url': rabbit_url, 'host': 'api'},
        'database': {'connection': postgres.url},
        'api': {'port': port},
    })
    subprocess.run([os.path.join(os.path.dirname(sys.executable), 'migrator-manage'),
                    '--config-file', str(conf), 'db', 'sync'], check=True)
    api = processes.ServiceProcess('migrator-api', conf, workdir / 'api.log')
    url = f'http://127.0.0.1:{port}/healthcheck'
    try:
        processes.wait_until(lambda: _status(url) == 200, 180, '/healthcheck to answer 200')
        body = requests.get(url, headers={'Accept': 'application/json'}, timeout=30).json()
        assert body['reasons'] == ['OK', 'OK']

        postgres.stop_server()
        processes.wait_until(lambda: _status(url) == 503, 60, '/healthcheck to answer 503')
        resp = requests.get(url, timeout=30)
        assert 'database unreachable' in resp.text
        # The API itself stays up and says what is wrong, never a traceback.
        v1 = requests.get(f'http://127.0.0.1:{port}/v1/hosts', timeout=30)
        assert v1.status_code == 503 and 'database is not reachable' in v1.text

        postgres.start()
        processes.wait_until(lambda: _status(url) == 200, 60, '/healthcheck to recover')
    except BaseException:
        print(f'--- migrator-api log ---\n{api.log()[-4000:]}')
        raise
    finally:
        api.stop()


pytestmark = pytest.mark.functional
