"""Time as the project stores and compares it."""

import datetime


def utcnow():
    """The current time as the database stores it: naive UTC."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
