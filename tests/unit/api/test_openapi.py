"""The API contract: every response of every documented operation is valid against the
schema /v1/openapi.json gives for it (for each microversion), the document is built from the
request schemas the API validates with, and microversions shape responses."""

import json
import re

import jsonschema
import pytest

from migrator.api import microversion, openapi, schemas
from migrator.common import states
from migrator.conductor.tasks import rebalance
from tests.unit.api import fakes

VERSIONS = [str(microversion.MIN_VERSION), str(microversion.MAX_VERSION)]


def _header(version):
    return {microversion.HEADER: f'migration {version}'}


@pytest.fixture
def populated(db, conductor):
    """Hosts, instances, a finished migration with history and samples, a running one, a
    drain, a plan and a server group: every view has something to show."""
    for name in ('host1', 'host2', 'host3'):
        fakes.add_host(db, name, memory_mb_used=0, vcpus_used=0)
    fakes.add_instances(db, 'host1', 'vm1', 'vm2', 'vm3')
    fakes.add_instances(db, 'host2', 'vm4')
    done = db.migration_create({'instance_uuid': fakes.uuid_of('vm4'), 'instance_name': 'vm4',
                                'type': 'live', 'source_host': 'host2', 'priority': 0})
    for src, dst, values in (('accepted', 'scheduling', {'conductor': 'c1'}),
                             ('scheduling', 'preparing', {'target_host': 'host3'}),
                             ('preparing', 'running', {})):
        db.migration_transition(done['id'], [src], dst, detail='test', values=values)
    db.migration_update_progress(done['id'], {
        'progress': 50.0, 'memory_total': 2 ** 28, 'memory_processed': 2 ** 27,
        'data_processed': 2 ** 27, 'iteration': 1, 'downtime_ms': 40}, sample=True)
    db.migration_transition(done['id'], ['running'], 'finishing')
    db.migration_transition(done['id'], ['finishing'], 'completed')
    db.migration_create({'instance_uuid': fakes.uuid_of('vm1'), 'instance_name': 'vm1',
                         'type': 'cold', 'source_host': 'host1', 'priority': 5})
    db.drain_create({'kind': 'drain', 'host': 'host1', 'mode': 'live', 'max_parallel': 2,
                     'target_hosts': None},
                    items=[{'instance_uuid': fakes.uuid_of('vm2'), 'instance_name': 'vm2',
                            'source_host': 'host1'}],
                    host_status=('maintenance', 'drain'))
    conductor.planner = lambda goal, **kw: rebalance.create_plan(db, goal, **kw)['id']
    db.server_group_create('web', 'anti-affinity', [fakes.uuid_of('vm3')])
    db.conductor_register('c1', 'incarnation-1', 30, machine='m1', pid=1, version='0.1.0')
    db.conductor_register('c2', 'incarnation-2', 30)
    db.conductor_stopped('c2', 'incarnation-2')
    # What a conductor's audit answers (tests/unit/conductor/test_audit.py checks the real
    # answers against the same schema).
    conductor.audit_answer = lambda fix: {
        'discrepancies': [
            {'kind': 'running_twice', 'subject': 'instance vm1', 'detail': 'runs on two',
             'fix': 'person', 'instance': fakes.uuid_of('vm1'), 'hosts': ['host1', 'host2']},
            {'kind': 'wrong_host', 'subject': 'instance vm2', 'detail': 'runs on host2',
             'fix': 'safe', 'instance': fakes.uuid_of('vm2'), 'host': 'host2',
             'db_host': 'host1'}],
        'fixed': ['instance vm4: host set to host2 (was host1)'] if fix else [],
        'hosts_checked': ['host1', 'host2', 'host3']}
    return {'migration': done['id']}


def _operation(doc, path, method):
    """The document's operation that serves a concrete path, by its template."""
    for template, item in doc['paths'].items():
        pattern = '^' + re.sub(r'\{[^}]+\}', '[^/]+', template) + '$'
        if re.match(pattern, path) and method in item:
            return item[method]
    raise AssertionError(f'{method.upper()} {path} is not in the OpenAPI document')


def _check(doc, method, path, resp, seen=None):
    """The response is one the document lists for the operation, and valid against it."""
    if seen is not None:
        seen.add((method, resp.status_int))
    operation = _operation(doc, path.split('?')[0], method)
    listed = operation['responses'].get(str(resp.status_int))
    assert listed is not None, (method, path, resp.status_int, resp.text)
    if '$ref' in listed:
        listed = doc['components']['responses'][listed['$ref'].rsplit('/', 1)[1]]
    if 'content' not in listed:
        assert not resp.body
        return
    schema = dict(listed['content']['application/json']['schema'])
    schema['components'] = doc['components']
    jsonschema.Draft202012Validator(schema).validate(json.loads(resp.text))


@pytest.mark.parametrize('version', VERSIONS)
def test_every_response_matches_the_document(client, populated, version):
    doc = client.get('/v1/openapi.json', headers=_header(version)).json
    assert doc['openapi'].startswith('3.1')
    mig = populated['migration']
    seen = set()
    requests = [
        ('get', '/'), ('get', '/v1'), ('get', '/v1/hosts'), ('get', '/v1/hosts/host1'),
        ('get', '/v1/hosts/nope'), ('get', '/v1/hosts/host1/drain'),
        ('get', '/v1/instances'), ('get', '/v1/instances/vm1'),
        ('get', '/v1/migrations'), ('get', '/v1/migrations?limit=1'),
        ('get', '/v1/migrations?status=bogus'), ('get', f'/v1/migrations/{mig}'),
        ('get', f'/v1/migrations/{mig}/samples'), ('get', '/v1/drains'),
        ('get', '/v1/server-groups'), ('get', '/v1/server-groups/web'),
        ('get', '/v1/plans'), ('delete', f'/v1/migrations/{mig}'),
        ('get', '/v1/openapi.json'), ('get', '/v1/audit'), ('get', '/v1/audit?bogus=1'),
    ]
    if microversion.Version.parse(version) >= microversion.Version.parse(
            openapi.CONDUCTORS_SINCE):
        requests += [('get', '/v1/conductors'), ('get', '/v1/conductors?bogus=1')]
    for method, path in requests:
        resp = client.request(method.upper(), path, headers=_header(version))
        _check(doc, method, path, resp, seen)
    drain_id = client.get('/v1/drains').json['drains'][0]['id']
    _check(doc, 'get', f'/v1/drains/{drain_id}', client.get(f'/v1/drains/{drain_id}'))
    for method, path, body in [
        ('post', '/v1/migrations', {'instance': 'vm3', 'dry_run': True}),
        ('post', '/v1/migrations', {'instance': 'vm3', 'bogus': 1}),
        ('post', '/v1/migrations', {'instance': 'vm3', 'target_host': 'host2'}),
        ('put', '/v1/hosts/host3', {'status': 'disabled', 'reason': 'test'}),
        ('post', '/v1/plans', {'max_moves': 2}),
        ('post', '/v1/server-groups', {'name': 'db', 'policy': 'affinity'}),
        ('post', '/v1/hosts/host2/undrain', {}),
        ('post', '/v1/audit', {'fix': True}),
        ('post', '/v1/audit', {'fix': 'yes'}),
    ]:
        resp = client.request(method.upper(), path, body=body, headers=_header(version))
        _check(doc, method, path, resp, seen)
    plan_id = client.get('/v1/plans').json['plans'][0]['id']
    _check(doc, 'get', f'/v1/plans/{plan_id}', client.get(f'/v1/plans/{plan_id}',
                                                          headers=_header(version)))
    resp = client.request('POST', f'/v1/plans/{plan_id}/apply', headers=_header(version))
    _check(doc, 'post', f'/v1/plans/{plan_id}/apply', resp, seen)
    # Successes and refusals alike were checked.
    assert {('get', 200), ('get', 404), ('get', 400), ('post', 200), ('post', 202),
            ('post', 201), ('post', 400), ('put', 200), ('delete', 409)} <= seen, seen


def test_request_schemas_are_the_validators(client):
    """One source: the document's request bodies are the schemas the API validates with (a
    dry run's "forecast" from 1.9 only)."""
    def body(version):
        doc = client.get('/v1/openapi.json',
                         headers={'OpenStack-API-Version': f'migration {version}'}).json
        return doc['paths']['/v1/migrations']['post']['requestBody']['content'][
            'application/json']['schema']

    create = json.loads(json.dumps(schemas.MIGRATION_CREATE))
    assert body('1.9') == create
    older = body('1.8')
    assert 'forecast' not in older['properties']
    assert dict(older, properties=dict(older['properties'],
                                       forecast=create['properties']['forecast'])) == create


def test_a_view_field_without_a_schema_type_is_caught(monkeypatch):
    from migrator.api import response_schemas, views
    monkeypatch.setattr(views, 'MIGRATION_FIELDS', views.MIGRATION_FIELDS + ('new_field',))
    with pytest.raises(KeyError, match='new_field'):
        response_schemas.migration(microversion.MAX_VERSION)


def test_version_document_names_the_range(client):
    [version] = client.get('/').json['versions']
    assert version['min_version'] == '1.0'
    assert version['version'] == str(microversion.MAX_VERSION)
    v1 = client.get('/v1').json
    assert (v1['min_version'], v1['version']) == ('1.0', str(microversion.MAX_VERSION))
    rels = {link['rel']: link['href'] for link in v1['links']}
    assert rels['describedby'] == 'http://localhost/v1/openapi.json'


def test_older_microversion_keeps_the_older_migration_shape(client, populated):
    mig = populated['migration']
    old = client.get(f'/v1/migrations/{mig}')
    assert old.headers[microversion.HEADER] == 'migration 1.0'
    assert 'duration_seconds' not in old.json and 'bytes_transferred' not in old.json
    new = client.get(f'/v1/migrations/{mig}', headers=_header('1.1'))
    assert new.headers[microversion.HEADER] == 'migration 1.1'
    assert new.headers['Vary'] == microversion.HEADER
    assert new.json['bytes_transferred'] == 2 ** 27
    assert new.json['duration_seconds'] >= 0
    assert {k: v for k, v in new.json.items()
            if k not in ('duration_seconds', 'bytes_transferred')} == old.json
    latest = client.get('/v1/migrations', headers=_header('latest'))
    assert all('duration_seconds' in m for m in latest.json['migrations'])
    doc_old = client.get('/v1/openapi.json').json
    doc_new = client.get('/v1/openapi.json', headers=_header('1.1')).json
    show = '/v1/migrations/{migration_id}'
    props = [d['paths'][show]['get']['responses']['200']['content']['application/json'][
        'schema']['properties'] for d in (doc_old, doc_new)]
    assert 'duration_seconds' not in props[0] and 'duration_seconds' in props[1]


@pytest.mark.parametrize('value,code,words', [
    ('migration 9.0', 406, ['9.0 is not supported', '1.0 to']),
    ('migration 0.9', 406, ['0.9 is not supported']),
    ('migration one', 400, ["'one' is not a version"]),
    ('migration 1', 400, ['not a version']),
])
def test_unsupported_microversions_are_refused(client, value, code, words):
    resp = client.get('/v1/migrations', headers={microversion.HEADER: value})
    fakes.assert_error(resp, code, *words)


def test_refused_microversion_changes_nothing(client, populated, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm3'},
                       headers={microversion.HEADER: 'migration 7.7'})
    fakes.assert_error(resp, 406)
    assert conductor.casts == []
    assert not [m for m in client.get('/v1/migrations').json['migrations']
                if m['instance_name'] == 'vm3']


def test_other_services_headers_are_ignored(client):
    resp = client.get('/v1', headers={microversion.HEADER: 'compute 2.90'})
    assert resp.status_int == 200
    assert resp.headers[microversion.HEADER] == 'migration 1.0'


def test_plan_statuses_in_schema_cover_the_model():
    from migrator.api import response_schemas
    plan = response_schemas.plan()
    assert plan['properties']['status']['enum'] == list(states.PLAN_STATUSES)


def test_audit_and_conductors_are_documented(client):
    old = client.get('/v1/openapi.json').json
    new = client.get('/v1/openapi.json', headers=_header(openapi.CONDUCTORS_SINCE)).json
    assert {'get', 'post'} <= set(old['paths']['/v1/audit'])
    assert '/v1/conductors' not in old['paths']
    listed = new['paths']['/v1/conductors']['get']['responses']['200']
    item = listed['content']['application/json']['schema']['properties']['conductors']['items']
    assert item['properties']['state']['enum'] == ['alive', 'dead', 'stopped']
