"""GET /v1/hosts[?limit=&marker=], GET /v1/hosts/{name}, PUT /v1/hosts/{name} (status and
reason); drain and undrain below a host (drains.py)."""

import pecan
from pecan import expose, rest

from migrator.api import policy, scheduler_schemas, schemas, views
from migrator.api.controllers.v1 import drains, utils


class HostsController(rest.RestController):
    drain = drains.HostDrainController()
    undrain = drains.HostUndrainController()

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:host:list')
        params = utils.check_params(kwargs, ('limit', 'marker'))
        limit = utils.page_limit(params['limit'])
        page = pecan.request.db.host_page(limit=limit, marker=params['marker'])
        return utils.paged({}, 'hosts', views.hosts(page), utils.next_link(
            'hosts', params, [record for record, _count, _in_flight in page], limit, 'name'))

    @expose('json')
    def get_one(self, host_name, **kwargs):
        policy.authorize('migrator:host:get')
        utils.check_params(kwargs, ())
        return views.host(*pecan.request.db.host_detail(host_name))

    @expose('json')
    def put(self, host_name, **kwargs):
        policy.authorize('migrator:host:update')
        request = pecan.request
        body = schemas.validate(scheduler_schemas.HOST_UPDATE,
                                schemas.parse_json(request.body))
        db = request.db
        record = db.host_set_status(host_name, body['status'], body['reason'])
        return views.host(*db.host_detail(record['name']))
