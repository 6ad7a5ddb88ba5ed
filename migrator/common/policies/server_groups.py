"""Rules of /v1/server-groups."""

from migrator.common.policies.base import ADMIN, READER, operation

PREFIX = 'migrator:server_group:%s'
PATH = '/v1/server-groups'

rules = [
    operation(PREFIX % 'list', READER, 'List server groups.', 'GET', PATH),
    operation(PREFIX % 'get', READER, 'Show a server group.', 'GET', PATH + '/{group}'),
    operation(PREFIX % 'create', ADMIN, 'Create a server group (affinity or anti-affinity).',
              'POST', PATH),
    operation(PREFIX % 'delete', ADMIN, 'Delete a server group.',
              'DELETE', PATH + '/{group}'),
    operation(PREFIX % 'add_member', ADMIN, 'Add an instance to a server group.',
              'POST', PATH + '/{group}/members'),
    operation(PREFIX % 'remove_member', ADMIN, 'Remove an instance from a server group.',
              'DELETE', PATH + '/{group}/members/{instance}'),
]


def list_rules():
    return rules
