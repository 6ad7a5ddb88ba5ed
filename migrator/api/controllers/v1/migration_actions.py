"""POST /v1/migrations/{id}/action {"force_complete": null}: act on a running migration.

force_complete makes a running live migration finish: the conductor has the source agent
switch the job to post-copy when the migration was started with post_copy permitted, or
pause the guest otherwise (libvirt resumes it on the target at switchover). 202 with the
migration; 409 when it is not running.

reset_state {"state": "error"|"failed", "reason": text} (administrators only) ends a
migration in flight that nothing will settle by itself: bookkeeping only (no host is touched),
recorded as an event with the reason; its instance lock, slots and claims are given back.
200 with the migration; 409 for a migration that has already ended.
"""

import pecan
from oslo_log import log as logging
from pecan import expose, rest

from migrator.api import hooks, schemas, views
from migrator.common import exceptions, states

LOG = logging.getLogger(__name__)


class MigrationActionController(rest.RestController):

    @expose('json')
    def post(self, migration_ident, *args, **kwargs):
        request = pecan.request
        body = schemas.validate(schemas.MIGRATION_ACTION, schemas.parse_json(request.body))
        migration = request.db.migration_get(migration_ident)
        if 'force_complete' in body:
            if migration['type'] != 'live' or migration['status'] != states.RUNNING:
                raise exceptions.Conflict(
                    f"Migration {migration['id']} is a {migration['type']} migration in state "
                    f"{migration['status']}: only a running live migration can be forced to "
                    "complete.")
            result = request.conductor_api.force_complete(hooks.get_context(request),
                                                          migration['id'])
            LOG.info('Migration %s: force_complete -> %s', migration['id'],
                     result.get('forced'))
            view = views.migration(request.db.migration_get(migration['id']))
            view['forced'] = result.get('forced')
            pecan.response.status = 202
            return view
        if 'reset_state' in body:
            ctxt = hooks.get_context(request)
            if not ctxt.is_admin:
                raise exceptions.Forbidden('Only an administrator may reset the state of a '
                                           'migration.')
            reset = body['reset_state']
            done = request.db.migration_reset_state(migration['id'], reset['state'],
                                                    reset['reason'])
            LOG.warning('Migration %s reset from %s to %s by an administrator: %s',
                        migration['id'], migration['status'], reset['state'],
                        reset['reason'])
            return views.migration(done)
        raise exceptions.Invalid(f'unknown action in {sorted(body)}')
