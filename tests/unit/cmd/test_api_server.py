"""build_server() and migrator-api's main(): serve, answer, stop cleanly."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

from migrator.api import app as api_app
from migrator.api import wsgi
from migrator.db import api as db_api
from tests.unit.api import fakes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def test_build_server_serves_and_stops(db):
    server = wsgi.build_server(api_app.setup_app(db=db, conductor_api=fakes.FakeConductor()),
                               '127.0.0.1', 0, threads=2)
    assert server.port > 0
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with requests.Session() as session:  # a keep-alive connection must not block close
            resp = session.get(server.url + '/v1/hosts', timeout=5)
            assert resp.status_code == 200
            assert resp.json() == {'hosts': []}
            start = time.monotonic()
            server.close()
            thread.join(10)
            assert not thread.is_alive()
            assert time.monotonic() - start < 5
    finally:
        server.close()
    try:
        requests.get(server.url + '/', timeout=2)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError('the server still answers after close()')


def test_close_before_run_releases_the_port(db):
    server = wsgi.build_server(api_app.setup_app(db=db, conductor_api=fakes.FakeConductor()),
                               '127.0.0.1', 0)
    server.close()
    server.run()  # returns at once
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', server.port))


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _config(tmp_path, port):
    config = tmp_path / 'migrator.conf'
    config.write_text(f"""[DEFAULT]
transport_url = fake://
state_path = {tmp_path}

[database]
connection = sqlite:///{tmp_path}/migrator.sqlite

[api]
host_ip = 127.0.0.1
port = {port}
threads = 2
""")
    return config


def _start(tmp_path, config):
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONWARNINGS='ignore')
    return subprocess.Popen(
        [sys.executable, '-m', 'migrator.cmd.api', '--config-file', str(config)],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def test_migrator_api_refuses_an_unsynced_database(tmp_path):
    proc = _start(tmp_path, _config(tmp_path, _free_port()))
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, output
    assert 'migrator-manage db sync' in output
    assert 'Traceback' not in output


def test_migrator_api_main_serves_until_sigterm(tmp_path):
    port = _free_port()
    config = _config(tmp_path, port)
    db_api.Database(f'sqlite:///{tmp_path}/migrator.sqlite').sync()
    proc = _start(tmp_path, config)
    try:
        url = f'http://127.0.0.1:{port}/'
        deadline = time.monotonic() + 120   # a busy 2-core machine imports slowly
        while True:
            try:
                resp = requests.get(url, timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, 'migrator-api did not start'
                time.sleep(0.1)
        assert resp.status_code == 200
        assert resp.json()['versions'][0]['id'] == 'v1'
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert 'WARNING' in output and 'no authentication' in output, output
    assert f'127.0.0.1:{port}' in output
    assert 'Traceback' not in output, output
