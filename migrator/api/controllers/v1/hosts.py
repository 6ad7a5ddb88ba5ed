"""GET /v1/hosts[?limit=&marker=], GET /v1/hosts/{name}, PUT /v1/hosts/{name} (status and
reason); drain and undrain below a host (drains.py)."""

import collections

import pecan
from pecan import expose, rest

from migrator.api import policy, scheduler_schemas, schemas, views
from migrator.api.controllers.v1 import drains, utils


def _in_flight(db):
    """{host: [migration ids]} of the migrations holding slots or claims on each host."""
    by_host = collections.defaultdict(list)
    for claim in db.claim_list():
        by_host[claim['source_host']].append(claim['migration_id'])
        if claim['target_host']:
            by_host[claim['target_host']].append(claim['migration_id'])
    return by_host


class HostsController(rest.RestController):
    drain = drains.HostDrainController()
    undrain = drains.HostUndrainController()

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:host:list')
        params = utils.check_params(kwargs, ('limit', 'marker'))
        limit = utils.page_limit(params['limit'])
        db = pecan.request.db
        hosts = db.host_list(limit=limit, marker=params['marker'])
        counts = db.instance_counts([h['name'] for h in hosts])
        in_flight = _in_flight(db)
        return utils.paged({}, 'hosts', [
            views.host(h, counts.get(h['name'], 0), in_flight.get(h['name'], []))
            for h in hosts], utils.next_link('hosts', params, hosts, limit, 'name'))

    @expose('json')
    def get_one(self, host_name, **kwargs):
        policy.authorize('migrator:host:get')
        utils.check_params(kwargs, ())
        db = pecan.request.db
        record = db.host_get(host_name)
        return views.host(record, len(db.instance_list(host=record['name'])),
                          _in_flight(db).get(record['name'], []))

    @expose('json')
    def put(self, host_name, **kwargs):
        policy.authorize('migrator:host:update')
        request = pecan.request
        body = schemas.validate(scheduler_schemas.HOST_UPDATE,
                                schemas.parse_json(request.body))
        db = request.db
        record = db.host_set_status(host_name, body['status'], body['reason'])
        return views.host(record, len(db.instance_list(host=record['name'])),
                          _in_flight(db).get(record['name'], []))
