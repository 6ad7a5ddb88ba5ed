"""Keyset pagination for the list queries: a page is the rows after the marker's row in the
listing's own order, so a page never repeats or skips a row when rows are added meanwhile
(an OFFSET would)."""

import sqlalchemy as sa

from migrator.common import exceptions


def after_marker(conn, query, table, key, marker, order, what):
    """`query` limited to the rows that sort after the row whose `key` column is `marker`.

    order: [(column, descending)], the listing's order, unique over the table (end it with
    the key). what: the listing's rows, for the message when the marker is not one of them
    ("host name", "instance UUID", ...).
    """
    columns = [col for col, _desc in order]
    mark = conn.execute(sa.select(*columns).where(table.c[key] == marker)).first()
    if mark is None:
        raise exceptions.Invalid(
            f"marker '{marker}' is not a {what} of this listing; give the marker of the "
            "`next` link of the previous page, or start without a marker")
    clauses = []
    for i, (col, desc) in enumerate(order):
        beyond = col < mark[i] if desc else col > mark[i]
        equal = [c == mark[j] for j, c in enumerate(columns[:i])]
        clauses.append(sa.and_(*equal, beyond) if equal else beyond)
    return query.where(sa.or_(*clauses))


def ordered(query, order, limit):
    query = query.order_by(*[col.desc() if desc else col for col, desc in order])
    return query.limit(int(limit)) if limit is not None else query
