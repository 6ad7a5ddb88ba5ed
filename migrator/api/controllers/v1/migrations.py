"""POST /v1/migrations, GET /v1/migrations[?status=&instance=&host=&limit=&marker=],
GET /v1/migrations/{id}"""

import urllib.parse

import pecan
from oslo_config import cfg
from oslo_log import log as logging
from pecan import expose, rest

from migrator.api import hooks, schemas, views
from migrator.api.controllers.v1 import utils
from migrator.common import exceptions, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

LIST_PARAMS = ('status', 'instance', 'host', 'limit', 'marker')


class MigrationsController(rest.RestController):

    @expose('json')
    def get_all(self, **kwargs):
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
        utils.check_params(kwargs, ())
        return views.migration(pecan.request.db.migration_get(migration_ident))

    @expose('json')
    def post(self, *args, **kwargs):
        # pecan may have parsed a form-encoded body into kwargs; the body is JSON regardless.
        request = pecan.request
        db, conductor_api = request.db, request.conductor_api
        ctxt = hooks.get_context(request)

        body = schemas.validate(schemas.MIGRATION_CREATE, schemas.parse_json(request.body))
        migration_type = body['type']
        target = body['target_host']

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
            return {'dry_run': conductor_api.schedule_dry_run(
                ctxt, instance['uuid'], migration_type, target_host=target,
                block_migration=body['block_migration'])}

        # The conductor's scheduler answers now whether the request can be placed, so a
        # request without any room is a 409 here (naming the filter that refused it)
        # instead of a failed migration later.
        destination = conductor_api.select_destination(
            ctxt, instance['uuid'], migration_type, target_host=target,
            block_migration=body['block_migration'])
        LOG.info('Instance %s (%s) on %s could go to %s now', instance['uuid'],
                 instance['name'], source, destination)

        migration = db.migration_create({
            'instance_uuid': instance['uuid'],
            'instance_name': instance['name'],
            'type': migration_type,
            'source_host': source,
            'requested_target': target,
            'block_migration': body['block_migration'],
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
