"""What a host's API document shows besides its row, read with the row in one transaction
(a mixin of db.api.Database): how many instances the DB places on it, and the migrations
whose slots or claims it holds. One transaction instead of three, and only the claims of
the hosts asked for: GET /v1/hosts is the API's most frequent read (issue 15)."""

import collections

import sqlalchemy as sa

from migrator.common import exceptions
from migrator.db import paging
from migrator.db.models import hosts, instances, scheduler_claims

# Built once: SQLAlchemy then finds their compiled form by a memoized cache key instead of
# building and hashing a new statement on every request.
_COUNTS = (sa.select(instances.c.host, sa.func.count())
           .where(instances.c.host.in_(sa.bindparam('names', expanding=True)))
           .group_by(instances.c.host))
_k = scheduler_claims.c
_CLAIMS = (sa.select(_k.migration_id, _k.source_host, _k.target_host)
           .where(_k.landed_at.is_(None),
                  sa.or_(_k.source_host.in_(sa.bindparam('names', expanding=True)),
                         _k.target_host.in_(sa.bindparam('names', expanding=True))))
           .order_by(_k.created_at))
_HOST = sa.select(hosts).where(hosts.c.name == sa.bindparam('name'))


def _usage(conn, names):
    """({host: instance count}, {host: [migration ids in flight]}) of the hosts named."""
    if not names:
        return {}, {}
    counts = dict(conn.execute(_COUNTS, {'names': names}).all())
    in_flight = collections.defaultdict(list)
    wanted = set(names)
    claims = conn.execute(_CLAIMS, {'names': names})
    for claim in claims:
        if claim.source_host in wanted:
            in_flight[claim.source_host].append(claim.migration_id)
        if claim.target_host in wanted:
            in_flight[claim.target_host].append(claim.migration_id)
    return counts, in_flight


class HostPageQueries:
    """Mixin of Database (self._read())."""

    def host_page(self, limit=None, marker=None):
        """[(host row, instance count, [migration ids in flight])] by name; `marker` is
        the name of the last host of the previous page."""
        order = [(hosts.c.name, False)]
        query = paging.ordered(sa.select(hosts), order, limit)
        with self._read() as conn:
            if marker is not None:
                query = paging.after_marker(conn, query, hosts, 'name', marker, order,
                                            'host name')
            rows = [dict(r._mapping) for r in conn.execute(query)]
            counts, in_flight = _usage(conn, [r['name'] for r in rows])
        return [(r, counts.get(r['name'], 0), in_flight.get(r['name'], [])) for r in rows]

    def host_detail(self, name):
        """(host row, instance count, [migration ids in flight]) of one host."""
        with self._read() as conn:
            row = conn.execute(_HOST, {'name': name}).first()
            if row is None:
                raise exceptions.HostNotFound(name=name)
            counts, in_flight = _usage(conn, [name])
        return dict(row._mapping), counts.get(name, 0), in_flight.get(name, [])
