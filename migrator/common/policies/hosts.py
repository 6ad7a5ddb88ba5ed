"""Rules of /v1/hosts and /v1/instances."""

from migrator.common.policies.base import ADMIN, READER, operation

rules = [
    operation('migrator:host:list', READER, 'List hosts.', 'GET', '/v1/hosts'),
    operation('migrator:host:get', READER, 'Show a host.', 'GET', '/v1/hosts/{host}'),
    operation('migrator:host:update', ADMIN,
              'Set the status of a host (enabled, disabled, maintenance) and its reason.',
              'PUT', '/v1/hosts/{host}'),
    operation('migrator:host:drain', ADMIN,
              'Drain a host: maintenance, and every guest moves off it.',
              'POST', '/v1/hosts/{host}/drain'),
    operation('migrator:host:undrain', ADMIN,
              'Put a host back in service, optionally bringing its drained guests back.',
              'POST', '/v1/hosts/{host}/undrain'),
    operation('migrator:instance:list', READER, 'List instances.', 'GET', '/v1/instances'),
    operation('migrator:instance:get', READER, 'Show an instance.',
              'GET', '/v1/instances/{instance}'),
]


def list_rules():
    return rules
