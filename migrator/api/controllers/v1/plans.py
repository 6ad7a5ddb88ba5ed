"""POST /v1/plans, GET /v1/plans[?status=&limit=&marker=], GET /v1/plans/{id},
POST /v1/plans/{id}/apply, POST /v1/plans/{id}/cancel (microversion 1.4)"""

import pecan
from oslo_config import cfg
from oslo_log import log as logging
from pecan import expose, rest

from migrator.api import hooks, microversion, plan_schemas, policy, schemas, views
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions
from migrator.db import models

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class PlansController(rest.RestController):

    _custom_actions = {'apply': ['POST'], 'cancel': ['POST']}

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:plan:list')
        params = utils.check_params(kwargs, ('status', 'limit', 'marker'))
        status = params['status']
        if status is not None and status not in models.PLAN_STATUSES:
            raise exceptions.Invalid(f"status '{status}' is not a plan state; the states are: "
                                     f"{', '.join(models.PLAN_STATUSES)}")
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
        plan_id = request.conductor_api.create_plan(
            hooks.get_context(request), body['goal'], max_moves=body['max_moves'],
            min_gain=body['min_gain'], max_parallel=body['max_parallel'])
        plan = request.db.plan_get(plan_id)
        LOG.info('Plan %s: %d moves, score %.4f -> %.4f', plan_id, len(plan['moves']),
                 plan['score_before'], plan['score_after'])
        pecan.response.status = 201
        pecan.response.headers['Location'] = f'{request.application_url}/v1/plans/{plan_id}'
        return views.plan(plan)

    @expose('json')
    def apply(self, plan_id, *args, **kwargs):
        policy.authorize('migrator:plan:apply')
        request = pecan.request
        if args:
            pecan.abort(404)
        db = request.db
        plan = db.plan_get(plan_id)
        if plan['status'] != models.PLAN_PLANNED:
            raise exceptions.Conflict(
                f"Plan {plan_id} is {plan['status']}: only a plan that is planned can be "
                "applied, once. Create a new plan (POST /v1/plans) to rebalance again.")
        # The compare-and-swap decides between two concurrent apply requests.
        db.plan_transition(plan_id, models.PLAN_PLANNED, models.PLAN_APPLYING)
        try:
            request.conductor_api.apply_plan(hooks.get_context(request), plan_id)
        except Exception as exc:
            db.plan_transition(plan_id, models.PLAN_APPLYING, models.PLAN_FAILED,
                               {'error': f'could not reach migrator-conductor: {exc}'})
            raise
        pecan.response.status = 202
        pecan.response.headers['Location'] = f'{request.application_url}/v1/plans/{plan_id}'
        return views.plan(db.plan_get(plan_id))

    @expose('json')
    def cancel(self, plan_id, *args, **kwargs):
        if args or not microversion.at_least('1.4'):
            # Unknown to clients of older microversions, as any path it does not serve.
            pecan.abort(404)
        policy.authorize('migrator:plan:cancel')
        db = pecan.request.db
        plan = db.plan_get(plan_id)
        if plan['status'] != models.PLAN_PLANNED:
            raise exceptions.Conflict(
                f"Plan {plan_id} is {plan['status']}: only a plan that is planned can be "
                "cancelled. A plan being applied runs its moves as migrations: abort those "
                "(DELETE /v1/migrations/{id}) to stop it.")
        # The compare-and-swap decides against a concurrent apply: one of them wins.
        db.plan_transition(plan_id, models.PLAN_PLANNED, models.PLAN_CANCELLED)
        LOG.info('Plan %s cancelled', plan_id)
        return views.plan(db.plan_get(plan_id))
