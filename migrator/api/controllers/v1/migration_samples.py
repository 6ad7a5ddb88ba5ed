"""GET /v1/migrations/{id}/samples[?limit=&marker=]: a migration's progress samples.

The samples are a sub-resource rather than part of GET /v1/migrations/{id}: the agent reports
every [compute] progress_interval (0.5 s by default), so an hour-long migration has thousands
of them, too many for the body a client polls. That body has samples_count; this gives the
samples oldest first, `limit` the newest N of them (N at most [api] max_limit), `marker` only
those after the sample of that id (for a client that follows a running migration). Without
`limit`, a page of the oldest [api] max_limit, with a `next` link when more may follow.
"""

import pecan
from oslo_config import cfg
from pecan import expose, rest

from migrator.api import policy, views
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions

CONF = cfg.CONF


class MigrationSamplesController(rest.RestController):

    @expose('json')
    def get_all(self, migration_ident, **kwargs):
        policy.authorize('migrator:migration:samples:list')
        params = utils.check_params(kwargs, ('limit', 'marker'))
        limit = utils.parse_limit(params['limit'], None, CONF.api.max_limit)
        # Without limit: a page of the oldest [api] max_limit after the marker, with `next`.
        first = CONF.api.max_limit if limit is None else None
        marker = params['marker']
        if marker is not None:
            try:
                marker = int(marker)
            except ValueError:
                raise exceptions.Invalid(
                    f"marker must be the integer id of a sample, not '{marker}'") from None
        samples = pecan.request.db.migration_sample_list(migration_ident, limit=limit,
                                                         marker=marker, first=first)
        result = {'migration_id': migration_ident,
                  'samples': [views.sample(s) for s in samples]}
        if first is not None and len(samples) >= first:
            result['next'] = (f'{pecan.request.application_url}/v1/migrations/'
                              f'{migration_ident}/samples?marker={samples[-1]["id"]}')
        return result
