"""A PostgreSQL cluster of a test's own (initdb in a temporary directory, its own port, run as
the postgres user), which the test can stop and start again: a database outage without
touching the shared server."""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg2


def _bin(name):
    found = sorted(glob.glob(f'/usr/lib/postgresql/*/bin/{name}'))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f'{name} not found: install Debian\'s postgresql '
                           '(tools/install-deps.sh)')
    return path


class PrivatePostgres:
    def __init__(self, port):
        self.port = port
        # Not under pytest's tmp_path: the postgres user must be able to reach it.
        self.base = tempfile.mkdtemp(prefix='migrator-pg-', dir='/tmp')
        os.chmod(self.base, 0o755)
        self.data = os.path.join(self.base, 'data')
        self.log = os.path.join(self.base, 'postgres.log')
        os.mkdir(self.data, 0o700)
        shutil.chown(self.data, 'postgres', 'postgres')
        shutil.chown(self.base, 'postgres', 'postgres')
        subprocess.run([_bin('initdb'), '-D', self.data, '-A', 'trust', '-U', 'postgres',
                        '--no-sync'], user='postgres', check=True, capture_output=True)
        self.url = f'postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres'

    def start(self, timeout=60):
        subprocess.run([_bin('pg_ctl'), '-D', self.data, '-l', self.log, '-w', '-t',
                        str(timeout), '-o',
                        f'-p {self.port} -c listen_addresses=127.0.0.1 '
                        f'-c unix_socket_directories={self.base} -c fsync=off', 'start'],
                       user='postgres', check=True, capture_output=True)

    def pid(self):
        try:
            with open(os.path.join(self.data, 'postmaster.pid')) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self, timeout=60):
        """Fast shutdown (SIGINT to the postmaster, by its pid); waits until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def accepts(self):
        try:
            psycopg2.connect(host='127.0.0.1', port=self.port, user='postgres',
                             dbname='postgres', connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def destroy(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
