"""Rules of /v1/conductors."""

from migrator.common.policies.base import READER, operation

rules = [
    operation('migrator:conductor:list', READER,
              'List the conductors with their heartbeat, version and state.',
              'GET', '/v1/conductors'),
]


def list_rules():
    return rules
