"""GET /v1/openapi.json: the OpenAPI 3.1 document for the request's microversion."""

import pecan
from pecan import expose

from migrator.api import microversion, openapi
from migrator.api.controllers.v1 import utils


class OpenAPIController:

    @expose(generic=True, template='json')
    def index(self, *args, **kwargs):
        pecan.abort(405)

    @index.when(method='GET', template='json')
    def index_get(self, *args, **kwargs):
        if args:
            pecan.abort(404)
        utils.check_params(kwargs, ())
        return openapi.document(microversion.requested(), pecan.request.application_url)
