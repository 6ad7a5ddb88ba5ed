"""Starting migrator's console scripts as real processes for functional tests."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import requests

BIN = os.path.dirname(sys.executable)


@contextlib.contextmanager
def rabbit_vhost():
    """A RabbitMQ virtual host of its own for one set of services, deleted afterwards with
    every queue in it; yields its transport URL. oslo.messaging names queues by topic
    whatever the exchange, so without it a message one test left in a queue would reach the
    next test's services."""
    name = f'migrator-test-{uuid.uuid4().hex[:10]}'
    ctl = ['rabbitmqctl', '-q']
    subprocess.run(ctl + ['add_vhost', name], check=True, capture_output=True)
    try:
        subprocess.run(ctl + ['set_permissions', '-p', name, 'guest', '.*', '.*', '.*'],
                       check=True, capture_output=True)
        yield f'rabbit://guest:guest@127.0.0.1:5672/{name}'
    finally:
        subprocess.run(ctl + ['delete_vhost', name], check=False, capture_output=True)


@contextlib.contextmanager
def postgres_database(prefix='migrator_func'):
    """A PostgreSQL database of its own, dropped afterwards (connections and all); yields
    its SQLAlchemy URL."""
    import psycopg2
    name = f'{prefix}_{uuid.uuid4().hex[:10]}'
    admin = psycopg2.connect(host='127.0.0.1', user='postgres', dbname='postgres')
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE {name}')
        yield f'postgresql+psycopg2://postgres@127.0.0.1/{name}'
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        admin.close()


def processes_naming(text):
    """The command lines of the running processes that contain text."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def write_config(path, sections):
    with open(path, 'w') as f:
        for section, values in sections.items():
            f.write(f'[{section}]\n')
            for key, value in values.items():
                f.write(f'{key} = {value}\n')
            f.write('\n')
    return path


class ServiceProcess:
    """One console script with its own config file and log file, stopped by its pid."""

    def __init__(self, script, config_file, log_file):
        self.script = script
        self.log_file = log_file
        self._log = open(log_file, 'w')
        self.proc = subprocess.Popen(
            [os.path.join(BIN, script), '--config-file', config_file],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def log(self):
        with open(self.log_file) as f:
            return f.read()


def wait_until(predicate, timeout, what, interval=0.1):
    """Waits for an observable state (a port answering, a row appearing), never a fixed
    time: returns predicate's value as soon as it is truthy, fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout}s waiting for {what}')
        time.sleep(interval)


class ApiClient:
    def __init__(self, url, version=None):
        """version: the API microversion to ask for ('1.3'); None: the oldest."""
        self.url = url.rstrip('/')
        self.headers = ({'OpenStack-API-Version': f'migration {version}'}
                        if version else {})

    def get(self, path, **params):
        return requests.get(self.url + path, params=params, timeout=30, headers=self.headers)

    def post(self, path, body=None, data=None):
        # The API wants the JSON content type on every POST, with a body or without one.
        headers = {**self.headers, 'Content-Type': 'application/json'}
        if data is not None:
            return requests.post(self.url + path, data=data, timeout=60, headers=headers)
        return requests.post(self.url + path, json=body, timeout=60, headers=headers)

    def request_delete(self, path):
        return requests.delete(self.url + path, timeout=60, headers=self.headers)

    def answers(self):
        try:
            return self.get('/v1').status_code == 200
        except requests.ConnectionError:
            return False

    def hosts_up(self, names):
        hosts = {h['name']: h for h in self.get('/v1/hosts').json()['hosts']}
        return all(n in hosts and hosts[n]['state'] == 'up' for n in names)

    def instance(self, name):
        r = self.get(f'/v1/instances/{name}')
        return r.json() if r.status_code == 200 else None

    def wait_for_migration(self, migration_id, timeout=180, interval=0.05):
        def ended():
            body = self.get(f'/v1/migrations/{migration_id}').json()
            return body if body['status'] in ('completed', 'failed', 'cancelled',
                                               'error') else None
        return wait_until(ended, timeout, f'migration {migration_id} to end',
                          interval=interval)


def start_migrator_all(work, state_dir, compute=None, timeout=60, extra=None, version=None):
    """migrator-all on a SQLite file in work, with an agent per host of the sandbox in
    state_dir; returns (process, ApiClient) once the API answers. compute: extra [compute]
    options (report_interval is 2 s unless given); extra: more groups of options; version:
    the API microversion the client asks for."""
    port = free_port()
    conf = write_config(f'{work}/all.conf', {
        'database': {'connection': f'sqlite:///{work}/migrator.sqlite'},
        'api': {'port': port},
        'all': {'sandbox_state_dir': state_dir},
        'compute': {'report_interval': 2, **(compute or {})},
        'libvirt': {'virt_type': 'qemu'},
        **(extra or {}),
    })
    proc = ServiceProcess('migrator-all', conf, f'{work}/all.log')
    api = ApiClient(f'http://127.0.0.1:{port}', version=version)
    try:
        wait_until(api.answers, timeout, 'the API')
    except BaseException:
        proc.stop()
        raise
    return proc, api
