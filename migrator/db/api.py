"""The query API of the migrator database: Database, one object over every area's queries.

Every method runs in one transaction of its own and returns plain dicts (datetimes as naive
UTC `datetime`), never ORM objects. Several conductors write at once, so every state change
is a compare-and-swap (UPDATE ... WHERE <expected state>) whose row count decides who won;
nothing is read, changed in Python and written back.

Caller mistakes (unknown column names in `values`, empty state lists) raise ValueError;
conditions a user can cause raise migrator.common.exceptions.

The queries live in migrator/db/queries/, one module per area, named after it (hosts.py,
migrations.py, ...), each a mixin class <Area>Queries whose public methods are named
<area>_<what>; this module holds the schema and the process-wide Database.
"""

import contextlib
import os
import threading

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from migrator.conf import CONF
from migrator.db import engine as db_engine
from migrator.db.observers import ObserversMixin
from migrator.db.queries.audit import AuditQueries
from migrator.db.queries.conductors import ConductorQueries
from migrator.db.queries.drains import DrainQueries
from migrator.db.queries.host_pages import HostPageQueries
from migrator.db.queries.hosts import HostQueries
from migrator.db.queries.instances import InstanceQueries
from migrator.db.queries.migration_progress import MigrationProgressQueries
from migrator.db.queries.migration_resets import MigrationResetQueries
from migrator.db.queries.migrations import MigrationQueries
from migrator.db.queries.observations import ObservationQueries
from migrator.db.queries.plans import PlanQueries
from migrator.db.queries.scheduling import SchedulingQueries
from migrator.db.queries.server_groups import ServerGroupQueries

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'migrations')


class Database(HostQueries, HostPageQueries, InstanceQueries, MigrationQueries,
               MigrationProgressQueries, MigrationResetQueries, SchedulingQueries,
               DrainQueries, PlanQueries, ServerGroupQueries, ConductorQueries, AuditQueries,
               ObserversMixin, ObservationQueries):
    """One database, by SQLAlchemy URL. Thread-safe; one per process is enough."""

    def __init__(self, url):
        self.url = url
        self.engine = db_engine.create_engine(url)

    def dispose(self):
        self.engine.dispose()

    @contextlib.contextmanager
    def _write(self):
        with db_engine.write_transaction(self.engine) as conn:
            yield conn
        # Committed: whoever keeps what it read (the API's read cache) forgets it now.
        self.emit_written()

    def _read(self):
        return db_engine.read_transaction(self.engine)

    # -- schema -----------------------------------------------------------------------------

    def _alembic_config(self):
        cfg = Config()
        cfg.set_main_option('script_location', MIGRATIONS_DIR)
        return cfg

    def sync(self, revision='head'):
        """Upgrade the schema (alembic), safe to run from several processes at once."""
        cfg = self._alembic_config()
        with self._write() as conn, db_engine.schema_lock(conn):
            cfg.attributes['connection'] = conn
            command.upgrade(cfg, revision)

    def version(self):
        """The schema's current alembic revision, or None before the first sync."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head(self):
        """The newest revision this code knows; version() != head() means: run sync."""
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()


_DATABASE = None
_DATABASE_LOCK = threading.Lock()


def get_database():
    """The process-wide Database of CONF.database.connection."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = Database(CONF.database.connection)
        return _DATABASE


def set_database(database):
    """Replace the process-wide Database (tests, migrator-all); returns the previous one."""
    global _DATABASE
    with _DATABASE_LOCK:
        previous, _DATABASE = _DATABASE, database
        return previous
