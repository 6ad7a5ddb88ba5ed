"""migrator.api.wsgi_app under a real WSGI server (gunicorn), serving HTTPS with a certificate
of a CA the test makes; the client verifies against that CA."""

import os
import signal
import subprocess
import sys

import pytest
import requests

from migrator.db import api as db_api
from tests.functional.api import tls
from tests.functional.service import processes


@pytest.fixture
def gunicorn_tls(tmp_path):
    """gunicorn with one worker serving migrator.api.wsgi_app over TLS on a free port;
    yields (base URL, CA file, log path). Stopped by its pid."""
    certs = tls.make_ca_and_server_cert(str(tmp_path))
    database = f'sqlite:///{tmp_path}/api.sqlite'
    db = db_api.Database(database)
    db.sync()
    db.dispose()
    config = processes.write_config(str(tmp_path / 'migrator.conf'), {
        'DEFAULT': {'transport_url': 'rabbit://guest:guest@127.0.0.1:5672/'},
        'database': {'connection': database},
    })
    port = processes.free_port()
    log_path = tmp_path / 'gunicorn.log'
    log = open(log_path, 'w')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'gunicorn', '--bind', f'127.0.0.1:{port}', '--workers', '1',
         '--threads', '2', '--certfile', certs['cert'], '--keyfile', certs['key'],
         'migrator.api.wsgi_app:application'],
        env={**os.environ, 'MIGRATOR_CONFIG_FILE': config}, stdout=log,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f'https://127.0.0.1:{port}'
    try:
        def answers():
            assert proc.poll() is None, log_path.read_text()
            try:
                return requests.get(url + '/v1', verify=certs['ca'], timeout=10).ok
            except (requests.ConnectionError, requests.Timeout):   # still importing
                return False
        processes.wait_until(answers, 120, 'gunicorn to serve the API')
        yield url, certs['ca'], log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_api_under_gunicorn_over_tls(gunicorn_tls):
    url, ca, log_path = gunicorn_tls
    resp = requests.get(url + '/v1/hosts', verify=ca, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {'hosts': []}
    assert resp.headers['X-Openstack-Request-Id'].startswith('req-')
    # The links name the bound address, never a forged Host.
    root = requests.get(url + '/', headers={'Host': 'evil.example.com'}, verify=ca, timeout=30)
    assert root.json()['versions'][0]['links'][0]['href'] == f'{url}/v1'
    # The edge holds under this server too.
    refused = requests.post(url + '/v1/migrations', data='{"instance": "x"}', verify=ca,
                            headers={'Content-Type': 'text/plain'}, timeout=30)
    assert refused.status_code == 415 and 'application/json' in refused.json()['error'][
        'message']
    # Only a client that trusts the CA gets through; plain HTTP gets no API.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url + '/v1', timeout=30)
    with pytest.raises(requests.ConnectionError):
        requests.get(url.replace('https:', 'http:') + '/v1', timeout=30)
    assert 'Traceback' not in log_path.read_text()


pytestmark = pytest.mark.functional
