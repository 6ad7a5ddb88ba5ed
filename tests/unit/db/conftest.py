"""Every DB test runs against SQLite, PostgreSQL and MariaDB/MySQL.

Each server backend gets one fresh database per session (migrator_test_<random>), dropped at
the end; tables are emptied between tests. MIGRATOR_TEST_DB_BACKENDS=sqlite,postgresql picks
backends; MIGRATOR_TEST_POSTGRESQL_URL / MIGRATOR_TEST_MYSQL_URL point at other servers. An
unreachable server skips its backend rather than failing the suite.
"""

import os
import uuid

import pytest
import sqlalchemy as sa

from migrator.common import timeutils
from migrator.db import models
from migrator.db.api import Database

SERVER_URLS = {
    'postgresql': os.environ.get('MIGRATOR_TEST_POSTGRESQL_URL',
                                 'postgresql+psycopg2://postgres@127.0.0.1:5432/postgres'),
    'mysql': os.environ.get('MIGRATOR_TEST_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306/'),
}
_ALIASES = {'mariadb': 'mysql', 'postgres': 'postgresql', 'pg': 'postgresql'}
BACKENDS = [_ALIASES.get(b.strip(), b.strip()) for b in
            os.environ.get('MIGRATOR_TEST_DB_BACKENDS', 'sqlite,postgresql,mysql').split(',')
            if b.strip()]


class Server:
    """Makes fresh, uniquely named databases on one backend and drops them all at the end."""

    def __init__(self, backend, tmp_dir):
        self.backend, self.tmp_dir, self.names = backend, tmp_dir, []
        self.admin = None
        if backend != 'sqlite':
            self.admin = sa.create_engine(SERVER_URLS[backend], isolation_level='AUTOCOMMIT')
            try:
                self.admin.connect().close()
            except sa.exc.OperationalError as exc:
                pytest.skip(f'{backend} unreachable: {exc.orig}')

    def new_url(self):
        name = f'migrator_test_{uuid.uuid4().hex[:12]}'
        if self.backend == 'sqlite':
            return f"sqlite:///{self.tmp_dir / (name + '.sqlite')}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE {name}')
        self.names.append(name)
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self):
        if self.admin is None:
            return
        force = ' WITH (FORCE)' if self.backend == 'postgresql' else ''
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS {name}{force}')
        self.admin.dispose()


@pytest.fixture(scope='session', params=BACKENDS)
def server(request, tmp_path_factory):
    srv = Server(request.param, tmp_path_factory.mktemp(request.param))
    yield srv
    srv.drop_all()


@pytest.fixture(scope='session')
def synced_db(server):
    database = Database(server.new_url())
    database.sync()
    yield database
    database.dispose()


@pytest.fixture
def db(synced_db):
    yield synced_db
    with synced_db.engine.begin() as conn:
        for table in reversed(models.Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def add_instance(db):
    """Insert an instance directly (no agent sync, which would prune the host's others)."""
    def add(uuid_, host='h1', name=None, **values):
        now = timeutils.utcnow()
        row = {'uuid': uuid_, 'name': name or 'vm-' + uuid_, 'host': host,
               'power_state': 'running', 'memory_mb': 512, 'vcpus': 1, 'disk_gb': 10,
               'created_at': now, 'updated_at': now, **values}
        with db.engine.begin() as conn:
            conn.execute(models.instances.insert().values(row))
        return row
    return add
