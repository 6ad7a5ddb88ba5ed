"""Rebalance plans: create one (the conductor plans it), apply one or cancel one."""

from oslo_log import log as logging

from migrator.api.service import handoff
from migrator.common import exceptions, states

LOG = logging.getLogger(__name__)


class PlanService:

    def __init__(self, db, conductor_api, ctxt):
        self.db = db
        self.conductor_api = conductor_api
        self.ctxt = ctxt

    def create(self, goal, max_moves=None, min_gain=None, max_parallel=None):
        """Has a conductor plan the rebalance now; returns the plan (nothing moves yet)."""
        plan_id = self.conductor_api.create_plan(self.ctxt, goal, max_moves=max_moves,
                                                 min_gain=min_gain, max_parallel=max_parallel)
        plan = self.db.plan_get(plan_id)
        LOG.info('Plan %s: %d moves, score %.4f -> %.4f', plan_id, len(plan['moves']),
                 plan['score_before'], plan['score_after'])
        return plan

    def apply(self, plan_id):
        """Hands a planned plan to a conductor, which applies it jobset by jobset."""
        plan = self.db.plan_get(plan_id)
        if plan['status'] != states.PLAN_PLANNED:
            raise exceptions.Conflict(
                f"Plan {plan_id} is {plan['status']}: only a plan that is planned can be "
                "applied, once. Create a new plan (POST /v1/plans) to rebalance again.")
        # The compare-and-swap decides between two concurrent apply requests.
        self.db.plan_transition(plan_id, states.PLAN_PLANNED, states.PLAN_APPLYING)
        handoff.hand_over(
            lambda: self.conductor_api.apply_plan(self.ctxt, plan_id),
            lambda exc: self.db.plan_transition(plan_id, states.PLAN_APPLYING,
                                                states.PLAN_FAILED,
                                                {'error': handoff.unreachable_reason(exc)}),
            f'plan {plan_id}')
        return self.db.plan_get(plan_id)

    def cancel(self, plan_id):
        """A planned plan becomes cancelled and can never be applied; returns it."""
        plan = self.db.plan_get(plan_id)
        if plan['status'] != states.PLAN_PLANNED:
            raise exceptions.Conflict(
                f"Plan {plan_id} is {plan['status']}: only a plan that is planned can be "
                "cancelled. A plan being applied runs its moves as migrations: abort those "
                "(DELETE /v1/migrations/{id}) to stop it.")
        # The compare-and-swap decides against a concurrent apply: one of them wins.
        self.db.plan_transition(plan_id, states.PLAN_PLANNED, states.PLAN_CANCELLED)
        LOG.info('Plan %s cancelled', plan_id)
        return self.db.plan_get(plan_id)
