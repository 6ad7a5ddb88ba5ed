import pytest

from migrator.common import exceptions
from migrator.common import states as s
from tests.unit.db.test_migrations import run_concurrently


def test_cancel_unstarted_releases_the_instance(db, add_instance):
    add_instance('u1', host='h1', name='web')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})

    done = db.migration_cancel_unstarted(mig['id'], 'not today')

    assert done['status'] == s.CANCELLED
    assert [e['to_state'] for e in done['events']] == [s.ACCEPTED, s.CANCELLING, s.CANCELLED]
    assert done['error'] == 'aborted: not today'
    assert done['finished_at'] is not None
    assert db.instance_get('u1')['migration_id'] is None


def test_cancel_unstarted_refuses_a_started_migration(db, add_instance):
    add_instance('u1', host='h1', name='web')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    db.migration_transition(mig['id'], [s.ACCEPTED], s.SCHEDULING, values={'conductor': 'c1'})

    with pytest.raises(exceptions.InvalidStateTransition):
        db.migration_cancel_unstarted(mig['id'], 'too late')
    assert db.migration_get(mig['id'])['status'] == s.SCHEDULING


def test_cancel_races_the_conductor_taking_it(db, add_instance):
    add_instance('u1', host='h1', name='web')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})

    def act(i):
        if i == 0:
            return db.migration_cancel_unstarted(mig['id'], 'abort')
        return db.migration_transition(mig['id'], [s.ACCEPTED], s.SCHEDULING)

    results, errors = run_concurrently(2, act)

    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], exceptions.InvalidStateTransition)
    assert db.migration_get(mig['id'])['status'] in (s.CANCELLED, s.SCHEDULING)
