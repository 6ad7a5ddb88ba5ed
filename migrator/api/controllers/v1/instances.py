"""GET /v1/instances[?host=&limit=&marker=], GET /v1/instances/{uuid-or-name},
GET /v1/instances/{uuid-or-name}/observations (1.5: what its live migrations showed)"""

import pecan
from pecan import expose, rest

from migrator.api import microversion, policy, views
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions


class InstanceObservationsController(rest.RestController):
    """What the completed live migrations of an instance showed, newest first (1.5)."""

    @expose('json')
    def get_all(self, instance_ident, **kwargs):
        if not microversion.at_least(microversion.CONVERGENCE_SINCE):
            raise exceptions.NotFound(
                'GET /v1/instances/{instance}/observations needs API version '
                f'{microversion.CONVERGENCE_SINCE} or later (header {microversion.HEADER}: '
                f'{microversion.SERVICE_TYPE} {microversion.CONVERGENCE_SINCE})')
        policy.authorize('migrator:instance:get')
        utils.check_params(kwargs, ())
        db = pecan.request.db
        instance = db.instance_get(instance_ident)
        return {'instance_uuid': instance['uuid'],
                'observations': [views.observation(o)
                                 for o in db.observation_list(instance['uuid'])]}


class InstancesController(rest.RestController):
    observations = InstanceObservationsController()

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
