"""The figures of a migration that the API (from 1.1), the notifications and the metrics all
report the same way: how long it ran, how long the guest paused, how many bytes moved."""

import datetime


def _naive_utc(value):
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def duration_seconds(migration, now=None):
    """Seconds from started_at to finished_at (to now while it runs); None before it
    started. Timestamps are datetimes or ISO 8601 strings."""
    started = _moment(migration.get('started_at'))
    if started is None:
        return None
    finished = _moment(migration.get('finished_at'))
    if finished is None:
        finished = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return round(max(0.0, (_naive_utc(finished) - _naive_utc(started)).total_seconds()), 3)


def bytes_transferred(migration):
    """Memory and disk bytes copied so far (libvirt's data_processed when known)."""
    if migration.get('data_processed') is not None:
        return int(migration['data_processed'])
    parts = [migration.get('memory_processed'), migration.get('disk_processed')]
    if all(p is None for p in parts):
        return None
    return int(sum(p or 0 for p in parts))


def _moment(value):
    if value is None or isinstance(value, datetime.datetime):
        return value
    try:
        return datetime.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    except ValueError:
        return None
