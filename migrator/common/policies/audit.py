"""Rules of /v1/audit."""

from migrator.common.policies.base import ADMIN, READER, operation

PREFIX = 'migrator:audit:%s'

rules = [
    operation(PREFIX % 'get', READER,
              'Compare the database with what every hypervisor reports now (changes nothing).',
              'GET', '/v1/audit'),
    operation(PREFIX % 'fix', ADMIN,
              "Repair the audit's safe bookkeeping discrepancies (POST with fix: true); "
              'a POST without fix is checked against migrator:audit:get.',
              'POST', '/v1/audit'),
]


def list_rules():
    return rules
