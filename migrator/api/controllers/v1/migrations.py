"""POST /v1/migrations, GET /v1/migrations[?status=&instance=&host=&limit=&marker=],
GET /v1/migrations/{id}, DELETE /v1/migrations/{id} (abort); its samples and actions are
sub-resources (migration_samples, migration_actions)."""

import urllib.parse

import oslo_messaging as messaging
import pecan
from oslo_config import cfg
from oslo_log import log as logging
from pecan import expose, rest

from migrator.api import hooks, microversion, policy, schemas, views
from migrator.api.controllers.v1 import migration_actions, migration_samples, utils
from migrator.common import aborts, convergence, exceptions, notifications, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

LIST_PARAMS = ('status', 'instance', 'host', 'limit', 'marker')


class MigrationsController(rest.RestController):
    samples = migration_samples.MigrationSamplesController()
    action = migration_actions.MigrationActionController()

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:migration:list')
        params = utils.check_params(kwargs, LIST_PARAMS)
        status = params['status']
        if status is not None and status not in states.ALL:
            raise exceptions.Invalid(f"status '{status}' is not a migration state; the states "
                                     f"are: {', '.join(sorted(states.ALL))}")
        limit = utils.parse_limit(params['limit'], CONF.api.default_limit,
                                  CONF.api.max_limit)
        marker = params['marker']
        records = pecan.request.db.migration_list(
            status=status, instance=params['instance'], host=params['host'], limit=limit,
            marker=marker)
        result = {'migrations': [views.migration(m, with_events=False) for m in records]}
        if len(records) >= limit:
            query = {k: v for k, v in params.items() if v is not None and k != 'marker'}
            query['limit'] = limit
            query['marker'] = records[-1]['id']
            result['next'] = (f'{pecan.request.application_url}/v1/migrations?'
                              f'{urllib.parse.urlencode(query)}')
        return result

    @expose('json')
    def get_one(self, migration_ident, **kwargs):
        policy.authorize('migrator:migration:get')
        utils.check_params(kwargs, ())
        db = pecan.request.db
        migration = db.migration_get(migration_ident)
        return views.migration(migration,
                               samples_count=db.migration_sample_count(migration['id']))

    @expose('json')
    def post(self, *args, **kwargs):
        # pecan may have parsed a form-encoded body into kwargs; the body is JSON regardless.
        request = pecan.request
        db, conductor_api = request.db, request.conductor_api
        ctxt = hooks.get_context(request)

        document = schemas.parse_json(request.body)
        # A dry run creates nothing, so it has a rule of its own (readers may ask it).
        dry_run = isinstance(document, dict) and document.get('dry_run') is True
        policy.authorize('migrator:migration:dry_run' if dry_run
                         else 'migrator:migration:create')
        body = schemas.validate(schemas.MIGRATION_CREATE, document)
        migration_type = body['type']
        if migration_type == 'cold' and body['block_migration'] not in ('auto', None):
            raise exceptions.Invalid(
                "field 'block_migration' applies to live migrations only: a cold migration "
                "always copies the disks that are not on storage shared with the target; "
                "leave it out")
        target = body['target_host']
        # Stored as null for "auto": the conductor decides per disk.
        block_migration = body['block_migration']
        if block_migration == 'auto':
            block_migration = None
        controls = None
        if migration_type == 'live':
            controls = convergence.effective(body)
        elif convergence.requested(body):
            raise exceptions.Invalid(
                f"fields {', '.join(sorted(convergence.requested(body)))} apply to live "
                f"migrations only, not {migration_type}")

        instance = db.instance_get(body['instance'])
        source = instance.get('host')
        if not source:
            raise exceptions.Conflict(
                f"Instance '{body['instance']}' has no host: nobody knows where it runs, so it "
                f"cannot be migrated. `migrator-manage instance show {instance['uuid']}` tells "
                "more.")
        if target is not None:
            target = db.host_get(target)['name']
            if target == source:
                raise exceptions.SameHost(host=target, instance=instance['uuid'])

        if body['dry_run']:
            # Only the scheduler's answer: nothing is created, claimed or moved.
            answer = conductor_api.schedule_dry_run(
                ctxt, instance['uuid'], migration_type, target_host=target,
                block_migration=body['block_migration'])
            if controls is not None and microversion.at_least('1.4'):
                # What the migration would run with, so a client (the dashboard's Migrate
                # form) can show the operator the defaults it would leave in force.
                answer = dict(answer, convergence=controls)
            return {'dry_run': answer}

        # The conductor's scheduler answers now whether the request can be placed, so a
        # request without any room is a 409 here (naming the filter that refused it)
        # instead of a failed migration later.
        destination = conductor_api.select_destination(
            ctxt, instance['uuid'], migration_type, target_host=target,
            block_migration=block_migration)
        LOG.info('Instance %s (%s) on %s could go to %s now', instance['uuid'],
                 instance['name'], source, destination)

        migration = db.migration_create({
            'instance_uuid': instance['uuid'],
            'instance_name': instance['name'],
            'type': migration_type,
            'source_host': source,
            'requested_target': target,
            'block_migration': block_migration,
            'convergence': controls,
            'priority': body['priority'],
        })
        try:
            conductor_api.migrate(ctxt, migration['id'])
        except Exception as exc:
            self._fail_unsent(db, migration['id'], exc)
            raise
        LOG.info('Accepted %s migration %s of instance %s from %s (requested target %s)',
                 migration_type, migration['id'], instance['uuid'], source, target or 'any')

        pecan.response.status = 202
        pecan.response.headers['Location'] = (
            f"{request.application_url}/v1/migrations/{migration['id']}")
        return views.migration(db.migration_get(migration['id']))

    @expose('json')
    def delete(self, migration_ident, **kwargs):
        """Abort: 202 with the migration, which then ends `cancelled` (the instance stays on,
        or goes back to, its source host); 409 once it cannot be aborted any more."""
        policy.authorize('migrator:migration:abort')
        utils.check_params(kwargs, ())
        request = pecan.request
        db = request.db
        migration = db.migration_get(migration_ident)
        # Two rounds at most: an unstarted migration taken by a conductor meanwhile is
        # asked of that conductor in the second.
        for _attempt in range(2):
            refusal = aborts.refusal(migration)
            if refusal:
                raise exceptions.Conflict(refusal)
            if migration['status'] in aborts.UNSTARTED:
                try:
                    migration = db.migration_cancel_unstarted(migration['id'],
                                                              aborts.API_REASON)
                    break
                except exceptions.InvalidStateTransition:
                    migration = db.migration_get(migration['id'])
                    continue
            migration = self._ask_conductor(request, migration)
            break
        LOG.info('Abort of migration %s accepted (%s)', migration['id'], migration['status'])
        notifications.migration_event('migration.abort', migration, hooks.get_context(request),
                                      reason=aborts.API_REASON)
        pecan.response.status = 202
        return views.migration(migration)

    @staticmethod
    def _ask_conductor(request, migration):
        conductor = migration['conductor']
        timeout = CONF.api.rpc_timeout
        if not conductor:
            raise exceptions.Conflict(
                f"Migration {migration['id']} is {migration['status']} but no conductor is "
                "recorded as running it; nothing was changed.")
        try:
            return request.conductor_api.abort_migration(
                hooks.get_context(request), conductor, migration['id'], aborts.API_REASON)
        except messaging.MessagingTimeout:
            raise exceptions.ConductorUnavailable(conductor=conductor, id=migration['id'],
                                                  timeout=timeout) from None

    @staticmethod
    def _fail_unsent(db, migration_id, exc):
        """The cast to the conductor failed: no conductor will ever run this migration, so
        it must not stay 'accepted' and block the instance."""
        try:
            db.migration_transition(
                migration_id, [states.ACCEPTED], states.FAILED,
                detail=f'the API could not hand the migration to a conductor: {exc}',
                values={'error': f'could not reach migrator-conductor: {exc}'})
        except Exception:
            LOG.exception('Could not mark migration %s failed after the cast failed',
                          migration_id)
