"""POST /v1/migrations, GET /v1/migrations[?status=&instance=&host=&limit=&marker=],
GET /v1/migrations/{id}, DELETE /v1/migrations/{id} (abort); its samples and actions are
sub-resources (migration_samples, migration_actions)."""

import urllib.parse

import pecan
from oslo_config import cfg
from pecan import expose, rest

from migrator.api import microversion, policy, schemas, views
from migrator.api.controllers.v1 import migration_actions, migration_samples, utils
from migrator.api.service import migrations as migration_service
from migrator.common import exceptions, stall, states

CONF = cfg.CONF

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
        verdict = stall.diagnose_migration(
            migration, lambda mid, limit: db.migration_sample_list(mid, limit=limit),
            iterations=CONF.convergence.stall_iterations)
        return views.migration(migration,
                               samples_count=db.migration_sample_count(migration['id']),
                               convergence_verdict=verdict)

    @expose('json')
    def post(self, *args, **kwargs):
        # pecan may have parsed a form-encoded body into kwargs; the body is JSON regardless.
        request = pecan.request
        document = schemas.parse_json(request.body)
        # A dry run creates nothing, so it has a rule of its own (readers may ask it).
        dry_run = isinstance(document, dict) and document.get('dry_run') is True
        policy.authorize('migrator:migration:dry_run' if dry_run
                         else 'migrator:migration:create')
        if isinstance(document, dict) and 'forecast' in document and not \
                microversion.at_least(microversion.FORECAST_OPT_OUT_SINCE):
            raise exceptions.Invalid(
                f"field 'forecast' needs microversion {microversion.FORECAST_OPT_OUT_SINCE} "
                f"or later (OpenStack-API-Version: migration "
                f"{microversion.FORECAST_OPT_OUT_SINCE}); leave it out or ask for that version")
        body = schemas.validate(schemas.MIGRATION_CREATE, document)
        migration_request = migration_service.MigrationRequest.from_body(body)
        service = utils.service(migration_service.MigrationService)
        if migration_request.dry_run:
            answer = service.dry_run(migration_request)
            if migration_request.convergence is not None and microversion.at_least(
                    microversion.DRY_RUN_CONTROLS_SINCE):
                # What the migration would run with, so a client (the dashboard's Migrate
                # form) can show the operator the defaults it would leave in force.
                answer = dict(answer, convergence=migration_request.convergence)
            return {'dry_run': views.dry_run(answer)}
        migration = service.create(migration_request)
        pecan.response.status = 202
        pecan.response.headers['Location'] = (
            f"{request.application_url}/v1/migrations/{migration['id']}")
        return views.migration(migration)

    @expose('json')
    def delete(self, migration_ident, **kwargs):
        """Abort: 202 with the migration, which then ends `cancelled` (the instance stays on,
        or goes back to, its source host); 409 once it cannot be aborted any more."""
        policy.authorize('migrator:migration:abort')
        utils.check_params(kwargs, ())
        migration = utils.service(migration_service.MigrationService).abort(migration_ident)
        pecan.response.status = 202
        return views.migration(migration)
