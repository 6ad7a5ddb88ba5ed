"""Who did what: the requester of migrations, drains, plans and events, as the API records
and shows it; the request ids (a client's id is the global one, never the local one)."""

import threading

import pytest

from migrator.cmd.manage import drains as drains_cli
from migrator.cmd.manage import migrations as migrations_cli
from migrator.cmd.manage import plans as plans_cli
from migrator.common import context
from migrator.conductor.tasks import rebalance
from migrator.db import models
from tests.unit.api import fakes
from tests.unit.api.test_policy import ADMIN, app, identity  # noqa: F401

CLIENT_ID = 'req-0123abcd-1234-4234-9234-123456789abc'


def _expected(resp, headers=ADMIN, global_request_id=None):
    return {'user_id': headers['X-User-Id'], 'user_name': headers['X-User-Name'],
            'project_id': headers['X-Project-Id'], 'project_name': headers['X-Project-Name'],
            'request_id': resp.headers['X-Openstack-Request-Id'],
            'global_request_id': global_request_id}


def test_the_fields_agree():
    assert context.REQUESTER_FIELDS == models.REQUESTER_FIELDS


def test_migration_and_its_events_record_the_requester(client, cluster):
    headers = dict(ADMIN, **{'X-Openstack-Request-Id': CLIENT_ID})
    resp = client.post('/v1/migrations', {'instance': 'vm1'}, headers=headers)
    assert resp.status_int == 202, resp.text
    expected = _expected(resp, global_request_id=CLIENT_ID)
    assert expected['request_id'] != CLIENT_ID
    migration = resp.json
    assert migration['requester'] == expected
    assert migration['events'][0]['requester'] == expected

    # Another user aborts: the migration stays theirs, the abort's events are the other's.
    aborter = identity(['admin'], user='bob', project='night-shift')
    resp = client.request('DELETE', f"/v1/migrations/{migration['id']}", headers=aborter)
    assert resp.status_int == 202, resp.text
    shown = client.get(f"/v1/migrations/{migration['id']}", headers=ADMIN).json
    assert shown['requester'] == expected
    assert [e['to_state'] for e in shown['events']] == ['accepted', 'cancelling', 'cancelled']
    assert shown['events'][0]['requester'] == expected
    assert {e['requester']['user_name'] for e in shown['events'][1:]} == {'bob'}
    assert shown['events'][1]['requester']['request_id'] == resp.headers[
        'X-Openstack-Request-Id']
    listed = client.get('/v1/migrations', headers=ADMIN).json['migrations']
    assert listed[0]['requester'] == expected

    text = migrations_cli.format_migration(shown)
    assert 'root (id root-id) of project ops (id ops-id)' in text
    assert expected['request_id'] in text and CLIENT_ID in text
    assert 'bob (id bob-id) of project night-shift' in text


def test_an_invalid_client_request_id_is_ignored(client, cluster):
    headers = dict(ADMIN, **{'X-Openstack-Request-Id': 'req-not-a-uuid'})
    resp = client.post('/v1/migrations', {'instance': 'vm1'}, headers=headers)
    assert resp.json['requester'] == _expected(resp)


def test_noauth_requests_are_recorded_as_noauth(client, cluster):
    resp = client.post('/v1/migrations', {'instance': 'vm1'})
    requester = resp.json['requester']
    assert requester['user_name'] == requester['user_id'] == 'noauth'
    assert requester['project_id'] is None
    assert requester['request_id'] == resp.headers['X-Openstack-Request-Id']


def test_drain_records_the_requester(client, cluster):
    resp = client.post('/v1/hosts/host1/drain', {}, headers=ADMIN)
    assert resp.status_int == 202, resp.text
    expected = _expected(resp)
    assert resp.json['requester'] == expected
    shown = client.get('/v1/hosts/host1/drain', headers=ADMIN).json
    assert shown['requester'] == expected
    text = drains_cli.format_drain(shown)
    assert 'root (id root-id) of project ops' in text and expected['request_id'] in text


@pytest.fixture
def planner(db, conductor):
    conductor.planner = lambda goal, **kw: rebalance.create_plan(db, goal, **kw)['id']


def test_plan_records_the_requester(client, cluster, planner):
    resp = client.post('/v1/plans', {'goal': 'balance'}, headers=ADMIN)
    assert resp.status_int == 201, resp.text
    expected = _expected(resp)
    assert resp.json['requester'] == expected
    listed = client.get('/v1/plans', headers=ADMIN).json['plans']
    assert listed[0]['requester'] == expected
    text = plans_cli.format_plan(resp.json)
    assert 'root (id root-id) of project ops' in text and expected['request_id'] in text


def test_work_done_for_a_recorded_requester_keeps_its_ids(db, cluster):
    """A queued migration started later, or a drain adopted after a restart, is still done
    for its requester: its context has the same user and request ids. Run in a thread of
    its own, which has no current context yet (like the conductor's own threads)."""
    outcome = {}

    def work():
        ctxt = context.from_record({'user_id': 'u1', 'user_name': 'una',
                                    'global_request_id': CLIENT_ID})
        outcome['before'] = context.requester()
        with context.acting_for(ctxt):
            migration = db.migration_create({'instance_uuid': fakes.uuid_of('vm1'),
                                             'type': 'live'})
        outcome['after'] = context.requester()
        again = context.from_record(migration)
        outcome['same'] = context.requester(again) == context.requester(ctxt)
        with context.acting_for(again):
            db.migration_transition(migration['id'], ['accepted'], 'queued', detail='no slot')
        # Without a context (the services' own work) nobody is recorded.
        db.migration_transition(migration['id'], ['queued'], 'failed', detail='itself')
        outcome['events'] = db.migration_get(migration['id'])['events']
        outcome['request_id'] = ctxt.request_id

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert outcome['before'] == outcome['after'] == dict.fromkeys(context.REQUESTER_FIELDS)
    assert outcome['same']
    events = outcome['events']
    assert [e['user_name'] for e in events] == ['una', 'una', None]
    assert [e['request_id'] for e in events] == [outcome['request_id']] * 2 + [None]
    assert events[0]['global_request_id'] == CLIENT_ID
