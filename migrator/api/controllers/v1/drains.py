"""Host drain and undrain:

POST   /v1/hosts/{name}/drain     start a drain (host -> maintenance, every guest moves off)
GET    /v1/hosts/{name}/drain     the host's newest job (drain or undrain's return)
DELETE /v1/hosts/{name}/drain     cancel what has not started of the host's running job
POST   /v1/hosts/{name}/undrain   host -> enabled; optionally bring the drained guests back
GET    /v1/drains/{id}, DELETE /v1/drains/{id}
"""

import pecan
from pecan import expose, rest

from migrator.api import drain_schemas, drain_views, policy, schemas, views
from migrator.api.controllers.v1 import utils
from migrator.api.service import drains as drain_service


def _accepted(job):
    pecan.response.status = 202
    pecan.response.headers['Location'] = (
        f"{pecan.request.application_url}/v1/drains/{job['id']}")


def _cancelled(job):
    pecan.response.status = 202
    return drain_views.drain(job)


def _service():
    return utils.service(drain_service.DrainService)


class HostDrainController(rest.RestController):
    """/v1/hosts/{name}/drain"""

    @expose('json')
    def get_all(self, host_name, **kwargs):
        policy.authorize('migrator:drain:get')
        utils.check_params(kwargs, ())
        return drain_views.drain(_service().latest(host_name))

    @expose('json')
    def post(self, host_name, **kwargs):
        policy.authorize('migrator:host:drain')
        body = schemas.validate(drain_schemas.DRAIN_CREATE,
                                schemas.parse_json(pecan.request.body))
        job = _service().start(host_name, body['mode'], target_hosts=body['target_hosts'],
                               max_parallel=body['max_parallel'])
        _accepted(job)
        return drain_views.drain(job)

    @expose('json')
    def delete(self, host_name, **kwargs):
        policy.authorize('migrator:drain:cancel')
        utils.check_params(kwargs, ())
        return _cancelled(_service().cancel_on_host(host_name))


class HostUndrainController(rest.RestController):
    """/v1/hosts/{name}/undrain"""

    @expose('json')
    def post(self, host_name, **kwargs):
        policy.authorize('migrator:host:undrain')
        raw = pecan.request.body
        body = schemas.validate(drain_schemas.UNDRAIN,
                                schemas.parse_json(raw) if raw and raw.strip() else {})
        done = _service().undrain(host_name, body['return_guests'])
        result = {'host': views.host(done.host, done.guest_count), 'return': None}
        if done.job is not None:
            _accepted(done.job)
            result['return'] = drain_views.drain(done.job)
        return result


class DrainsController(rest.RestController):
    """/v1/drains[?host=&limit=&marker=], /v1/drains/{id}"""

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:drain:list')
        params = utils.check_params(kwargs, ('host', 'limit', 'marker'))
        limit = utils.page_limit(params['limit'])
        db = pecan.request.db
        host = db.host_get(params['host'])['name'] if params['host'] else None
        records = db.drain_list(host, limit, marker=params['marker'])
        return utils.paged({}, 'drains', [drain_views.drain(j) for j in records],
                           utils.next_link('drains', params, records, limit, 'id'))

    @expose('json')
    def get_one(self, drain_id, **kwargs):
        policy.authorize('migrator:drain:get')
        utils.check_params(kwargs, ())
        return drain_views.drain(pecan.request.db.drain_get(drain_id))

    @expose('json')
    def delete(self, drain_id, **kwargs):
        policy.authorize('migrator:drain:cancel')
        utils.check_params(kwargs, ())
        return _cancelled(_service().cancel(drain_id))
