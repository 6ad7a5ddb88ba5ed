"""Rows as the query layer returns them: plain dicts, datetimes as naive UTC."""

import datetime


def as_dict(row):
    """A result row as a dict; None for no row."""
    return dict(row._mapping) if row is not None else None


def check_fields(values, allowed, what):
    """Refuses (ValueError: a caller's mistake) column names outside allowed."""
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"{what} does not take {', '.join(sorted(unknown))}")


def naive_utc(moment):
    """A datetime as the DB keeps it: UTC without tzinfo."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment
