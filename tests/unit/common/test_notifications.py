"""Versioned notifications: every event is sent from the code path a user triggers (the
API, the database changes the conductor records), with the payload its sample in
doc/notification_samples documents. MIGRATOR_WRITE_NOTIFICATION_SAMPLES=1 rewrites the
samples from what the code sends (review the diff before committing it)."""

import os

import pytest
from oslo_config import cfg
from oslo_messaging.notify import _impl_test

from migrator.api import app as api_app
from migrator.common import notifications
from migrator.conductor.tasks import rebalance
from tests import notification_samples
from tests.unit.api import fakes

CONF = cfg.CONF

ALL_EVENTS = (notifications.MIGRATION_EVENTS + notifications.DRAIN_EVENTS
              + notifications.PLAN_EVENTS)


@pytest.fixture
def sent():
    """Notifications go to oslo.messaging's test driver; yields the list they land in."""
    CONF.set_override('driver', ['test'], group='oslo_messaging_notifications')
    CONF.set_override('transport_url', 'fake://', group='oslo_messaging_notifications')
    notifications.reset()
    _impl_test.reset()
    yield _impl_test.NOTIFICATIONS
    notifications.reset()
    _impl_test.reset()
    CONF.clear_override('driver', group='oslo_messaging_notifications')
    CONF.clear_override('transport_url', group='oslo_messaging_notifications')


def _by_event(sent):
    result = {}
    for _ctxt, message, priority, _retry in sent:
        envelope = notification_samples.notification(message['event_type'], priority,
                                                     message['payload'])
        result.setdefault(message['event_type'], []).append(envelope)
    return result


def _scenario(db, conductor, sent):
    """Every event, through the paths that send them in the services."""
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
    for name in ('host1', 'host2', 'host3'):
        fakes.add_host(db, name, memory_mb_used=0, vcpus_used=0)
    fakes.add_instances(db, 'host1', 'vm1', 'vm2', 'vm3')
    rid = 'req-12345678-1234-4234-9234-123456789abc'
    created = client.post('/v1/migrations', {'instance': 'vm1'},
                          headers={'X-Openstack-Request-Id': rid}).json
    mig = created['id']
    # What the conductor records as the migration runs (its DB, observed like here).
    db.migration_transition(mig, ['accepted'], 'scheduling', values={'conductor': 'c1'})
    db.migration_transition(mig, ['scheduling'], 'preparing', values={'target_host': 'host2'})
    db.migration_transition(mig, ['preparing'], 'running')
    db.migration_update_progress(mig, {'progress': 40.0, 'memory_total': 268435456,
                                       'memory_processed': 107374182,
                                       'data_processed': 107374182, 'iteration': 1})
    assert notifications.migration_progress(db.migration_get(mig))
    # Rate limited: a second report at once sends nothing.
    assert not notifications.migration_progress(db.migration_get(mig))
    # The conductor's stall diagnosis (migrator.conductor.forecast.StallWatch).
    notifications.migration_event('migration.stalled', db.migration_get(mig),
                                  reason='remaining data stopped falling: iterations 2-3 '
                                         'each began with about 32.0 MiB to send')
    notifications.migration_event('migration.force_complete', db.migration_get(mig),
                                  forced='paused')
    db.migration_update_progress(mig, {'progress': 100.0, 'downtime_ms': 45,
                                       'data_processed': 268435456})
    db.migration_transition(mig, ['running'], 'finishing')
    db.migration_transition(mig, ['finishing'], 'completed')
    # An abort before any conductor took it: abort, then end (cancelled).
    other = client.post('/v1/migrations', {'instance': 'vm2'}).json['id']
    assert client.request('DELETE', f'/v1/migrations/{other}').status_int == 202
    # A drain, its start and end as the conductor records them; an undrain.
    drain = client.post('/v1/hosts/host1/drain', {'mode': 'live'}).json
    db.drain_transition(drain['id'], ['accepted'], 'running', values={'conductor': 'c1'})
    db.drain_transition(drain['id'], ['running'], 'completed', values={'reason': 'done'})
    assert client.post('/v1/hosts/host1/undrain', {}).status_int == 200
    # A plan, applied.
    conductor.planner = lambda goal, **kw: rebalance.create_plan(db, goal, **kw)['id']
    plan = client.post('/v1/plans', {'max_moves': 2}).json
    assert client.post(f"/v1/plans/{plan['id']}/apply").status_int == 202
    db.plan_transition(plan['id'], 'applying', 'applied')
    return mig, rid, _by_event(sent)


def test_every_event_matches_its_sample(db, conductor, sent):
    mig, rid, events = _scenario(db, conductor, sent)
    assert sorted(events) == sorted(ALL_EVENTS)
    if os.environ.get('MIGRATOR_WRITE_NOTIFICATION_SAMPLES'):
        for event_type, [first, *_rest] in events.items():
            notification_samples.write(event_type, first)
    for event_type, sent_of_type in events.items():
        sample = notification_samples.load(event_type)
        for number, envelope in enumerate(sent_of_type):
            # The first of each is the sample's case; others (another outcome) its shape.
            assert notification_samples.mismatches(sample, envelope,
                                                   exact=number == 0) == [], event_type


def test_migration_payloads_say_what_happened(db, conductor, sent):
    mig, rid, events = _scenario(db, conductor, sent)
    [create] = [e for e in events['migration.create']
                if e['payload']['migrator_object.data']['id'] == mig]
    data = create['payload']['migrator_object.data']
    assert data['instance']['name'] == 'vm1' and data['source_host'] == 'host1'
    assert data['status'] == 'accepted' and data['type'] == 'live'
    # The requester: the API's own id of the request that asked (the client's id is only
    # its global id, never the local one), and the caller without authentication.
    recorded = db.migration_get(mig)
    assert data['requester']['request_id'] == recorded['request_id'] != rid
    assert recorded['global_request_id'] == rid
    assert data['requester']['user_id'] == 'noauth'
    [start] = events['migration.start']
    assert start['payload']['migrator_object.data']['target_host'] == 'host2'
    ends = {e['payload']['migrator_object.data']['id']: e for e in events['migration.end']}
    end = ends[mig]['payload']['migrator_object.data']
    assert end['outcome'] == 'completed' and end['status'] == 'completed'
    assert end['figures']['downtime_ms'] == 45
    assert end['figures']['bytes_transferred'] == 268435456
    assert end['figures']['duration_seconds'] >= 0
    [cancelled] = [e for i, e in ends.items() if i != mig]
    assert cancelled['payload']['migrator_object.data']['outcome'] == 'cancelled'
    [abort] = events['migration.abort']
    assert abort['payload']['migrator_object.data']['reason']
    assert len(events['migration.progress']) == 1
    [forced] = events['migration.force_complete']
    assert forced['payload']['migrator_object.data']['forced'] == 'paused'


def test_no_driver_sends_nothing_and_breaks_nothing(db, conductor):
    notifications.reset()
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
    fakes.add_host(db, 'host1')
    fakes.add_host(db, 'host2')
    fakes.add_instances(db, 'host1', 'vm1')
    assert client.post('/v1/migrations', {'instance': 'vm1'}).status_int == 202
    assert notifications.get_notifier() is None


def test_a_failing_transport_does_not_fail_the_request(db, conductor, sent, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError('broker gone')
    notifier = notifications.get_notifier()
    monkeypatch.setattr(notifier, 'info', broken)
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
    fakes.add_host(db, 'host1')
    fakes.add_host(db, 'host2')
    fakes.add_instances(db, 'host1', 'vm1')
    assert client.post('/v1/migrations', {'instance': 'vm1'}).status_int == 202


def test_sample_check_catches_a_changed_payload():
    sample = notification_samples.load('migration.end')
    changed = {**sample, 'payload': {**sample['payload'],
                                     'migrator_object.version': '9.9'}}
    assert notification_samples.mismatches(sample, changed)
    data = dict(sample['payload']['migrator_object.data'])
    data['undocumented'] = 1
    changed = {**sample, 'payload': {**sample['payload'], 'migrator_object.data': data}}
    assert notification_samples.mismatches(sample, changed) == [
        'payload.migrator_object.data.undocumented: not in the sample']
