"""The migrator database: models, query API and alembic migrations.

Layering: this package imports only migrator.common and migrator.conf, never the services.
"""
