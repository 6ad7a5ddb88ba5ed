"""Rules of drain jobs: /v1/drains and a host's current drain."""

from oslo_policy import policy

from migrator.common.policies.base import ADMIN, READER

rules = [
    policy.DocumentedRuleDefault(
        name='migrator:drain:list', check_str=READER, description='List drain jobs.',
        operations=[{'method': 'GET', 'path': '/v1/drains'}]),
    policy.DocumentedRuleDefault(
        name='migrator:drain:get', check_str=READER,
        description="Show a drain job, or a host's newest one.",
        operations=[{'method': 'GET', 'path': '/v1/drains/{drain_id}'},
                    {'method': 'GET', 'path': '/v1/hosts/{host}/drain'}]),
    policy.DocumentedRuleDefault(
        name='migrator:drain:cancel', check_str=ADMIN,
        description='Cancel what has not started of a drain job.',
        operations=[{'method': 'DELETE', 'path': '/v1/drains/{drain_id}'},
                    {'method': 'DELETE', 'path': '/v1/hosts/{host}/drain'}]),
]


def list_rules():
    return rules
