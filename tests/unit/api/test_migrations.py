import pytest
import sqlalchemy as sa

from migrator.api import views
from migrator.common import states
from migrator.db import models
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error

# -- POST /v1/migrations: refusals. Each names the problem and creates nothing. --------------


@pytest.fixture
def refused(client, cluster, conductor):
    """Posts `raw` (str) or `body` and checks the refusal created nothing, cast nothing."""

    def check(code, *words, body=None, raw=None):
        resp = client.request('POST', '/v1/migrations', body=body, raw=raw)
        error = assert_error(resp, code, *words)
        assert cluster.migration_list() == []
        assert conductor.casts == []
        assert 'Location' not in resp.headers
        return error

    return check


def test_malformed_json(refused):
    refused(400, 'request body is not valid JSON', raw='{"instance": "vm1",')


def test_empty_body(refused):
    refused(400, 'request body is not valid JSON', raw='')


def test_body_not_an_object(refused):
    refused(400, 'request body must be an object', body=['vm1'])


def test_unknown_field(refused):
    refused(400, "unknown field 'force'", body={'instance': 'vm1', 'force': True})


def test_missing_instance(refused):
    refused(400, "missing required field 'instance'", body={'target_host': 'host2'})


def test_wrong_type(refused):
    refused(400, "field 'instance' must be a string", 'integer', body={'instance': 42})


def test_wrong_type_of_target(refused):
    refused(400, "field 'target_host' must be a string or null",
            body={'instance': 'vm1', 'target_host': ['host2']})


def test_unknown_type(refused):
    refused(400, "field 'type'", '"warm"', 'the types are: live, cold',
            body={'instance': 'vm1', 'type': 'warm'})


def test_cold_with_block_migration(refused):
    refused(400, "'block_migration' applies to live migrations only",
            body={'instance': 'vm1', 'type': 'cold', 'block_migration': False})


def test_unknown_instance(refused, conductor):
    refused(404, "'nope'", body={'instance': 'nope'})
    assert conductor.selects == []


def test_instance_without_host(refused, cluster, conductor):
    with cluster.engine.begin() as conn:
        conn.execute(sa.update(models.instances).where(models.instances.c.name == 'vm3')
                     .values(host=None))
    refused(409, "'vm3' has no host", body={'instance': 'vm3'})
    assert conductor.selects == []


def test_unknown_target(refused, conductor):
    refused(404, "'nohost'", body={'instance': 'vm1', 'target_host': 'nohost'})
    assert conductor.selects == []


def test_target_is_source(refused, conductor):
    refused(400, "'host1'", 'already runs', body={'instance': 'vm1', 'target_host': 'host1'})
    assert conductor.selects == []


def test_target_without_room(refused, conductor):
    conductor.select_error = fakes.no_valid_host(
        'vm1', 'host3 has 512 MB of memory free, the instance needs 4096 MB')
    error = refused(409, 'host3 has 512 MB of memory free',
                    body={'instance': 'vm1', 'target_host': 'host3'})
    assert error['title'] == 'Conflict'
    assert conductor.selects == [(fakes.uuid_of('vm1'), 'live', 'host3')]


def test_second_migration_of_same_instance(client, cluster, conductor):
    first = client.post('/v1/migrations', {'instance': 'vm1'})
    assert first.status_int == 202
    second = client.post('/v1/migrations', {'instance': 'vm1', 'target_host': 'host3'})
    assert_error(second, 409, f"'{fakes.uuid_of('vm1')}'", 'in flight')
    assert [m['id'] for m in cluster.migration_list()] == [first.json['id']]
    assert conductor.casts == [first.json['id']]


def test_cast_failure_fails_the_migration(client, cluster, conductor):
    import oslo_messaging as messaging
    conductor.migrate_error = messaging.MessageDeliveryFailure('broker gone')
    resp = client.post('/v1/migrations', {'instance': 'vm1'})
    assert_error(resp, 503, 'message bus')
    [migration] = cluster.migration_list()
    assert migration['status'] == states.FAILED
    # ... so it does not hold the instance: a new request is accepted.
    conductor.migrate_error = None
    assert client.post('/v1/migrations', {'instance': 'vm1'}).status_int == 202


# -- POST /v1/migrations: accepted --------------------------------------------------------


def test_create(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'target_host': 'host2'})
    assert resp.status_int == 202, resp.text
    migration = resp.json
    assert resp.headers['Location'] == 'http://localhost/v1/migrations/' + migration['id']
    assert conductor.selects == [(fakes.uuid_of('vm1'), 'live', 'host2')]
    assert conductor.casts == [migration['id']]
    assert migration['status'] == states.ACCEPTED
    assert migration['instance_uuid'] == fakes.uuid_of('vm1')
    assert migration['instance_name'] == 'vm1'
    assert migration['type'] == 'live'
    assert migration['source_host'] == 'host1'
    assert migration['requested_target'] == 'host2'
    assert migration['block_migration'] is None
    assert set(migration) == set(views.MIGRATION_FIELDS) | {'events', 'requester'}
    assert [e['to_state'] for e in migration['events']] == [states.ACCEPTED]
    assert cluster.migration_get(migration['id'])['status'] == states.ACCEPTED


def test_create_by_uuid_without_target_and_with_defaults(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': fakes.uuid_of('vm3'),
                                          'target_host': None})
    assert resp.status_int == 202, resp.text
    assert resp.json['type'] == 'live'
    assert resp.json['source_host'] == 'host2'
    assert resp.json['requested_target'] is None
    assert conductor.selects == [(fakes.uuid_of('vm3'), 'live', None)]


def test_create_cold(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'type': 'cold'})
    assert resp.status_int == 202, resp.text
    assert resp.json['type'] == 'cold'
    assert resp.json['status'] == states.ACCEPTED
    assert conductor.selects == [(fakes.uuid_of('vm1'), 'cold', None)]
    assert conductor.casts == [resp.json['id']]


def test_create_block_migration(client, cluster):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'block_migration': True})
    assert resp.status_int == 202, resp.text
    assert resp.json['block_migration'] is True


# -- GET /v1/migrations ---------------------------------------------------------------------


@pytest.fixture
def history(client, cluster):
    """Five migrations, newest first: vm3, vm2, vm1 (completed), vm2 (failed), vm1."""
    ids = []

    def make(name, end=None):
        resp = client.post('/v1/migrations', {'instance': name})
        assert resp.status_int == 202, resp.text
        mid = resp.json['id']
        if end == states.COMPLETED:
            for frm, to in [(states.ACCEPTED, states.SCHEDULING),
                            (states.SCHEDULING, states.PREPARING),
                            (states.PREPARING, states.RUNNING),
                            (states.RUNNING, states.FINISHING),
                            (states.FINISHING, states.COMPLETED)]:
                values = {'target_host': 'host3'} if to == states.PREPARING else None
                cluster.migration_transition(mid, [frm], to, detail=f'test: {to}',
                                             values=values)
        elif end == states.FAILED:
            cluster.migration_transition(mid, [states.ACCEPTED], states.FAILED,
                                         detail='test', values={'error': 'test failure'})
        ids.insert(0, mid)
        return mid

    make('vm1', states.COMPLETED)
    make('vm2', states.FAILED)
    make('vm1', states.COMPLETED)
    make('vm2')
    make('vm3')
    return ids


def _ids(resp):
    assert resp.status_int == 200, resp.text
    return [m['id'] for m in resp.json['migrations']]


def test_list_newest_first(client, history):
    resp = client.get('/v1/migrations')
    assert _ids(resp) == history
    assert 'next' not in resp.json
    assert 'events' not in resp.json['migrations'][0]


def test_list_filters(client, history):
    assert _ids(client.get('/v1/migrations?status=completed')) == [history[2], history[4]]
    assert _ids(client.get('/v1/migrations?status=failed')) == [history[3]]
    assert _ids(client.get('/v1/migrations?instance=vm2')) == [history[1], history[3]]
    assert _ids(client.get('/v1/migrations?instance=' + fakes.uuid_of('vm2'))) == \
        [history[1], history[3]]
    assert _ids(client.get('/v1/migrations?host=host2')) == [history[0]]
    assert _ids(client.get('/v1/migrations?status=accepted&instance=vm2')) == [history[1]]
    assert _ids(client.get('/v1/migrations?status=running')) == []


def test_list_pagination(client, history):
    first = client.get('/v1/migrations?limit=2')
    assert _ids(first) == history[:2]
    nxt = first.json['next']
    assert nxt.startswith('http://localhost/v1/migrations?')
    assert 'limit=2' in nxt and 'marker=' + history[1] in nxt
    second = client.get(nxt.replace('http://localhost', ''))
    assert _ids(second) == history[2:4]
    third = client.get(second.json['next'].replace('http://localhost', ''))
    assert _ids(third) == history[4:]
    assert 'next' not in third.json


def test_list_pagination_keeps_filters(client, history):
    first = client.get('/v1/migrations?instance=vm1&limit=1')
    assert _ids(first) == [history[2]]
    assert 'instance=vm1' in first.json['next']
    second = client.get(first.json['next'].replace('http://localhost', ''))
    assert _ids(second) == [history[4]]


@pytest.mark.parametrize('limit', ['0', '-1', 'ten', '1.5', '1001'])
def test_list_bad_limit(client, history, limit):
    assert_error(client.get('/v1/migrations?limit=' + limit), 400, 'limit', limit)


def test_list_bad_marker(client, history):
    assert_error(client.get('/v1/migrations?marker=nope'), 400, "'nope'")


def test_list_bad_status(client, history):
    assert_error(client.get('/v1/migrations?status=done'), 400, "'done'", 'completed')


# -- GET /v1/migrations/{id} ----------------------------------------------------------------


def test_show_with_events(client, history):
    resp = client.get('/v1/migrations/' + history[2])
    assert resp.status_int == 200
    migration = resp.json
    assert migration['status'] == states.COMPLETED
    assert [(e['from_state'], e['to_state']) for e in migration['events']] == [
        (None, 'accepted'), ('accepted', 'scheduling'), ('scheduling', 'preparing'),
        ('preparing', 'running'), ('running', 'finishing'), ('finishing', 'completed')]
    assert migration['events'][1]['detail'] == 'test: scheduling'
    assert migration['events'][0]['time'].endswith('Z')
    assert migration['finished_at'].endswith('Z')


def test_show_failed_has_error(client, history):
    migration = client.get('/v1/migrations/' + history[3]).json
    assert migration['status'] == states.FAILED
    assert migration['error'] == 'test failure'


def test_show_unknown(client, history):
    assert_error(client.get('/v1/migrations/nope'), 404, "'nope'")
