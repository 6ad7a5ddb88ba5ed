"""A PostgreSQL cluster of a test's own (initdb, its own port and data directory), for tests
that must stop and start the database: the shared one on 5432 is never touched."""

import glob
import os
import shutil
import subprocess
import tempfile

import psycopg2

from tests.functional.service import processes


def _bindir():
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    if not found:
        raise AssertionError('PostgreSQL server binaries are missing: run '
                             'tools/install-deps.sh')
    return os.path.dirname(found[-1])


def _as_postgres(*argv):
    return subprocess.run(['runuser', '-u', 'postgres', '--', *argv], check=True,
                          capture_output=True, text=True)


class PrivatePostgres:
    def __init__(self):
        self.bindir = _bindir()
        self.port = processes.free_port()
        self.root = tempfile.mkdtemp(prefix='migrator-pg-')
        self.data = os.path.join(self.root, 'data')
        self.log = os.path.join(self.root, 'postgres.log')
        shutil.chown(self.root, 'postgres', 'postgres')
        _as_postgres(os.path.join(self.bindir, 'initdb'), '-D', self.data, '-A', 'trust',
                     '-U', 'postgres', '--no-sync')
        self.url = f'postgresql+psycopg2://postgres@127.0.0.1:{self.port}/migrator'

    def start(self):
        # Sockets in its own directory; TCP on the loopback only.
        _as_postgres(os.path.join(self.bindir, 'pg_ctl'), '-D', self.data, '-l', self.log,
                     '-w', '-t', '60', '-o',
                     f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                     "-c fsync=off", 'start')

    def stop(self):
        _as_postgres(os.path.join(self.bindir, 'pg_ctl'), '-D', self.data, '-w', '-t', '60',
                     '-m', 'fast', 'stop')

    def running(self):
        return os.path.exists(os.path.join(self.data, 'postmaster.pid'))

    def create_database(self, name='migrator'):
        conn = psycopg2.connect(host='127.0.0.1', port=self.port, user='postgres',
                                dbname='postgres')
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE {name}')
        conn.close()

    def destroy(self):
        try:
            if self.running():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
