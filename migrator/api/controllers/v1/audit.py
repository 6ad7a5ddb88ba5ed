"""GET /v1/audit: the DB compared with what every hypervisor says now; POST /v1/audit
{"fix": true} (administrators): the same after the safe bookkeeping repairs.

A conductor does the work (conductor RPC `audit`): it asks every host's agent, live, for its
domains, and answers {"discrepancies": [{kind, subject, detail, fix}], "fixed": [lines],
"hosts_checked": [names]}. See migrator/conductor/audit.py for the kinds.
"""

import pecan
from oslo_log import log as logging
from pecan import expose, rest

from migrator.api import hooks, schemas
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions

LOG = logging.getLogger(__name__)

AUDIT_FIX = {
    'type': 'object',
    'properties': {
        'fix': {'type': 'boolean',
                'description': 'Repair what is safe (bookkeeping only) before answering.'},
    },
    'additionalProperties': False,
}


class AuditController(rest.RestController):

    @expose('json')
    def get_all(self, **kwargs):
        utils.check_params(kwargs, ())
        request = pecan.request
        return request.conductor_api.audit(hooks.get_context(request), fix=False)

    @expose('json')
    def post(self, *args, **kwargs):
        request = pecan.request
        body = schemas.validate(AUDIT_FIX, schemas.parse_json(request.body or b'{}'))
        ctxt = hooks.get_context(request)
        fix = body.get('fix', False)
        if fix and not ctxt.is_admin:
            raise exceptions.Forbidden('Only an administrator may repair what the audit '
                                       'finds.')
        result = request.conductor_api.audit(ctxt, fix=fix)
        if result.get('fixed'):
            LOG.warning('Audit repairs: %s', '; '.join(result['fixed']))
        return result
