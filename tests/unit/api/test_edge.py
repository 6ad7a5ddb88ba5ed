"""The API edge through the real pecan app and its WSGI layers: JSON-only bodies, bounded
bodies, links that never echo the client's Host, proxy headers and CORS off by default, and
a database outage answered 503. Every refused request must leave the database as it was."""

import json

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from migrator.api import app as api_app
from migrator.db import models
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error

CONF = cfg.CONF


@pytest.fixture
def override():
    """CONF.set_override for the test only."""
    done = []

    def set_override(name, value, group):
        CONF.set_override(name, value, group=group)
        done.append((name, group))
    yield set_override
    for name, group in done:
        CONF.clear_override(name, group=group)


def snapshot(db):
    """Every row of every table: what "changes nothing" is checked against."""
    with db.engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
                for t in models.Base.metadata.sorted_tables}


@pytest.fixture
def unchanged(cluster):
    """Asserts at the end of the test that the database holds exactly what it did."""
    before = snapshot(cluster)
    yield cluster
    assert snapshot(cluster) == before


def raw(client, method, path, body, content_type=None, headers=None):
    headers = dict(headers or {})
    if content_type is not None:
        headers['Content-Type'] = content_type
    req = fakes.Request.blank(path, method=method, headers=headers)
    if body is not None:
        req.body = body.encode() if isinstance(body, str) else body
        if content_type is None:
            del req.content_type
    return req.get_response(client.app)


# -- content type ----------------------------------------------------------------------------

def test_text_plain_migration_is_415(client, unchanged, conductor):
    resp = raw(client, 'POST', '/v1/migrations', json.dumps({'instance': 'vm1'}), 'text/plain')
    assert_error(resp, 415, 'application/json', 'text/plain')
    assert conductor.casts == []


def test_form_encoded_drain_is_415(client, unchanged, conductor):
    resp = raw(client, 'POST', '/v1/hosts/host1/drain', 'mode=live',
               'application/x-www-form-urlencoded')
    assert_error(resp, 415, 'application/json', 'x-www-form-urlencoded')
    assert conductor.drains == []


def test_empty_form_post_cannot_undrain(client, cluster, unchanged):
    resp = raw(client, 'POST', '/v1/hosts/host1/undrain', b'', 'multipart/form-data; b=x')
    assert_error(resp, 415, 'multipart/form-data')


def test_body_without_content_type_is_415(client, unchanged):
    resp = raw(client, 'PUT', '/v1/hosts/host1', json.dumps({'status': 'disabled'}))
    assert_error(resp, 415, 'no Content-Type')


def test_bodyless_post_must_say_json_too(client, unchanged):
    resp = raw(client, 'POST', '/v1/plans/whatever/apply', None)
    assert_error(resp, 415, 'even an empty one')


def test_json_with_charset_is_accepted(client, cluster):
    resp = raw(client, 'PUT', '/v1/hosts/host1', json.dumps({'status': 'disabled'}),
               'application/json; charset=utf-8')
    assert resp.status_int == 200, resp.text
    assert cluster.host_get('host1')['status'] == 'disabled'


# -- body contents ---------------------------------------------------------------------------

def test_100kb_of_open_brackets_is_400(client, unchanged):
    resp = raw(client, 'POST', '/v1/migrations', '[' * 100 * 1024, 'application/json')
    assert_error(resp, 400, 'more than 32 levels deep')


def test_deep_nesting_inside_a_field_is_400(client, unchanged):
    body = '{"instance": "vm1", "x": ' + '{"a": ' * 40 + '1' + '}' * 40 + '}'
    assert_error(raw(client, 'POST', '/v1/migrations', body, 'application/json'), 400,
                 'levels deep')


def test_brackets_inside_strings_do_not_count_as_nesting(client, cluster, unchanged):
    body = json.dumps({'instance': '[' * 100})
    resp = raw(client, 'POST', '/v1/migrations', body, 'application/json')
    assert_error(resp, 404)   # no such instance: the body itself was fine


def test_nan_and_infinity_are_400(client, unchanged):
    for literal in ('NaN', 'Infinity', '-Infinity'):
        resp = raw(client, 'POST', '/v1/plans', '{"min_gain": ' + literal + '}',
                   'application/json')
        assert_error(resp, 400, literal, 'finite number')


def test_number_beyond_float_range_is_400(client, unchanged):
    resp = raw(client, 'POST', '/v1/plans', '{"min_gain": 1e400}', 'application/json')
    assert_error(resp, 400, '1e400', 'out of range')


def test_1e300_min_gain_is_400(client, unchanged, conductor):
    resp = raw(client, 'POST', '/v1/plans', '{"min_gain": 1e300}', 'application/json')
    assert_error(resp, 400, "'min_gain'", 'at most 1000')
    assert conductor.plan_requests == []


def test_huge_integer_is_400(client, unchanged):
    body = '{"instance": "vm1", "priority": ' + '9' * 5000 + '}'
    assert_error(raw(client, 'POST', '/v1/migrations', body, 'application/json'), 400,
                 'out of range')


def test_integer_past_64_bits_is_400(client, unchanged):
    body = '{"instance": "vm1", "max_downtime_ms": 18446744073709551616}'
    assert_error(raw(client, 'POST', '/v1/migrations', body, 'application/json'), 400,
                 'out of range')


def test_body_not_utf8_is_400(client, unchanged):
    resp = raw(client, 'POST', '/v1/migrations', b'{"instance": "\xff"}', 'application/json')
    assert_error(resp, 400, 'UTF-8')


def test_body_over_the_size_limit_is_413(client, unchanged, override):
    override('max_request_body_size', 1000, 'oslo_middleware')
    body = json.dumps({'instance': 'x' * 2000})
    resp = raw(client, 'POST', '/v1/migrations', body, 'application/json')
    assert_error(resp, 413, '1000 bytes', 'max_request_body_size')


# -- links, proxy headers, CORS, request id --------------------------------------------------

def test_forged_host_is_not_echoed_into_links(client, cluster):
    headers = {'Host': 'evil.example.com'}
    root = client.get('/', headers=headers)
    assert root.json['versions'][0]['links'][0]['href'] == 'http://localhost/v1'
    resp = client.post('/v1/migrations', {'instance': 'vm1'}, headers=headers)
    assert resp.status_int == 202, resp.text
    assert resp.headers['Location'].startswith('http://localhost/v1/migrations/')
    page = client.get('/v1/hosts?limit=1', headers=headers)
    assert page.json['next'].startswith('http://localhost/v1/hosts?')
    assert 'evil' not in root.text + resp.text + page.text + str(resp.headers)


def test_public_endpoint_is_the_base_of_links(client, cluster, override):
    override('public_endpoint', 'https://migrator.example.org:8443/compute', 'api')
    root = client.get('/', headers={'Host': 'evil.example.com'})
    assert root.json['versions'][0]['links'][0]['href'] == \
        'https://migrator.example.org:8443/compute/v1'
    page = client.get('/v1/instances?limit=1')
    assert page.json['next'].startswith('https://migrator.example.org:8443/compute/v1/'
                                        'instances?')


def test_proxy_headers_are_ignored_unless_enabled(client, override):
    headers = {'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'proxy.example.org'}
    href = client.get('/', headers=headers).json['versions'][0]['links'][0]['href']
    assert href == 'http://localhost/v1'
    override('enable_proxy_headers_parsing', True, 'oslo_middleware')
    href = client.get('/', headers=headers).json['versions'][0]['links'][0]['href']
    assert href == 'https://proxy.example.org/v1'


def test_cors_is_off_by_default(client):
    headers = {'Origin': 'https://evil.example.com',
               'Access-Control-Request-Method': 'POST'}
    resp = client.request('OPTIONS', '/v1/migrations', headers=headers)
    assert 'Access-Control-Allow-Origin' not in resp.headers


def test_cors_answers_a_configured_origin(db, conductor, override):
    override('allowed_origin', ['https://dashboard.example.org'], 'cors')
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
    headers = {'Origin': 'https://dashboard.example.org',
               'Access-Control-Request-Method': 'POST',
               'Access-Control-Request-Headers': 'Content-Type'}
    resp = client.request('OPTIONS', '/v1/migrations', headers=headers)
    assert resp.headers['Access-Control-Allow-Origin'] == 'https://dashboard.example.org'
    other = client.request('OPTIONS', '/v1/migrations',
                           headers={**headers, 'Origin': 'https://evil.example.com'})
    assert 'Access-Control-Allow-Origin' not in other.headers


def test_refused_requests_carry_a_request_id_too(client):
    resp = raw(client, 'POST', '/v1/migrations', 'x', 'text/plain')
    assert resp.headers['X-Openstack-Request-Id'].startswith('req-')


# -- database outage -------------------------------------------------------------------------

@pytest.fixture
def down_client(conductor):
    """The API over a PostgreSQL URL where nothing listens (port 1 refuses at once)."""
    from migrator.db import api as db_api
    database = db_api.Database('postgresql+psycopg2://postgres@127.0.0.1:1/migrator')
    yield fakes.WSGIClient(api_app.setup_app(db=database, conductor_api=conductor))
    database.dispose()


OUTAGE_REQUESTS = [
    ('GET', '/v1/hosts', None), ('GET', '/v1/hosts/host1', None),
    ('GET', '/v1/instances', None), ('GET', '/v1/instances/vm1', None),
    ('GET', '/v1/migrations', None), ('GET', '/v1/migrations/m1', None),
    ('GET', '/v1/migrations/m1/samples', None), ('GET', '/v1/drains', None),
    ('GET', '/v1/plans', None), ('GET', '/v1/server-groups', None),
    ('POST', '/v1/migrations', {'instance': 'vm1'}),
    ('POST', '/v1/hosts/host1/drain', {}), ('PUT', '/v1/hosts/host1', {'status': 'enabled'}),
    ('DELETE', '/v1/migrations/m1', None), ('DELETE', '/v1/server-groups/g1', None),
]


def test_database_outage_is_503(down_client, conductor):
    for method, path, body in OUTAGE_REQUESTS:
        resp = down_client.request(method, path, body=body)
        assert_error(resp, 503, 'database', 'retry')
    assert conductor.casts == [] and conductor.drains == []


# -- pagination ------------------------------------------------------------------------------

def _walk(client, path):
    """Every item of a listing, following `next` links; (items, pages)."""
    items, pages = [], 0
    key = path.split('?')[0].rsplit('/', 1)[-1].replace('-', '_')
    while path:
        resp = client.get(path)
        assert resp.status_int == 200, resp.text
        pages += 1
        items.extend(resp.json[key])
        path = resp.json.get('next', '').replace('http://localhost', '')
        assert pages < 20
    return items, pages


def test_hosts_are_paginated(client, cluster):
    hosts, pages = _walk(client, '/v1/hosts?limit=2')
    assert [h['name'] for h in hosts] == ['host1', 'host2', 'host3'] and pages == 2
    assert hosts[0]['instances'] == 2


def test_instances_are_paginated(client, cluster):
    fakes.add_instances(cluster, 'host3', 'vm4', 'vm5')
    items, pages = _walk(client, '/v1/instances?limit=2')
    assert [i['name'] for i in items] == ['vm1', 'vm2', 'vm3', 'vm4', 'vm5'] and pages == 3
    on_host1, _ = _walk(client, '/v1/instances?host=host1&limit=1')
    assert [i['name'] for i in on_host1] == ['vm1', 'vm2']


def test_server_groups_are_paginated(client, cluster):
    for name in ('g1', 'g2', 'g3'):
        assert client.post('/v1/server-groups', {'name': name, 'policy': 'anti-affinity'}
                           ).status_int == 201
    items, pages = _walk(client, '/v1/server-groups?limit=2')
    assert [g['name'] for g in items] == ['g1', 'g2', 'g3'] and pages == 2


def test_default_limit_bounds_an_unlimited_listing(client, cluster, override):
    override('default_limit', 2, 'api')
    resp = client.get('/v1/instances')
    assert len(resp.json['instances']) == 2 and 'limit=2' in resp.json['next']


def test_samples_are_paginated_without_limit(client, cluster, override):
    override('max_limit', 3, 'api')
    mid = client.post('/v1/migrations', {'instance': 'vm1'}).json['id']
    for n in range(5):
        cluster.migration_update_progress(mid, {'memory_processed': n}, sample=True)
    path = f'/v1/migrations/{mid}/samples'
    samples = []
    while path:
        page = client.get(path).json
        samples.extend(page['samples'])
        path = page.get('next', '').replace('http://localhost', '')
    assert [s['memory_processed'] for s in samples] == [0, 1, 2, 3, 4]
    assert_error(client.get(f'/v1/migrations/{mid}/samples?limit=4'), 400, 'limit', '3')


LISTS = ['/v1/hosts', '/v1/instances', '/v1/server-groups', '/v1/drains', '/v1/plans']


def test_bad_limit_is_400(client, cluster):
    for path in LISTS:
        for limit in ('0', '-1', 'ten', '1001'):
            assert_error(client.get(f'{path}?limit={limit}'), 400, 'limit', limit)


def test_unknown_marker_is_400(client, cluster):
    for path in LISTS:
        assert_error(client.get(f'{path}?marker=nope'), 400, "marker 'nope'", 'next')
