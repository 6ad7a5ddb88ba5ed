"""GET /v1/audit: the DB compared with what every hypervisor says now; POST /v1/audit
{"fix": true} (administrators): the same after the safe bookkeeping repairs.

A conductor does the work (conductor RPC `audit`): it asks every host's agent, live, for its
domains, and answers {"discrepancies": [{kind, subject, detail, fix}], "fixed": [lines],
"hosts_checked": [names]}. See migrator/conductor/audit.py for the kinds.
"""

import pecan
from oslo_log import log as logging
from pecan import expose, rest

from migrator.api import audit_schemas, hooks, policy, schemas
from migrator.api.controllers.v1 import utils

LOG = logging.getLogger(__name__)



class AuditController(rest.RestController):

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:audit:get')
        utils.check_params(kwargs, ())
        request = pecan.request
        return request.conductor_api.audit(hooks.get_context(request), fix=False)

    @expose('json')
    def post(self, *args, **kwargs):
        request = pecan.request
        body = schemas.validate(audit_schemas.AUDIT_FIX, schemas.parse_json(request.body or b'{}'))
        fix = body.get('fix', False)
        policy.authorize('migrator:audit:fix' if fix else 'migrator:audit:get')
        ctxt = hooks.get_context(request)
        result = request.conductor_api.audit(ctxt, fix=fix)
        if result.get('fixed'):
            LOG.warning('Audit repairs: %s', '; '.join(result['fixed']))
        return result
