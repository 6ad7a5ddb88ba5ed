"""Engine creation and the per-backend details the query API should not care about."""

import contextlib
import functools
import os

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.pool import StaticPool

# Long enough to outwait any single write transaction of ours; a writer that waits longer
# than this is stuck, and an error says more than a hang.
SQLITE_BUSY_TIMEOUT = 30.0
DEADLOCK_RETRIES = 3


def create_engine(url):
    url = sa.engine.make_url(url)
    backend = url.get_backend_name()
    kwargs = {}
    if backend == 'sqlite':
        path = url.database
        if path and path != ':memory:' and not path.startswith('file:'):
            # The embedded default lives in /var/lib/migrator, which a fresh install lacks.
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        else:
            # An in-memory database exists once per connection: share that one connection.
            kwargs['poolclass'] = StaticPool
        kwargs['connect_args'] = {'check_same_thread': False, 'timeout': SQLITE_BUSY_TIMEOUT}
    else:
        kwargs['pool_pre_ping'] = True
        kwargs['pool_recycle'] = 3600
    if backend in ('mysql', 'mariadb'):
        if 'charset' not in url.query:
            url = url.update_query_dict({'charset': 'utf8mb4'})
        # Same isolation as PostgreSQL's default, so the CAS updates behave alike and
        # InnoDB takes no gap locks (fewer deadlocks between concurrent conductors).
        kwargs['isolation_level'] = 'READ COMMITTED'
    engine = sa.create_engine(url, **kwargs)
    if backend == 'sqlite':
        _setup_sqlite(engine)
    return engine


def _setup_sqlite(engine):
    @event.listens_for(engine, 'connect')
    def _on_connect(dbapi_conn, _record):
        # Take transaction control away from pysqlite so that 'begin' below decides.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # WAL: readers never block the writer, so API reads go on during conductor writes.
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA synchronous=NORMAL')
        cursor.execute('PRAGMA foreign_keys=ON')
        cursor.close()

    @event.listens_for(engine, 'begin')
    def _on_begin(conn):
        # A deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY_SNAPSHOT when another writer committed in between, whatever the busy
        # timeout. Write transactions therefore take the write lock up front and queue.
        if conn.get_execution_options().get('migrator_write'):
            conn.exec_driver_sql('BEGIN IMMEDIATE')
        else:
            conn.exec_driver_sql('BEGIN')


@contextlib.contextmanager
def write_transaction(engine):
    with engine.connect() as conn:
        conn.execution_options(migrator_write=True)
        with conn.begin():
            yield conn


@contextlib.contextmanager
def read_transaction(engine):
    with engine.connect() as conn, conn.begin():
        yield conn


def is_deadlock(exc):
    orig = getattr(exc, 'orig', None)
    if getattr(orig, 'pgcode', None) in ('40P01', '40001'):
        return True
    args = getattr(orig, 'args', ())
    return bool(args) and args[0] == 1213  # MySQL/MariaDB ER_LOCK_DEADLOCK


def retry_on_deadlock(fn):
    """Re-run a whole write transaction that the server chose as a deadlock victim.

    Safe because each such transaction rolled back entirely and every write in it is a
    compare-and-swap that re-checks its condition on the next attempt.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for attempt in range(DEADLOCK_RETRIES):
            try:
                return fn(*args, **kwargs)
            except sa.exc.DBAPIError as exc:
                if attempt == DEADLOCK_RETRIES - 1 or not is_deadlock(exc):
                    raise
    return wrapper


def upsert(engine, table, index_elements, set_fn):
    """INSERT ... ON CONFLICT/ON DUPLICATE KEY UPDATE for the engine's backend.

    set_fn(new) returns an ordered dict column name -> expression, where `new` names the row
    that failed to insert. MySQL applies the assignments left to right, each seeing the ones
    before, so an assignment a condition depends on must come last.
    """
    name = engine.dialect.name
    if name in ('mysql', 'mariadb'):
        stmt = mysql.insert(table)
        return stmt.on_duplicate_key_update(list(set_fn(stmt.inserted).items()))
    insert = postgresql.insert if name == 'postgresql' else sqlite.insert
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=index_elements,
                                      set_=set_fn(stmt.excluded))


@contextlib.contextmanager
def schema_lock(conn):
    """Serialise schema upgrades started by several processes at once."""
    name = conn.dialect.name
    if name == 'postgresql':
        conn.exec_driver_sql('SELECT pg_advisory_xact_lock(7142031)')
        yield
    elif name in ('mysql', 'mariadb'):
        conn.exec_driver_sql("SELECT GET_LOCK('migrator_db_sync', 300)")
        try:
            yield
        finally:
            conn.exec_driver_sql("SELECT RELEASE_LOCK('migrator_db_sync')")
    else:
        yield  # SQLite: the BEGIN IMMEDIATE of the write transaction is the lock.
