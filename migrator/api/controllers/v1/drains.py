"""Host drain and undrain:

POST   /v1/hosts/{name}/drain     start a drain (host -> maintenance, every guest moves off)
GET    /v1/hosts/{name}/drain     the host's newest job (drain or undrain's return)
DELETE /v1/hosts/{name}/drain     cancel what has not started of the host's running job
POST   /v1/hosts/{name}/undrain   host -> enabled; optionally bring the drained guests back
GET    /v1/drains/{id}, DELETE /v1/drains/{id}
"""

import uuid

import pecan
from oslo_config import cfg
from oslo_log import log as logging
from pecan import expose, rest

from migrator.api import drain_schemas, drain_views, hooks, policy, schemas, views
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions, notifications
from migrator.db import drain_models as dm

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

CANCEL_REASON = 'cancelled by an operator'


def _accepted(job):
    pecan.response.status = 202
    pecan.response.headers['Location'] = (
        f"{pecan.request.application_url}/v1/drains/{job['id']}")


def _hand_over(db, conductor_api, ctxt, job, undo=None):
    """Casts the job to a conductor; when that fails the job ends `failed` (so it does not
    hold the host) and undo() puts back what the request changed."""
    try:
        conductor_api.drain(ctxt, job['id'])
    except Exception as exc:
        try:
            db.drain_transition(job['id'], [dm.ACCEPTED], dm.FAILED,
                                values={'reason': f'could not reach migrator-conductor: {exc}'})
            if undo is not None:
                undo()
        except Exception:
            LOG.exception('Could not mark %s %s failed after the cast failed', job['kind'],
                          job['id'])
        raise


def _cancel(db, job_id):
    job = db.drain_cancel(job_id, CANCEL_REASON)
    LOG.info('%s %s of %s: %s', job['kind'], job_id, job['host'], job['status'])
    pecan.response.status = 202
    return drain_views.drain(job)


class HostDrainController(rest.RestController):
    """/v1/hosts/{name}/drain"""

    @expose('json')
    def get_all(self, host_name, **kwargs):
        policy.authorize('migrator:drain:get')
        utils.check_params(kwargs, ())
        db = pecan.request.db
        host = db.host_get(host_name)
        job = db.drain_latest(host['name'])
        if job is None:
            raise exceptions.NoDrain(host=host['name'])
        return drain_views.drain(job)

    @expose('json')
    def post(self, host_name, **kwargs):
        policy.authorize('migrator:host:drain')
        request = pecan.request
        db, conductor_api = request.db, request.conductor_api
        ctxt = hooks.get_context(request)
        body = schemas.validate(drain_schemas.DRAIN_CREATE, schemas.parse_json(request.body))
        host = db.host_get(host_name)
        name = host['name']
        mode = body['mode']
        targets = body['target_hosts']
        if targets is not None:
            targets = [db.host_get(t)['name'] for t in targets]
            if name in targets:
                raise exceptions.Invalid(
                    f"field 'target_hosts' names '{name}', the host being drained; list "
                    'only the hosts the guests may go to')
        active = db.drain_active(name)
        if active is not None:
            raise exceptions.DrainInProgress(host=name, kind=active['kind'], id=active['id'],
                                             status=active['status'])
        job_id = str(uuid.uuid4())
        guests = db.instance_list(host=name)
        job = db.drain_create(
            {'id': job_id, 'kind': 'drain', 'host': name, 'mode': mode,
             'target_hosts': targets,
             'max_parallel': body['max_parallel'] or CONF.drain.max_parallel},
            items=[{'instance_uuid': g['uuid'], 'instance_name': g['name'],
                    'source_host': name} for g in guests],
            host_status=('maintenance', f'drain {job_id}'))
        _hand_over(db, conductor_api, ctxt, job,
                   undo=lambda: db.host_set_status(name, host['status'],
                                                   host['status_reason']))
        LOG.info('Accepted drain %s of %s (%d guests, mode %s)', job_id, name, len(guests),
                 mode)
        _accepted(job)
        return drain_views.drain(db.drain_get(job_id))

    @expose('json')
    def delete(self, host_name, **kwargs):
        policy.authorize('migrator:drain:cancel')
        utils.check_params(kwargs, ())
        db = pecan.request.db
        host = db.host_get(host_name)
        active = db.drain_active(host['name'])
        if active is None:
            raise exceptions.Conflict(
                f"Host '{host['name']}' has no drain or return running; nothing to cancel.")
        return _cancel(db, active['id'])


class HostUndrainController(rest.RestController):
    """/v1/hosts/{name}/undrain"""

    @expose('json')
    def post(self, host_name, **kwargs):
        policy.authorize('migrator:host:undrain')
        request = pecan.request
        db, conductor_api = request.db, request.conductor_api
        ctxt = hooks.get_context(request)
        raw = request.body
        body = schemas.validate(drain_schemas.UNDRAIN,
                                schemas.parse_json(raw) if raw and raw.strip() else {})
        host = db.host_get(host_name)
        name = host['name']
        active = db.drain_active(name)
        if active is not None:
            raise exceptions.DrainInProgress(host=name, kind=active['kind'], id=active['id'],
                                             status=active['status'])
        returning, origin = [], None
        if body['return_guests']:
            origin = db.drain_latest(name, kind='drain')
            returning = self._guests_to_return(db, origin) if origin else []
        notifications.undrain(name, 'start', ctxt=ctxt)
        host = db.host_set_status(name, 'enabled', None)
        result = {'host': views.host(host, len(db.instance_list(host=name))), 'return': None}
        if not returning:
            LOG.info('Host %s back in service; no guests to return', name)
            notifications.undrain(name, 'end', ctxt=ctxt)
            return result
        job = db.drain_create(
            {'kind': 'return', 'host': name, 'mode': origin['mode'],
             'max_parallel': origin['max_parallel'], 'origin_id': origin['id']},
            items=returning)
        _hand_over(db, conductor_api, ctxt, job)
        LOG.info('Host %s back in service; return %s brings back %d guests of drain %s',
                 name, job['id'], len(returning), origin['id'])
        _accepted(job)
        result['return'] = drain_views.drain(db.drain_get(job['id']))
        return result

    @staticmethod
    def _guests_to_return(db, origin):
        """The guests the drain moved that still run where it put them, with no migration
        in flight."""
        items = []
        for item in origin['items']:
            if item['status'] != dm.ITEM_MOVED or not item['target_host']:
                continue
            try:
                instance = db.instance_get(item['instance_uuid'])
            except exceptions.InstanceNotFound:
                continue
            if instance['host'] != item['target_host'] or instance['migration_id']:
                continue
            items.append({'instance_uuid': instance['uuid'], 'instance_name': instance['name'],
                          'source_host': instance['host'], 'target_host': origin['host']})
        return items


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
        db = pecan.request.db
        db.drain_get(drain_id)
        return _cancel(db, drain_id)

