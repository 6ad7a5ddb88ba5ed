"""POST /v1/plans, GET /v1/plans[?status=&limit=&marker=], GET /v1/plans/{id},
POST /v1/plans/{id}/apply, POST /v1/plans/{id}/cancel (microversion 1.6)"""

import pecan
from pecan import expose, rest

from migrator.api import microversion, plan_schemas, policy, schemas, views
from migrator.api.controllers.v1 import utils
from migrator.api.service import plans as plan_service
from migrator.common import exceptions, states


class PlansController(rest.RestController):

    _custom_actions = {'apply': ['POST'], 'cancel': ['POST']}

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:plan:list')
        params = utils.check_params(kwargs, ('status', 'limit', 'marker'))
        status = params['status']
        if status is not None and status not in states.PLAN_STATUSES:
            raise exceptions.Invalid(f"status '{status}' is not a plan state; the states are: "
                                     f"{', '.join(states.PLAN_STATUSES)}")
        limit = utils.page_limit(params['limit'])
        records = pecan.request.db.plan_list(status=status, limit=limit, marker=params['marker'])
        return utils.paged({}, 'plans', [views.plan(p, with_moves=False) for p in records],
                           utils.next_link('plans', params, records, limit, 'id'))

    @expose('json')
    def get_one(self, plan_id, **kwargs):
        policy.authorize('migrator:plan:get')
        utils.check_params(kwargs, ())
        return views.plan(pecan.request.db.plan_get(plan_id))

    @expose('json')
    def post(self, *args, **kwargs):
        policy.authorize('migrator:plan:create')
        request = pecan.request
        body = schemas.validate(plan_schemas.PLAN_CREATE, schemas.parse_json(request.body))
        plan = utils.service(plan_service.PlanService).create(
            body['goal'], max_moves=body['max_moves'], min_gain=body['min_gain'],
            max_parallel=body['max_parallel'])
        pecan.response.status = 201
        pecan.response.headers['Location'] = f"{request.application_url}/v1/plans/{plan['id']}"
        return views.plan(plan)

    @expose('json')
    def apply(self, plan_id, *args, **kwargs):
        policy.authorize('migrator:plan:apply')
        if args:
            pecan.abort(404)
        plan = utils.service(plan_service.PlanService).apply(plan_id)
        pecan.response.status = 202
        pecan.response.headers['Location'] = (
            f'{pecan.request.application_url}/v1/plans/{plan_id}')
        return views.plan(plan)

    @expose('json')
    def cancel(self, plan_id, *args, **kwargs):
        if args or not microversion.at_least(microversion.PLAN_CANCEL_SINCE):
            # Unknown to clients of older microversions, as any path it does not serve.
            pecan.abort(404)
        policy.authorize('migrator:plan:cancel')
        return views.plan(utils.service(plan_service.PlanService).cancel(plan_id))
