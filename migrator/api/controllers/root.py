"""GET / : the version document."""

import pecan
from pecan import expose

from migrator.api import microversion
from migrator.api.controllers import v1


def version_doc(application_url):
    return {
        'id': 'v1',
        'status': 'CURRENT',
        'links': [{'rel': 'self', 'href': application_url + '/v1'}],
        'min_version': str(microversion.MIN_VERSION),
        'version': str(microversion.MAX_VERSION),
    }


class RootController:
    v1 = v1.V1Controller()

    @expose(generic=True, template='json')
    def index(self, *args, **kwargs):
        pecan.abort(405)

    @index.when(method='GET', template='json')
    def index_get(self, **kwargs):
        return {'versions': [version_doc(pecan.request.application_url)]}
