"""Version documents, and the error contract: JSON errors for everything, no tracebacks."""

import json
import sys

import oslo_messaging as messaging
import pytest
from oslo_messaging._drivers import common as rpc_common

from migrator.api import app as api_app
from migrator.common import exceptions
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error


def test_root_lists_v1(client):
    resp = client.get('/')
    assert resp.status_int == 200
    [version] = resp.json['versions']
    assert version['id'] == 'v1'
    assert version['status'] == 'CURRENT'
    assert version['links'] == [{'rel': 'self', 'href': 'http://localhost/v1'}]


@pytest.mark.parametrize('path', ['/v1', '/v1/'])
def test_v1_document(client, path):
    resp = client.get(path)
    assert resp.status_int == 200
    assert resp.json['id'] == 'v1'
    assert resp.json['status'] == 'CURRENT'
    rels = {link['rel']: link['href'] for link in resp.json['links']}
    assert rels['migrations'] == 'http://localhost/v1/migrations'


def test_client_request_id_is_never_the_local_one(client):
    rid = 'req-12345678-1234-4234-9234-123456789abc'
    resp = client.get('/v1', headers={'X-Openstack-Request-Id': rid})
    local = resp.headers['X-Openstack-Request-Id']
    assert local.startswith('req-')
    assert local != rid
    other = client.get('/v1', headers={'X-Openstack-Request-Id': 'not-a-request-id'})
    assert other.headers['X-Openstack-Request-Id'].startswith('req-')
    assert other.headers['X-Openstack-Request-Id'] not in ('not-a-request-id', local)


@pytest.mark.parametrize('path', ['/nope', '/v1/nope', '/v1/hosts/host1/extra', '/v2'])
def test_unknown_path_is_json_404(client, path):
    resp = client.get(path)
    assert_error(resp, 404, path)
    assert resp.headers['X-Openstack-Request-Id'].startswith('req-')


@pytest.mark.parametrize('method,path', [('DELETE', '/v1/instances/x'), ('PUT', '/v1/instances/a'),
                                         ('POST', '/'), ('POST', '/v1/hosts')])
def test_unknown_method_is_json_405(client, method, path):
    assert_error(client.request(method, path), 405, method, path)


def test_unknown_query_parameter_is_400(client):
    assert_error(client.get('/v1/hosts?sort=name'), 400, "'sort'")


class ExplodingDB:
    def host_page(self, **kwargs):
        raise RuntimeError('secret internals /etc/shadow')

    def instance_list(self, host=None):
        return []


def test_unexpected_error_is_json_500_without_traceback(conductor, caplog):
    client = fakes.WSGIClient(api_app.setup_app(db=ExplodingDB(), conductor_api=conductor))
    resp = client.get('/v1/hosts')
    error = assert_error(resp, 500, 'unexpected')
    assert 'secret' not in resp.text and 'RuntimeError' not in resp.text
    # The request id in the message finds the traceback in the log.
    assert resp.headers['X-Openstack-Request-Id'] in error['message']
    assert 'secret internals' in caplog.text
    assert 'Traceback' in caplog.text


def test_error_escaping_pecan_is_still_json_500(conductor, monkeypatch):
    from migrator.api import hooks

    def broken_after(self, state):
        raise ValueError('boom in a hook')

    monkeypatch.setattr(hooks.ContextHook, 'after', broken_after)
    client = fakes.WSGIClient(api_app.setup_app(db=ExplodingDB(), conductor_api=conductor))
    resp = client.get('/v1')
    assert_error(resp, 500, 'unexpected')
    assert 'boom' not in resp.text


def test_messaging_timeout_is_503(client, cluster, conductor):
    conductor.select_error = messaging.MessagingTimeout('Timed out waiting for a reply')
    resp = client.post('/v1/migrations', {'instance': 'vm1'})
    assert_error(resp, 503, 'conductor did not answer within 30 s',
                 'is migrator-conductor running?')
    assert cluster.migration_list() == []


def _remote(exc):
    """`exc` as oslo.messaging re-raises it on the caller's side after an RPC call."""
    try:
        raise exc
    except type(exc):
        data = rpc_common.serialize_remote_exception(sys.exc_info())
    return rpc_common.deserialize_remote_exception(data, ['migrator.common.exceptions'])


def test_remote_no_valid_host_is_409_without_remote_traceback(client, cluster, conductor):
    remote = _remote(exceptions.NoValidHost(instance='vm1', reason='host2 is down'))
    assert isinstance(remote, exceptions.NoValidHost)
    assert 'Traceback' in str(remote)  # what oslo.messaging does to str()
    conductor.select_error = remote
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'target_host': 'host2'})
    error = assert_error(resp, 409, 'host2 is down')
    assert error['message'] == 'No host can take instance vm1: host2 is down'


def test_remote_unexpected_error_is_500(client, cluster, conductor):
    conductor.select_error = _remote(KeyError('oops'))
    resp = client.post('/v1/migrations', {'instance': 'vm1'})
    assert_error(resp, 500, 'unexpected')
    assert cluster.migration_list() == []


def test_errors_are_valid_json_with_title(client):
    body = json.loads(client.get('/v1/hosts/nope').text)
    assert body == {'error': {'code': 404, 'title': 'Not Found', 'message': body['error'][
        'message']}}


def test_oversized_body_is_json_413(client, cluster):
    resp = client.post('/v1/migrations', raw='{"instance": "' + 'x' * (1024 * 1024) + '"}')
    assert_error(resp, 413, 'larger than')
    assert cluster.migration_list() == []


@pytest.mark.parametrize('method,path', [
    ('PUT', '/v1/hosts'), ('DELETE', '/v1/migrations'), ('DELETE', '/v1/drains'),
    ('DELETE', '/v1/server-groups'), ('DELETE', '/v1/server-groups/g/members')])
def test_member_methods_on_collections_are_405(client, method, path):
    assert_error(client.request(method, path), 405, method, path)


def test_unparseable_multipart_body_is_400(client):
    from webob import Request
    req = Request.blank('/v1/plans', method='POST',
                        headers={'Content-Type': 'multipart/form-data'})
    req.body = b'{"goal": "balance"}'
    resp = req.get_response(client.app)
    assert resp.status_int in (400, 415), resp.text
    assert 'Traceback' not in resp.text


def test_a_type_error_in_our_code_stays_a_500(client, db, monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError('a bug of ours')
    monkeypatch.setattr(db, 'host_page', broken)
    assert_error(client.get('/v1/hosts'), 500, 'unexpected error')
