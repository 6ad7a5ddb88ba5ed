"""Drain job queries on every backend: one job per host, CAS transitions, cancel, takeover."""

import threading

import pytest

from migrator.common import exceptions, states


def _job(db, host='h1', **values):
    return db.drain_create({'kind': 'drain', 'host': host, 'mode': 'live', 'max_parallel': 2,
                            **values},
                           items=[{'instance_uuid': 'u1', 'instance_name': 'vm1',
                                   'source_host': host},
                                  {'instance_uuid': 'u2', 'instance_name': 'vm2',
                                   'source_host': host}],
                           host_status=('maintenance', 'draining'))


def test_create_sets_host_maintenance_and_allows_one_job_per_host(db):
    db.host_report('h1', {})
    db.host_report('h2', {})
    errors, made = [], []

    def create():
        try:
            made.append(_job(db))
        except exceptions.DrainInProgress as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(errors) == 3
    job = made[0]
    assert job['status'] == states.DRAIN_ACCEPTED and job['active_host'] == 'h1'
    assert [i['status'] for i in job['items']] == [states.DRAIN_ITEM_PENDING] * 2
    assert db.host_get('h1')['status'] == 'maintenance'
    assert db.drain_active('h1')['id'] == job['id']
    _job(db, host='h2', target_hosts=['h1'])  # another host is free
    assert db.drain_latest('h2')['target_hosts'] == ['h1']

    db.drain_transition(job['id'], [states.DRAIN_ACCEPTED], states.DRAIN_RUNNING,
                        values={'conductor': 'c1'})
    ended = db.drain_transition(job['id'], [states.DRAIN_RUNNING], states.DRAIN_COMPLETED,
                                conductor='c1')
    assert ended['active_host'] is None and ended['finished_at'] is not None
    assert db.drain_active('h1') is None
    assert _job(db)['id'] != job['id']


def test_create_on_unknown_host_creates_nothing(db):
    with pytest.raises(exceptions.HostNotFound):
        _job(db, host='nope')
    assert db.drain_latest('nope') is None


def test_transition_is_compare_and_swap(db):
    db.host_report('h1', {})
    job = _job(db)
    with pytest.raises(exceptions.InvalidDrainTransition):
        db.drain_transition(job['id'], [states.DRAIN_RUNNING], states.DRAIN_COMPLETED)
    db.drain_transition(job['id'], [states.DRAIN_ACCEPTED], states.DRAIN_RUNNING,
                        values={'conductor': 'c1'})
    with pytest.raises(exceptions.InvalidDrainTransition):  # not c2's job
        db.drain_transition(job['id'], [states.DRAIN_RUNNING], states.DRAIN_COMPLETED,
                            conductor='c2')
    with pytest.raises(exceptions.DrainNotFound):
        db.drain_transition('nope', [states.DRAIN_RUNNING], states.DRAIN_COMPLETED)


def test_cancel_and_item_updates(db):
    db.host_report('h1', {})
    job = _job(db)
    first = job['items'][0]
    db.drain_transition(job['id'], [states.DRAIN_ACCEPTED], states.DRAIN_RUNNING,
                        values={'conductor': 'c1'})
    assert db.drain_item_update(first['id'], [states.DRAIN_ITEM_PENDING],
                                {'status': states.DRAIN_ITEM_RUNNING, 'attempts': 1})
    cancelled = db.drain_cancel(job['id'], 'stop')
    assert cancelled['status'] == states.DRAIN_CANCELLING and cancelled['reason'] == 'stop'
    assert [i['status'] for i in cancelled['items']] == [states.DRAIN_ITEM_RUNNING,
                                                         states.DRAIN_ITEM_CANCELLED]
    # A cancelled item cannot be started any more.
    assert not db.drain_item_update(cancelled['items'][1]['id'], [states.DRAIN_ITEM_PENDING],
                                    {'status': states.DRAIN_ITEM_RUNNING})
    assert db.drain_item_update(first['id'], [states.DRAIN_ITEM_RUNNING],
                                {'status': states.DRAIN_ITEM_MOVED})
    assert db.drain_get(job['id'])['items'][0]['finished_at'] is not None
    db.drain_transition(job['id'], [states.DRAIN_CANCELLING], states.DRAIN_CANCELLED,
                        conductor='c1')
    with pytest.raises(exceptions.InvalidDrainTransition):
        db.drain_cancel(job['id'], 'again')


def test_items_show_their_migration(db, add_instance):
    db.host_report('h1', {})
    add_instance('u1', host='h1')
    job = _job(db)
    migration = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    db.drain_item_update(job['items'][0]['id'], [states.DRAIN_ITEM_PENDING],
                         {'status': states.DRAIN_ITEM_RUNNING, 'migration_id': migration['id']})
    item = db.drain_get(job['id'])['items'][0]
    assert item['migration_status'] == states.ACCEPTED and item['migration_progress'] == 0.0
    assert db.drain_get(job['id'])['items'][1]['migration_status'] is None


