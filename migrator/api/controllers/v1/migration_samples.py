"""GET /v1/migrations/{id}/samples[?limit=&marker=]: a migration's progress samples.

The samples are a sub-resource rather than part of GET /v1/migrations/{id}: the agent reports
every [compute] progress_interval (0.5 s by default), so an hour-long migration has thousands
of them, too many for the body a client polls. That body has samples_count; this gives the
samples oldest first, `limit` the newest N of them, `marker` only those after the sample of
that id (for a client that follows a running migration).
"""

import pecan
from pecan import expose, rest

from migrator.api import policy, views
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions

MAX_SAMPLES = 100000


class MigrationSamplesController(rest.RestController):

    @expose('json')
    def get_all(self, migration_ident, **kwargs):
        policy.authorize('migrator:migration:samples:list')
        params = utils.check_params(kwargs, ('limit', 'marker'))
        limit = utils.parse_limit(params['limit'], None, MAX_SAMPLES)
        marker = params['marker']
        if marker is not None:
            try:
                marker = int(marker)
            except ValueError:
                raise exceptions.Invalid(
                    f"marker must be the integer id of a sample, not '{marker}'") from None
        samples = pecan.request.db.migration_sample_list(migration_ident, limit=limit,
                                                         marker=marker)
        return {'migration_id': migration_ident,
                'samples': [views.sample(s) for s in samples]}
