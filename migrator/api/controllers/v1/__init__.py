"""GET /v1 : the v1 document, and the v1 resources."""

import pecan
from pecan import expose

from migrator.api import microversion
from migrator.api.controllers.v1 import (
    audit,
    conductors,
    drains,
    hosts,
    instances,
    migrations,
    openapi_doc,
    plans,
    server_groups,
)


class V1Controller:
    hosts = hosts.HostsController()
    instances = instances.InstancesController()
    migrations = migrations.MigrationsController()
    drains = drains.DrainsController()
    plans = plans.PlansController()
    audit = audit.AuditController()
    conductors = conductors.ConductorsController()

    @expose(generic=True, template='json')
    def index(self, *args, **kwargs):
        pecan.abort(405)

    @index.when(method='GET', template='json')
    def index_get(self, **kwargs):
        base = pecan.request.application_url + '/v1'
        return {
            'id': 'v1',
            'status': 'CURRENT',
            'links': [{'rel': 'self', 'href': base}] + [
                {'rel': name, 'href': f'{base}/{name}'}
                for name in ('hosts', 'instances', 'migrations', 'drains', 'plans',
                             'server-groups', 'audit')
                + (('conductors',) if microversion.at_least(conductors.SINCE) else ())
            ] + [{'rel': 'describedby', 'href': f'{base}/openapi.json',
                  'type': 'application/vnd.oai.openapi+json'}],
            'min_version': str(microversion.MIN_VERSION),
            'version': str(microversion.MAX_VERSION),
        }


# Not a Python name: routed by hand.
pecan.route(V1Controller, 'server-groups', server_groups.ServerGroupsController())
pecan.route(V1Controller, 'openapi.json', openapi_doc.OpenAPIController())
