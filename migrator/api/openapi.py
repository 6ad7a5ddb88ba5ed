"""The OpenAPI 3.1 document of the API (GET /v1/openapi.json), built from the request schemas
that validate bodies (schemas.py, drain_schemas.py, plan_schemas.py, scheduler_schemas.py)
and the response schemas the views are tested against (response_schemas.py).

The document describes one microversion: the request's (the header, or 1.0 without it), so
what it says is what a client sending the same header gets.
"""

from migrator.api import (
    audit_schemas,
    drain_schemas,
    microversion,
    plan_schemas,
    response_schemas,
    scheduler_schemas,
    schemas,
)
from migrator.common import states

JSON = 'application/json'

# The microversion GET /v1/conductors came with.
CONDUCTORS_SINCE = '1.3'


def _param(name, where='query', description='', schema=None, required=None):
    return {'name': name, 'in': where, 'description': description,
            'required': where == 'path' if required is None else required,
            'schema': schema or {'type': 'string'}}


def _path_param(name, description):
    return _param(name, 'path', description, {'type': 'string', 'minLength': 1})


LIMIT = _param('limit', description='Page size, 1 to [api] max_limit.',
               schema={'type': 'integer', 'minimum': 1})
MARKER = _param('marker', description='Id of the last item of the previous page.')

_ERRORS = {
    '400': 'The request is malformed: the message says what to fix.',
    '404': 'Nothing by that name or id.',
    '401': 'No credentials, or bad ones ([DEFAULT] auth_strategy).',
    '403': 'The policy does not allow the caller this operation; the message names the rule.',
    '406': 'The microversion asked for is not served.',
    '409': 'The request conflicts with the current state.',
    '413': 'The request body is larger than [oslo_middleware] max_request_body_size.',
    '415': 'A POST, PUT or PATCH without Content-Type: application/json.',
    '503': 'The conductor, the message bus or the database is unavailable.',
}

# What the layers in front of every controller may answer (migrator/api/middleware.py,
# auth.py, policy.py), whatever the operation.
_EDGE_ERRORS = ('401', '403')
_BODY_ERRORS = ('413', '415')


def _with_edge_errors(paths):
    for methods in paths.values():
        for method, op in methods.items():
            codes = _EDGE_ERRORS + (_BODY_ERRORS if method in ('post', 'put', 'patch') else ())
            for code in codes:
                op['responses'].setdefault(code,
                                           {'$ref': f'#/components/responses/Error{code}'})
    return paths


def _body(schema):
    # The request schemas carry defaults for validation; a copy keeps the originals intact.
    return {'required': True, 'content': {JSON: {'schema': dict(schema)}}}


def _response(description, schema=None):
    result = {'description': description}
    if schema is not None:
        result['content'] = {JSON: {'schema': schema}}
    return result


def _migration_create(version):
    """The create body as `version` takes it: "forecast" from 1.9."""
    if version >= microversion.Version.parse(microversion.FORECAST_OPT_OUT_SINCE):
        return schemas.MIGRATION_CREATE
    properties = {k: v for k, v in schemas.MIGRATION_CREATE['properties'].items()
                  if k != 'forecast'}
    return dict(schemas.MIGRATION_CREATE, properties=properties)


def _operation(op_id, summary, responses, params=(), body=None, errors=('400', '404')):
    op = {'operationId': op_id, 'summary': summary, 'parameters': list(params),
          'responses': dict(responses)}
    for code in errors:
        op['responses'][code] = {'$ref': f'#/components/responses/Error{code}'}
    op['responses'].setdefault('406', {'$ref': '#/components/responses/Error406'})
    if body is not None:
        op['requestBody'] = _body(body)
    return op


def _paths(version):
    rs = response_schemas
    mig = rs.migration(version)
    host = _path_param('host_name', 'Name of the host.')
    mig_id = _path_param('migration_id', 'Id of the migration.')
    drain_id = _path_param('drain_id', 'Id of the drain job.')
    plan_id = _path_param('plan_id', 'Id of the plan.')
    group = _path_param('group', 'Id or name of the server group.')
    status = _param('status', description='Only migrations in this state.',
                    schema={'type': 'string', 'enum': sorted(states.ALL)})
    paths = {
        '/': {'get': _operation('listVersions', 'The API versions.',
                                {'200': _response('The versions.', rs.VERSIONS)}, errors=())},
        '/v1': {'get': _operation('showV1', 'The v1 document, with its microversion range.',
                                  {'200': _response('The v1 document.', rs.VERSION)},
                                  errors=())},
        '/v1/openapi.json': {'get': _operation(
            'showOpenAPI', 'This document, for the microversion asked for.',
            {'200': _response('An OpenAPI 3.1 document.', {'type': 'object'})}, errors=())},
        '/v1/hosts': {'get': _operation(
            'listHosts', 'The hypervisor hosts.',
            {'200': _response('The hosts.', rs.paged('hosts', rs.host(version)))},
            errors=('400',))},
        '/v1/hosts/{host_name}': {
            'get': _operation('showHost', 'One host.',
                              {'200': _response('The host.', rs.host(version))}, [host]),
            'put': _operation('updateHost', 'Enable, disable or put a host in maintenance.',
                              {'200': _response('The host.', rs.host(version))}, [host],
                              scheduler_schemas.HOST_UPDATE),
        },
        '/v1/hosts/{host_name}/drain': {
            'get': _operation('showHostDrain', "The host's newest drain or return job.",
                              {'200': _response('The job.', rs.DRAIN)}, [host]),
            'post': _operation('drainHost', 'Move every guest off the host (maintenance).',
                               {'202': _response('The drain job, accepted.', rs.DRAIN)},
                               [host], drain_schemas.DRAIN_CREATE,
                               errors=('400', '404', '409', '503')),
            'delete': _operation('cancelHostDrain', "Cancel the host's running job.",
                                 {'202': _response('The job.', rs.DRAIN)}, [host],
                                 errors=('400', '404', '409')),
        },
        '/v1/hosts/{host_name}/undrain': {'post': _operation(
            'undrainHost', 'Put the host back in service, optionally returning its guests.',
            {'200': _response('The host; no guests to return.', rs.undrain(version)),
             '202': _response('The host, and the return job accepted.',
                              rs.undrain(version))},
            [host], drain_schemas.UNDRAIN, errors=('400', '404', '409', '503'))},
        '/v1/instances': {'get': _operation(
            'listInstances', 'The instances.',
            {'200': _response('The instances.', rs.paged('instances', rs.INSTANCE))},
            [_param('host', description='Only the instances on this host.')])},
        '/v1/instances/{instance}': {'get': _operation(
            'showInstance', 'One instance, by UUID or name.',
            {'200': _response('The instance.', rs.INSTANCE)},
            [_path_param('instance', 'UUID or name of the instance.')])},
        **({'/v1/instances/{instance}/observations': {'get': _operation(
            'listInstanceObservations', 'What its completed live migrations showed, newest '
            'first (from 1.5).',
            {'200': _response('The observations.', rs.observations(version))},
            [_path_param('instance', 'UUID or name of the instance.')])}}
           if version >= microversion.Version.parse(microversion.CONVERGENCE_SINCE) else {}),
        '/v1/migrations': {
            'get': _operation(
                'listMigrations', 'Migrations, newest first.',
                {'200': _response('A page of migrations.', rs.migration_list(version))},
                [status, _param('instance', description='UUID or name of the instance.'),
                 _param('host', description='Source or target host.'), LIMIT, MARKER]),
            'post': _operation(
                'createMigration', 'Move an instance (or, with dry_run, only ask where).',
                {'202': _response('The migration, accepted.', mig),
                 '200': _response("dry_run: the scheduler's answer.", rs.dry_run(version))},
                body=_migration_create(version), errors=('400', '404', '409', '503')),
        },
        '/v1/migrations/{migration_id}': {
            'get': _operation('showMigration', 'One migration, with its history.',
                              {'200': _response('The migration.', rs.migration(
                                  version, samples_count=True, convergence_verdict=True))},
                              [mig_id]),
            'delete': _operation('abortMigration', 'Abort a migration.',
                                 {'202': _response('The migration, being aborted.', mig)},
                                 [mig_id], errors=('400', '404', '409', '503')),
        },
        '/v1/migrations/{migration_id}/samples': {'get': _operation(
            'listMigrationSamples', 'Progress samples of a migration, oldest first.',
            {'200': _response('The samples.', rs.samples())},
            [mig_id, LIMIT, _param('marker', description='Id of the last sample seen.',
                                   schema={'type': 'integer'})])},
        '/v1/migrations/{migration_id}/action': {'post': _operation(
            'migrationAction', 'Act on a running migration (force_complete).',
            {'202': _response('The migration.', rs.migration(version, forced=True))},
            [mig_id], schemas.MIGRATION_ACTION, errors=('400', '404', '409', '503'))},
        '/v1/drains': {'get': _operation(
            'listDrains', 'Drain and return jobs, newest first.',
            {'200': _response('The jobs.', rs.paged('drains', rs.DRAIN))},
            [_param('host', description='Only the jobs of this host.'), LIMIT])},
        '/v1/drains/{drain_id}': {
            'get': _operation('showDrain', 'One drain or return job.',
                              {'200': _response('The job.', rs.DRAIN)}, [drain_id]),
            'delete': _operation('cancelDrain', 'Cancel what has not started of a job.',
                                 {'202': _response('The job.', rs.DRAIN)}, [drain_id],
                                 errors=('400', '404', '409')),
        },
        '/v1/plans': {
            'get': _operation('listPlans', 'Rebalance plans, newest first.',
                              {'200': _response(
                                  'The plans.',
                                  rs.paged('plans', rs.plan(version, with_moves=False)))},
                              [_param('status', description='Only plans in this state.'),
                               LIMIT]),
            'post': _operation('createPlan', 'Plan a rebalance of the cluster.',
                               {'201': _response('The plan.', rs.plan(version))},
                               body=plan_schemas.PLAN_CREATE, errors=('400', '409', '503')),
        },
        '/v1/plans/{plan_id}': {'get': _operation(
            'showPlan', 'One plan with its moves.',
            {'200': _response('The plan.', rs.plan(version))},
            [plan_id])},
        '/v1/plans/{plan_id}/apply': {'post': _operation(
            'applyPlan', 'Carry out a planned plan.',
            {'202': _response('The plan, applying.', rs.plan(version))}, [plan_id],
            errors=('400', '404', '409', '503'))},
        '/v1/server-groups': {
            'get': _operation('listServerGroups', 'Server groups.',
                              {'200': _response('The groups.',
                                                rs.paged('server_groups', rs.SERVER_GROUP))},
                              errors=('400',)),
            'post': _operation('createServerGroup', 'Create a server group.',
                               {'201': _response('The group.', rs.SERVER_GROUP)},
                               body=scheduler_schemas.SERVER_GROUP_CREATE,
                               errors=('400', '404', '409')),
        },
        '/v1/server-groups/{group}': {
            'get': _operation('showServerGroup', 'One server group.',
                              {'200': _response('The group.', rs.SERVER_GROUP)}, [group]),
            'delete': _operation('deleteServerGroup', 'Delete a server group.',
                                 {'204': _response('Deleted.')}, [group]),
        },
        '/v1/server-groups/{group}/members': {'post': _operation(
            'addServerGroupMember', 'Add an instance to a group.',
            {'200': _response('The group.', rs.SERVER_GROUP)}, [group],
            scheduler_schemas.SERVER_GROUP_MEMBER, errors=('400', '404', '409'))},
        '/v1/server-groups/{group}/members/{instance}': {'delete': _operation(
            'removeServerGroupMember', 'Remove an instance from a group.',
            {'200': _response('The group.', rs.SERVER_GROUP)},
            [group, _path_param('instance', 'UUID or name of the member.')])},
        '/v1/audit': {
            'get': _operation(
                'showAudit', 'The database compared with what every hypervisor says now.',
                {'200': _response('The discrepancies found.', rs.AUDIT)},
                errors=('400', '503')),
            'post': _operation(
                'runAudit', 'The audit; with fix, after the safe bookkeeping repairs.',
                {'200': _response('The repairs made and the discrepancies left.', rs.AUDIT)},
                body=audit_schemas.AUDIT_FIX, errors=('400', '503')),
        },
    }
    if version >= microversion.Version.parse(CONDUCTORS_SINCE):
        paths['/v1/conductors'] = {'get': _operation(
            'listConductors', 'The conductors: heartbeat, version, alive or dead.',
            {'200': _response('The conductors.', rs.CONDUCTORS)}, errors=('400',))}
    if version >= microversion.Version.parse(microversion.PLAN_CANCEL_SINCE):
        paths['/v1/plans/{plan_id}/cancel'] = {'post': _operation(
            'cancelPlan', 'Cancel a planned plan, so that it is never applied.',
            {'200': _response('The plan, cancelled.', rs.plan())}, [plan_id],
            errors=('400', '404', '409'))}
    return paths


def document(version=None, server_url=None):
    """The OpenAPI 3.1 document for `version` (default: the newest)."""
    version = version or microversion.MAX_VERSION
    history = '\n'.join(f'- {v}: {text}' for v, text in microversion.HISTORY.items())
    doc = {
        'openapi': '3.1.0',
        'jsonSchemaDialect': 'https://json-schema.org/draft/2020-12/schema',
        'info': {
            'title': 'migrator API',
            'version': f'1 (microversion {version})',
            'description': (
                'Compute-migration orchestration for KVM/libvirt fleets. Microversions: '
                f'send `{microversion.HEADER}: {microversion.SERVICE_TYPE} X.Y`; without it '
                f'a request is served as {microversion.MIN_VERSION}. This document describes '
                f'{version}.\n\n{history}'),
        },
        'paths': _with_edge_errors(_paths(version)),
        'components': {
            'schemas': {'Error': response_schemas.ERROR},
            'responses': {
                f'Error{code}': _response(text, {'$ref': '#/components/schemas/Error'})
                for code, text in _ERRORS.items()},
        },
    }
    if server_url:
        doc['servers'] = [{'url': server_url}]
    return doc
