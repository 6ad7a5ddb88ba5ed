"""GET /v1/conductors (microversion 1.3): every conductor that has run, with its heartbeat,
the version it runs, and whether it is alive (see migrator.conductor.takeover)."""

import pecan
from pecan import expose, rest

from migrator.api import microversion, openapi, policy, views
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions

SINCE = openapi.CONDUCTORS_SINCE


class ConductorsController(rest.RestController):

    @expose('json')
    def get_all(self, **kwargs):
        if not microversion.at_least(SINCE):
            raise exceptions.NotFound(
                f'GET /v1/conductors needs API microversion {SINCE} or later: send '
                f'{microversion.HEADER}: {microversion.SERVICE_TYPE} {SINCE}')
        policy.authorize('migrator:conductor:list')
        utils.check_params(kwargs, ())
        return {'conductors': [views.conductor(r) for r in pecan.request.db.conductor_list()]}
