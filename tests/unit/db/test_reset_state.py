import pytest

from migrator.common import exceptions, timeutils
from migrator.common import states as s


def _running_with_claims(db, add_instance):
    import sqlalchemy as sa

    from migrator.db import models
    add_instance('u1', host='h1', name='web')
    with db.engine.begin() as conn:
        for name in ('h1', 'h2'):
            conn.execute(sa.insert(models.hosts).values(
                name=name, memory_mb=4096, vcpus=4, status='enabled',
                last_heartbeat=timeutils.utcnow(), created_at=timeutils.utcnow(),
                updated_at=timeutils.utcnow()))
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    taken, _ = db.slot_acquire(mig['id'], [s.ACCEPTED], 2, 5, 'taken',
                               values={'conductor': 'c1'})
    assert taken is not None
    limits = {'ram_ratio': 1.0, 'cpu_ratio': 4.0, 'disk_ratio': 1.0, 'reserved_disk_gb': 0,
              'inbound': 2, 'heartbeat_after': timeutils.utcnow().replace(year=2000)}
    assert db.claim_target(mig['id'], 'u1', 'h1', 'h2', {'memory_mb': 256, 'vcpus': 1},
                           limits)
    for to_state in (s.PREPARING, s.RUNNING):
        db.migration_transition(mig['id'], [db.migration_get(mig['id'])['status']], to_state,
                                values={'target_host': 'h2'})
    return mig


def test_reset_ends_the_migration_and_gives_everything_back(db, add_instance):
    mig = _running_with_claims(db, add_instance)

    done = db.migration_reset_state(mig['id'], s.ERROR, 'job gone after a power cut')

    assert done['status'] == s.ERROR
    assert done['finished_at'] is not None
    assert done['error'] == 'reset by an administrator: job gone after a power cut'
    last = done['events'][-1]
    assert (last['from_state'], last['to_state']) == (s.RUNNING, s.ERROR)
    assert last['detail'] == ('reset by an administrator (was running): job gone after a '
                              'power cut')
    assert db.instance_get('u1')['migration_id'] is None
    assert db.instance_get('u1')['host'] == 'h1'        # bookkeeping only: nothing moved
    assert db.claim_get(mig['id']) is None
    assert db.scheduler_active_count() == 0
    hosts = {h['name']: h for h in db.host_list()}
    assert hosts['h1']['outbound_migrations'] == 0
    assert hosts['h2']['inbound_migrations'] == 0 and hosts['h2']['claimed_memory_mb'] == 0


def test_reset_to_failed_from_a_state_no_transition_allows(db, add_instance):
    add_instance('u1', host='h1', name='web')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'cold'})
    db.migration_transition(mig['id'], [s.ACCEPTED], s.SCHEDULING)
    db.migration_transition(mig['id'], [s.SCHEDULING], s.PREPARING)

    done = db.migration_reset_state(mig['id'], s.FAILED, 'rolled back by hand')

    assert done['status'] == s.FAILED
    # The conductor that drove it cannot move it on any more.
    with pytest.raises(exceptions.InvalidStateTransition):
        db.migration_transition(mig['id'], [s.PREPARING], s.RUNNING)


@pytest.mark.parametrize('terminal', [s.COMPLETED, s.FAILED, s.CANCELLED, s.ERROR])
def test_reset_refuses_a_migration_that_has_ended(db, add_instance, terminal):
    add_instance('u1', host='h1', name='web')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    db.migration_transition(mig['id'], [s.ACCEPTED], s.SCHEDULING)
    if terminal == s.CANCELLED:
        db.migration_transition(mig['id'], [s.SCHEDULING], s.CANCELLING)
        db.migration_transition(mig['id'], [s.CANCELLING], s.CANCELLED)
    elif terminal == s.COMPLETED:
        for to_state in (s.PREPARING, s.RUNNING, s.FINISHING, s.COMPLETED):
            db.migration_transition(mig['id'], [db.migration_get(mig['id'])['status']],
                                    to_state, values={'target_host': 'h2'})
    else:
        db.migration_transition(mig['id'], [s.SCHEDULING], terminal)
    before = db.migration_get(mig['id'])

    with pytest.raises(exceptions.Conflict, match=f'has already ended \\({terminal}\\)'):
        db.migration_reset_state(mig['id'], s.ERROR, 'too late')
    assert db.migration_get(mig['id']) == before


@pytest.mark.parametrize('state, reason, words', [
    ('completed', 'x', 'can only be reset to error or failed'),
    ('error', '  ', 'needs a reason'),
])
def test_reset_refuses_bad_input(db, add_instance, state, reason, words):
    add_instance('u1', host='h1', name='web')
    mig = db.migration_create({'instance_uuid': 'u1', 'type': 'live'})
    with pytest.raises(exceptions.Invalid, match=words):
        db.migration_reset_state(mig['id'], state, reason)
    assert db.migration_get(mig['id'])['status'] == s.ACCEPTED


def test_reset_of_an_unknown_migration(db):
    with pytest.raises(exceptions.MigrationNotFound):
        db.migration_reset_state('nope', s.ERROR, 'why')
