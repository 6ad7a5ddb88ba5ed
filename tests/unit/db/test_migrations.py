import threading

import pytest

from migrator.common import exceptions
from migrator.common import states as s

LIVE_PATH = [s.SCHEDULING, s.PREPARING, s.RUNNING, s.FINISHING]


def run_concurrently(n, fn):
    """Run fn(i) in n threads released at once; return (results, errors)."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker(i):
        barrier.wait()
        try:
            results.append(fn(i))
        except Exception as exc:  # noqa: BLE001 - collected for the caller's asserts
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def walk(db, mig, path):
    current = mig['status']
    for state in path:
        mig = db.migration_transition(mig['id'], [current], state)
        current = state
    return mig


def test_create_locks_the_instance(db, add_instance):
    add_instance('u1', host='h1', name='web')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live', 'requested_target': 'h2'})
    assert mig['status'] == s.ACCEPTED and mig['progress'] == 0.0
    assert (mig['instance_name'], mig['source_host'], mig['target_host']) == ('web', 'h1', None)
    assert [(e['from_state'], e['to_state']) for e in mig['events']] == [(None, s.ACCEPTED)]
    assert db.instance_get('u1')['migration_id'] == mig['id']
    with pytest.raises(exceptions.MigrationInProgress):
        db.migration_create({'instance_uuid': 'u1', 'type': 'cold'})
    with pytest.raises(exceptions.InstanceNotFound):
        db.migration_create({'instance_uuid': 'nope', 'type': 'live'})
    add_instance('u2')
    with pytest.raises(exceptions.Invalid):
        db.migration_create({'instance_uuid': 'u2', 'type': 'teleport'})
    with pytest.raises(ValueError):
        db.migration_create({'instance_uuid': 'u2', 'type': 'live', 'status': 'running'})
    assert db.instance_get('u2')['migration_id'] is None
    assert len(db.migration_list()) == 1


def test_create_race_exactly_one_wins(db, add_instance):
    for round_ in range(3):
        uuid = f'race-{round_}'
        add_instance(uuid)
        results, errors = run_concurrently(
            6, lambda i, u=uuid: db.migration_create({'instance_uuid': u, 'type': 'live'}))
        assert len(results) == 1, errors
        assert all(isinstance(e, exceptions.MigrationInProgress) for e in errors), errors
        assert db.instance_get(uuid)['migration_id'] == results[0]['id']
        assert [m['id'] for m in db.migration_list(instance=uuid)] == [results[0]['id']]


def test_transition_race_exactly_one_wins(db, add_instance):
    add_instance('u1')
    mig = walk(db, db.migration_create({'instance_uuid': 'u1', 'type': 'live'}),
               [s.SCHEDULING, s.PREPARING, s.RUNNING])
    targets = [s.FINISHING, s.ROLLING_BACK, s.CANCELLING, s.ERROR]
    results, errors = run_concurrently(
        4, lambda i: db.migration_transition(mig['id'], [s.RUNNING], targets[i]))
    assert len(results) == 1 and len(errors) == 3
    assert all(isinstance(e, exceptions.InvalidStateTransition) for e in errors), errors
    final = db.migration_get(mig['id'])
    assert final['status'] == results[0]['status']
    assert [e['to_state'] for e in final['events']].count(final['status']) == 1


def test_transitions_cas_events_and_timestamps(db, add_instance):
    add_instance('u1')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    with pytest.raises(exceptions.InvalidStateTransition):  # disallowed: no DB access needed
        db.migration_transition('no-such-id', [s.ACCEPTED], s.COMPLETED)
    with pytest.raises(exceptions.MigrationNotFound):
        db.migration_transition('no-such-id', [s.ACCEPTED], s.SCHEDULING)
    with pytest.raises(ValueError):
        db.migration_transition(mig['id'], [s.ACCEPTED], s.SCHEDULING, values={'status': 'x'})
    # Several candidate from-states: the event records the one that matched.
    mig = db.migration_transition(mig['id'], [s.QUEUED, s.ACCEPTED], s.SCHEDULING,
                                  detail='picking')
    assert mig['started_at'] is None
    with pytest.raises(exceptions.InvalidStateTransition) as info:  # stale from-state
        db.migration_transition(mig['id'], [s.ACCEPTED], s.SCHEDULING)
    assert 'scheduling' in str(info.value)
    mig = db.migration_transition(mig['id'], s.SCHEDULING, s.PREPARING,
                                  values={'target_host': 'h2', 'conductor': 'c1'})
    assert mig['target_host'] == 'h2' and mig['conductor'] == 'c1'
    started = mig['started_at']
    assert started is not None and mig['finished_at'] is None
    mig = walk(db, mig, [s.RUNNING, s.FINISHING])
    assert mig['started_at'] == started
    assert [(e['from_state'], e['to_state']) for e in mig['events']] == [
        (None, s.ACCEPTED), (s.ACCEPTED, s.SCHEDULING), (s.SCHEDULING, s.PREPARING),
        (s.PREPARING, s.RUNNING), (s.RUNNING, s.FINISHING)]
    assert mig['events'][1]['detail'] == 'picking'
    times = [e['time'] for e in mig['events']]
    assert times == sorted(times)


def test_completed_releases_lock_and_moves_instance(db, add_instance):
    add_instance('u1', host='h1')
    mig = walk(db, db.migration_create({'instance_uuid': 'u1', 'type': 'live'}), LIVE_PATH)
    with pytest.raises(exceptions.Invalid):  # no target_host: must not lose the VM
        db.migration_transition(mig['id'], [s.FINISHING], s.COMPLETED)
    assert db.migration_get(mig['id'])['status'] == s.FINISHING
    mig = db.migration_transition(mig['id'], [s.FINISHING], s.COMPLETED,
                                  values={'target_host': 'h2'})
    assert mig['finished_at'] is not None and mig['progress'] == 100.0
    inst = db.instance_get('u1')
    assert inst['host'] == 'h2' and inst['migration_id'] is None
    with pytest.raises(exceptions.InvalidStateTransition):
        db.migration_transition(mig['id'], [s.COMPLETED], s.FAILED)


def test_cancelled_and_failed_release_lock_but_keep_host(db, add_instance):
    add_instance('u1', host='h1')
    first = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    walk(db, first, [s.SCHEDULING, s.PREPARING, s.RUNNING, s.CANCELLING, s.CANCELLED])
    second = db.migration_create({'instance_uuid': 'u1', 'type': 'cold'})
    second = walk(db, second, [s.SCHEDULING, s.PREPARING])
    db.migration_transition(second['id'], [s.PREPARING], s.ROLLING_BACK,
                            values={'target_host': 'h3', 'error': 'disk full'})
    failed = db.migration_transition(second['id'], [s.ROLLING_BACK], s.FAILED)
    assert failed['error'] == 'disk full' and failed['finished_at'] is not None
    inst = db.instance_get('u1')
    assert inst['host'] == 'h1' and inst['migration_id'] is None


def test_list_filters_and_pagination(db, add_instance):
    ids = []
    for i in range(5):
        add_instance(f'u{i}', host=f'h{i % 2}', name=f'vm{i}')
        ids.append(db.migration_create({'instance_uuid': f'u{i}', 'type': 'live'})['id'])
    walk(db, db.migration_get(ids[0]), [s.SCHEDULING])
    db.migration_transition(ids[1], [s.ACCEPTED], s.SCHEDULING)
    db.migration_transition(ids[1], [s.SCHEDULING], s.PREPARING, values={'target_host': 'h9'})
    everything = db.migration_list()
    expected = sorted(everything, key=lambda m: (m['created_at'], m['id']), reverse=True)
    assert [m['id'] for m in everything] == [m['id'] for m in expected]
    assert everything[0]['id'] == ids[-1]  # newest first
    assert 'events' not in everything[0]
    assert {m['id'] for m in db.migration_list(status=s.SCHEDULING)} == {ids[0]}
    assert {m['id'] for m in db.migration_list(status=[s.SCHEDULING, s.PREPARING])} == set(
        ids[:2])
    assert [m['id'] for m in db.migration_list(instance='u3')] == [ids[3]]
    assert [m['id'] for m in db.migration_list(instance='vm3')] == [ids[3]]
    assert {m['id'] for m in db.migration_list(host='h0')} == {ids[0], ids[2], ids[4]}
    assert {m['id'] for m in db.migration_list(host='h9')} == {ids[1]}
    pages, marker = [], None
    while True:
        page = db.migration_list(limit=2, marker=marker)
        if not page:
            break
        pages.append([m['id'] for m in page])
        marker = page[-1]['id']
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == [m['id'] for m in everything]
    assert [m['id'] for m in db.migration_list(host='h0', limit=1, marker=ids[4])] == [ids[2]]
    with pytest.raises(exceptions.MarkerNotFound):
        db.migration_list(marker='no-such-id')
    with pytest.raises(exceptions.Invalid):
        db.migration_list(limit=0)


def test_list_unfinished(db, add_instance):
    add_instance('u1')
    add_instance('u2')
    done = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    db.migration_transition(done['id'], [s.ACCEPTED], s.FAILED)
    live = db.migration_create({'instance_uuid': 'u2', 'type': 'live', 'conductor': 'c1'})
    assert [m['id'] for m in db.migration_list_unfinished()] == [live['id']]
    assert [m['id'] for m in db.migration_list_unfinished(conductor='c1')] == [live['id']]
    assert db.migration_list_unfinished(conductor='c2') == []


def test_progress_never_goes_backwards(db, add_instance):
    add_instance('u1')
    mig = walk(db, db.migration_create({'instance_uuid': 'u1', 'type': 'live'}),
               [s.SCHEDULING, s.PREPARING, s.RUNNING])
    sample = {'progress': 40.5, 'memory_total': 2 ** 33, 'memory_remaining': 2 ** 32,
              'dirty_rate': 10 ** 9, 'iteration': 2, 'eta_seconds': 1.25}
    assert db.migration_update_progress(mig['id'], sample) is True
    # A later iteration re-sends dirtied pages: the percentage drops, the display must not.
    assert db.migration_update_progress(mig['id'], {'progress': 30.0, 'iteration': 3})
    got = db.migration_get(mig['id'])
    assert got['progress'] == 40.5 and got['iteration'] == 3
    assert got['memory_total'] == 2 ** 33 and got['dirty_rate'] == 10 ** 9
    assert got['eta_seconds'] == 1.25 and got['status'] == s.RUNNING
    db.migration_update_progress(mig['id'], {'progress': 250})
    assert db.migration_get(mig['id'])['progress'] == 100.0
    with pytest.raises(ValueError):
        db.migration_update_progress(mig['id'], {'status': s.COMPLETED})
    with pytest.raises(exceptions.MigrationNotFound):
        db.migration_update_progress('no-such-id', {'progress': 1})
    db.migration_transition(mig['id'], [s.RUNNING], s.ERROR)
    assert db.migration_update_progress(mig['id'], {'iteration': 9}) is False
    assert db.migration_get(mig['id'])['iteration'] == 3
