"""Aborting live migrations in the conductor, over the fake driver."""

import pytest

from migrator.common import exceptions, states


def _create(db, name, target='host2'):
    instance = db.instance_get(name)
    return db.migration_create({
        'instance_uuid': instance['uuid'], 'instance_name': instance['name'], 'type': 'live',
        'source_host': instance['host'], 'requested_target': target,
        'block_migration': None})


def _finish(db, cluster, migration_id):
    cluster.conductor.executor.shutdown(wait=True)
    return db.migration_get(migration_id)


def _history(migration):
    return [e['to_state'] for e in migration['events']]


def test_abort_while_running_cancels_the_job_and_guest_stays_on_source(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    cluster.cloud.hold_jobs = True
    migration = _create(db, 'vm1')

    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    assert cluster.cloud.job_running.wait(10)
    answer = cluster.conductor.abort_migration(cluster.ctxt, migration['id'], 'operator said so')
    final = _finish(db, cluster, migration['id'])

    assert answer['id'] == migration['id'] and answer['status'] in (
        states.RUNNING, states.CANCELLING, states.CANCELLED)
    assert final['status'] == states.CANCELLED, final
    assert _history(final)[-3:] == ['running', 'cancelling', 'cancelled']
    assert 'operator said so' in final['error']
    assert 'the instance runs on the source host1' in final['events'][-1]['detail']
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.jobs == {}
    assert db.instance_get('vm1')['migration_id'] is None
    assert db.instance_get('vm1')['host'] == 'host1'


def test_abort_before_the_job_starts_never_starts_it(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    migration = _create(db, 'vm1')
    agent = cluster.compute_api.agents['host2']
    check = agent.check_can_live_migrate_destination

    def abort_meanwhile(ctxt, *args, **kwargs):
        # The operator's abort arrives while the target is being checked (preparing).
        cluster.conductor.abort_migration(ctxt, migration['id'], 'changed my mind')
        return check(ctxt, *args, **kwargs)

    agent.check_can_live_migrate_destination = abort_meanwhile
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    final = _finish(db, cluster, migration['id'])

    assert final['status'] == states.CANCELLED, final
    assert _history(final) == ['accepted', 'scheduling', 'preparing', 'cancelling',
                               'cancelled']
    assert cluster.where(domain['uuid']) == ['host1']


def test_abort_of_an_unstarted_migration_cancels_it_at_once(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    migration = _create(db, 'vm1')

    answer = cluster.conductor.abort_migration(cluster.ctxt, migration['id'], 'not now')

    assert answer['status'] == states.CANCELLED
    assert _history(answer) == ['accepted', 'cancelling', 'cancelled']
    assert db.instance_get('vm1')['migration_id'] is None
    # The conductor that would have taken it finds it no longer accepted and leaves it.
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    assert _finish(db, cluster, migration['id'])['status'] == states.CANCELLED


def test_abort_after_the_end_is_refused(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    migration = _create(db, 'vm1')
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    assert _finish(db, cluster, migration['id'])['status'] == states.COMPLETED

    with pytest.raises(exceptions.Conflict) as raised:
        cluster.conductor.abort_migration(cluster.ctxt, migration['id'], 'too late')
    assert 'already ended completed' in str(raised.value)


def test_abort_of_a_migration_this_conductor_does_not_run_changes_nothing(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    migration = _create(db, 'vm1')
    for to_state, values in ((states.SCHEDULING, {'conductor': 'conductor1'}),
                             (states.PREPARING, None), (states.RUNNING, None)):
        db.migration_transition(migration['id'], [db.migration_get(migration['id'])['status']],
                                to_state, values=values)

    with pytest.raises(exceptions.Conflict) as raised:
        cluster.conductor.abort_migration(cluster.ctxt, migration['id'], 'who runs it?')
    assert 'conductor1 does not run it' in str(raised.value)
    assert db.migration_get(migration['id'])['status'] == states.RUNNING


def test_abort_in_finishing_is_refused(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    migration = _create(db, 'vm1')
    for to_state in (states.SCHEDULING, states.PREPARING, states.RUNNING, states.FINISHING):
        db.migration_transition(migration['id'], [db.migration_get(migration['id'])['status']],
                                to_state, values={'target_host': 'host2'})

    with pytest.raises(exceptions.Conflict) as raised:
        cluster.conductor.abort_migration(cluster.ctxt, migration['id'], 'too late')
    assert 'point of no return' in str(raised.value)
    assert 'host2' in str(raised.value)


def test_shared_storage_only_is_refused_for_local_disks(db, cluster):
    cluster.drivers['host1'].add_domain('local', disk_dir='/local')
    cluster.drivers['host1'].add_domain('shared', disk_dir='/shared')
    cluster.report_all()

    with pytest.raises(exceptions.Conflict) as raised:
        cluster.conductor.select_destination(cluster.ctxt, db.instance_get('local')['uuid'],
                                             'live', 'host2', block_migration=False)
    message = str(raised.value)
    assert 'vda (/local/local.qcow2)' in message
    assert 'not on storage shared between host1 and host2' in message
    assert 'block_migration "auto" or true' in message
    assert cluster.conductor.select_destination(
        cluster.ctxt, db.instance_get('shared')['uuid'], 'live', 'host2',
        block_migration=False) == 'host2'
    assert cluster.conductor.select_destination(
        cluster.ctxt, db.instance_get('local')['uuid'], 'live', 'host2') == 'host2'


def test_abort_the_source_cannot_deliver_lets_the_migration_finish(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    cluster.cloud.hold_jobs = True
    agent = cluster.compute_api.agents['host1']
    tried = []

    def unreachable(ctxt, migration_id, instance_uuid):
        tried.append(migration_id)
        cluster.cloud.release_jobs()    # meanwhile the job completes on its own
        raise exceptions.HypervisorError(host='host1', reason='libvirtd does not answer')

    agent.abort_live_migration = unreachable
    migration = _create(db, 'vm1')
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    assert cluster.cloud.job_running.wait(10)

    cluster.conductor.abort_migration(cluster.ctxt, migration['id'], 'operator said so')
    final = _finish(db, cluster, migration['id'])

    assert tried == [migration['id']]
    assert final['status'] == states.COMPLETED, final
    assert cluster.where(domain['uuid']) == ['host2']
