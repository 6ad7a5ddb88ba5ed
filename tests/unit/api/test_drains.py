"""POST/GET/DELETE /v1/hosts/{name}/drain, POST /v1/hosts/{name}/undrain, /v1/drains/{id}:
refusals name the problem and change nothing; accepted requests record the job."""

import json

import oslo_messaging as messaging
import pytest

from migrator.common import states
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error


def _body(resp):
    return json.loads(resp.text)


def _delete(client, path):
    return client.request('DELETE', path)


@pytest.fixture
def refused(client, cluster, conductor):
    """Posts a drain of host1 and checks the refusal changed nothing and cast nothing."""

    def check(code, *words, body=None, raw=None, host='host1'):
        before = cluster.host_get('host1')
        resp = client.request('POST', f'/v1/hosts/{host}/drain', body=body, raw=raw)
        error = assert_error(resp, code, *words)
        assert cluster.drain_latest('host1') is None
        assert cluster.host_get('host1')['status'] == before['status']
        assert conductor.drains == []
        return error

    return check


def test_malformed_json(refused):
    refused(400, 'request body is not valid JSON', raw='{"mode": ')


def test_unknown_mode(refused):
    refused(400, "field 'mode' must be one of", '"fast"', body={'mode': 'fast'})


def test_unknown_field(refused):
    refused(400, "unknown field 'force'", 'mode, target_hosts, max_parallel',
            body={'force': True})


def test_max_parallel_must_be_positive_integer(refused):
    refused(400, "field 'max_parallel'", body={'max_parallel': 0})
    refused(400, "field 'max_parallel' must be an integer or null", body={'max_parallel': 'two'})


def test_target_hosts_must_be_names(refused):
    refused(400, "field 'target_hosts.0' must be a string", body={'target_hosts': [3]})
    refused(400, "field 'target_hosts'", body={'target_hosts': []})


def test_unknown_host(refused):
    refused(404, "Host 'nohost' is not known", body={}, host='nohost')


def test_unknown_target_host(refused):
    refused(404, "Host 'nohost' is not known", body={'target_hosts': ['host2', 'nohost']})


def test_target_host_is_the_drained_host(refused):
    refused(400, "'host1', the host being drained", body={'target_hosts': ['host1']})


def test_drain_records_job_puts_host_in_maintenance_and_casts(client, cluster, conductor):
    resp = client.post('/v1/hosts/host1/drain', body={'mode': 'live_then_cold',
                                                      'target_hosts': ['host3'],
                                                      'max_parallel': 3})
    assert resp.status_int == 202, resp.text
    job = _body(resp)
    assert resp.headers['Location'].endswith(f"/v1/drains/{job['id']}")
    assert job['kind'] == 'drain' and job['status'] == 'accepted'
    assert job['mode'] == 'live_then_cold' and job['max_parallel'] == 3
    assert job['target_hosts'] == ['host3']
    assert sorted(i['instance_name'] for i in job['items']) == ['vm1', 'vm2']
    assert {i['status'] for i in job['items']} == {'pending'}
    assert job['summary']['total'] == 2 and job['summary']['pending'] == 2
    assert conductor.drains == [job['id']]
    host = _body(client.get('/v1/hosts/host1'))
    assert host['status'] == 'maintenance' and job['id'] in host['status_reason']

    assert _body(client.get('/v1/hosts/host1/drain'))['id'] == job['id']
    assert _body(client.get(f"/v1/drains/{job['id']}"))['host'] == 'host1'


def test_default_max_parallel_comes_from_config(client, cluster):
    job = _body(client.post('/v1/hosts/host2/drain', body={}))
    assert job['max_parallel'] == 2 and job['mode'] == 'live' and job['target_hosts'] is None


def test_second_drain_of_same_host_is_409(client, cluster, conductor):
    first = _body(client.post('/v1/hosts/host1/drain', body={}))
    resp = client.post('/v1/hosts/host1/drain', body={})
    assert_error(resp, 409, 'already has a drain job', first['id'])
    assert conductor.drains == [first['id']]


def test_cast_failure_fails_job_and_restores_host(client, cluster, conductor):
    conductor.drain_error = messaging.MessageDeliveryFailure('broker gone')
    resp = client.post('/v1/hosts/host1/drain', body={})
    assert_error(resp, 503, 'cannot reach migrator-conductor')
    job = cluster.drain_latest('host1')
    assert job['status'] == 'failed' and 'broker gone' in job['reason']
    assert cluster.host_get('host1')['status'] == 'enabled'
    # The host is free for the next request.
    conductor.drain_error = None
    assert client.post('/v1/hosts/host1/drain', body={}).status_int == 202


def test_get_drain_of_never_drained_host_is_404(client, cluster):
    assert_error(client.get('/v1/hosts/host1/drain'), 404, 'has never been drained')
    assert_error(client.get('/v1/hosts/nohost/drain'), 404, "'nohost' is not known")
    assert_error(client.get('/v1/drains/nope'), 404, "Drain 'nope' is not known")


def test_delete_cancels_pending_items(client, cluster):
    job = _body(client.post('/v1/hosts/host1/drain', body={}))
    cluster.drain_transition(job['id'], [states.DRAIN_ACCEPTED], states.DRAIN_RUNNING,
                             values={'conductor': 'c1'})
    resp = _delete(client, '/v1/hosts/host1/drain')
    assert resp.status_int == 202, resp.text
    body = _body(resp)
    assert body['status'] == 'cancelling'
    assert {i['status'] for i in body['items']} == {'cancelled'}
    # Idempotent while it winds down.
    again = _delete(client, f"/v1/drains/{job['id']}")
    assert again.status_int == 202 and _body(again)['status'] == 'cancelling'


def test_delete_of_accepted_job_ends_it_at_once(client, cluster):
    job = _body(client.post('/v1/hosts/host1/drain', body={}))
    body = _body(_delete(client, f"/v1/drains/{job['id']}"))
    assert body['status'] == 'cancelled'
    assert_error(_delete(client, '/v1/hosts/host1/drain'), 409, 'nothing to cancel')


def test_undrain_refusals(client, cluster):
    assert_error(client.post('/v1/hosts/nohost/undrain', body={}), 404, "'nohost'")
    assert_error(client.post('/v1/hosts/host1/undrain', body={'return_guests': 'yes'}), 400,
                 "field 'return_guests' must be a boolean")
    assert_error(client.post('/v1/hosts/host1/undrain', body={'all': True}), 400,
                 "unknown field 'all'")
    client.post('/v1/hosts/host1/drain', body={})
    assert_error(client.post('/v1/hosts/host1/undrain', body={}), 409,
                 'already has a drain job')
    assert cluster.host_get('host1')['status'] == 'maintenance'


def test_undrain_enables_and_returns_moved_guests(client, cluster, conductor):
    job = _body(client.post('/v1/hosts/host1/drain', body={}))
    items = {i['instance_name']: i for i in cluster.drain_get(job['id'])['items']}
    cluster.drain_transition(job['id'], [states.DRAIN_ACCEPTED], states.DRAIN_RUNNING,
                             values={'conductor': 'c'})
    # vm1 was moved to host2 and is still there; vm2 failed to move.
    cluster.drain_item_update(items['vm1']['id'], [states.DRAIN_ITEM_PENDING],
                              {'status': states.DRAIN_ITEM_MOVED, 'target_host': 'host2'})
    cluster.drain_item_update(items['vm2']['id'], [states.DRAIN_ITEM_PENDING],
                              {'status': states.DRAIN_ITEM_FAILED, 'reason': 'too big'})
    cluster.drain_transition(job['id'], [states.DRAIN_RUNNING], states.DRAIN_PARTIAL, conductor='c')
    cluster.instance_set_host(fakes.uuid_of('vm1'), 'host2')

    resp = client.post('/v1/hosts/host1/undrain', body={'return_guests': True})
    assert resp.status_int == 202, resp.text
    body = _body(resp)
    assert body['host']['status'] == 'enabled' and body['host']['status_reason'] is None
    ret = body['return']
    assert ret['kind'] == 'return' and ret['origin_id'] == job['id']
    assert [(i['instance_name'], i['source_host'], i['target_host']) for i in ret['items']] \
        == [('vm1', 'host2', 'host1')]
    assert conductor.drains == [job['id'], ret['id']]


def test_undrain_without_return_only_enables(client, cluster, conductor):
    client.post('/v1/hosts/host1/drain', body={})
    _delete(client, '/v1/hosts/host1/drain')
    resp = client.request('POST', '/v1/hosts/host1/undrain', raw='')
    assert resp.status_int == 200, resp.text
    assert _body(resp) == {'host': _body(client.get('/v1/hosts/host1')), 'return': None}
    assert _body(resp)['host']['status'] == 'enabled'


def test_list_drains_newest_first_by_host(client, cluster):
    first = _body(client.post('/v1/hosts/host1/drain', body={}))
    _delete(client, '/v1/hosts/host1/drain')
    second = _body(client.post('/v1/hosts/host2/drain', body={}))
    assert [j['id'] for j in _body(client.get('/v1/drains'))['drains']] == [second['id'],
                                                                            first['id']]
    assert [j['id'] for j in _body(client.get('/v1/drains?host=host1'))['drains']] == [
        first['id']]
    assert len(_body(client.get('/v1/drains?limit=1'))['drains']) == 1
    assert_error(client.get('/v1/drains?host=nohost'), 404, "'nohost'")
    assert_error(client.get('/v1/drains?limit=0'), 400, 'limit')
    assert_error(client.get('/v1/drains?status=x'), 400, "unknown query parameter 'status'")
