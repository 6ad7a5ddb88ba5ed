"""`migrator-manage db ...`: the schema, worked on [database] connection directly."""

from oslo_config import cfg

from migrator.cmd.manage import output

CONF = cfg.CONF


def _db():
    from migrator.db import api as db_api
    return db_api.get_database()


def _safe_url(url):
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return '<the configured database>'


def do_db_sync(args):
    db = _db()
    db.sync()
    revision = db.version()
    output.emit(args, {'connection': _safe_url(CONF.database.connection), 'revision': revision},
          lambda: f'Database {_safe_url(CONF.database.connection)} is at revision {revision}.')
    return 0


def do_db_version(args):
    revision = _db().version()
    output.emit(args, {'revision': revision},
          lambda: revision if revision else
          'None (no schema yet: run `migrator-manage db sync`)')
    return 0


def register(commands):
    db = output.group(commands, 'db', 'Database schema (works on [database] connection directly).')
    output.leaf(db, 'sync', do_db_sync, 'Create or upgrade the schema to the latest revision.')
    output.leaf(db, 'version', do_db_version, 'Print the schema revision of the database.')
