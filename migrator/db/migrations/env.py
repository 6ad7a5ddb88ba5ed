"""Alembic environment, driven from code (migrator.db.api.Database.sync), not alembic.ini.

The caller hands over an open connection in config.attributes['connection'] so that the
upgrade runs inside the caller's transaction and under its cross-process lock.
"""

from alembic import context

from migrator.db import models

config = context.config
target_metadata = models.Base.metadata


def run_offline():
    context.configure(url=config.get_main_option('sqlalchemy.url'),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online():
    connection = config.attributes.get('connection')
    if connection is None:
        raise RuntimeError('Run migrations through migrator.db.api.Database.sync() '
                           '(`migrator-manage db sync`), which supplies the connection.')
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
