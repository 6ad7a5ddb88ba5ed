"""The queries of migrator.db.api.Database, one module per area (see api.py)."""
