"""GET /v1/instances[?host=&limit=&marker=], GET /v1/instances/{uuid-or-name}"""

import pecan
from pecan import expose, rest

from migrator.api import policy, views
from migrator.api.controllers.v1 import utils


class InstancesController(rest.RestController):

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:instance:list')
        params = utils.check_params(kwargs, ('host', 'limit', 'marker'))
        limit = utils.page_limit(params['limit'])
        db = pecan.request.db
        if params['host'] is not None:
            db.host_get(params['host'])  # an unknown host is a 404, not an empty list
        records = db.instance_list(host=params['host'], limit=limit, marker=params['marker'])
        return utils.paged({}, 'instances', [views.instance(i) for i in records],
                           utils.next_link('instances', params, records, limit, 'uuid'))

    @expose('json')
    def get_one(self, instance_ident, **kwargs):
        policy.authorize('migrator:instance:get')
        utils.check_params(kwargs, ())
        return views.instance(pecan.request.db.instance_get(instance_ident))
