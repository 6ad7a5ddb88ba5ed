"""Rules of /v1/plans (rebalance plans)."""

from migrator.common.policies.base import ADMIN, READER, operation

rules = [
    operation('migrator:plan:create', ADMIN, 'Compute a rebalance plan (moves nothing).',
              'POST', '/v1/plans'),
    operation('migrator:plan:list', READER, 'List rebalance plans.', 'GET', '/v1/plans'),
    operation('migrator:plan:get', READER, 'Show a rebalance plan and its moves.',
              'GET', '/v1/plans/{plan_id}'),
    operation('migrator:plan:apply', ADMIN, "Apply a plan: start its migrations.",
              'POST', '/v1/plans/{plan_id}/apply'),
    operation('migrator:plan:cancel', ADMIN,
              'Cancel a planned plan, so that it is never applied (moves nothing).',
              'POST', '/v1/plans/{plan_id}/cancel'),
]


def list_rules():
    return rules
