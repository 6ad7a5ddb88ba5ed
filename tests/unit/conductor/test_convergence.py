"""The conductor's side of convergence: settings handed to the agent, the completion timeout
ending a migration cancelled, force-complete, and progress samples."""

import pytest

from migrator.common import convergence, exceptions, states
from migrator.conductor import manager
from tests.functional.service import processes
from tests.unit.conductor import fakes


@pytest.fixture
def cluster(db):
    conductors = []

    def factory(compute_api):
        conductor = manager.ConductorManager(db, compute_api=compute_api, host='conductor1')
        conductors.append(conductor)
        return conductor

    cluster = fakes.FakeCluster(factory)
    cluster.cloud.shared_dirs.add('/shared')
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    yield cluster
    for conductor in conductors:
        conductor.executor.shutdown(wait=True)


def _start(db, cluster, **controls):
    instance = db.instance_get('vm1')
    migration = db.migration_create({
        'instance_uuid': instance['uuid'], 'instance_name': instance['name'], 'type': 'live',
        'source_host': instance['host'], 'requested_target': 'host2',
        'block_migration': None, 'convergence': convergence.effective(controls)})
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    return migration['id']


def _wait_end(db, cluster, migration_id):
    cluster.conductor.executor.shutdown(wait=True)
    return db.migration_get(migration_id)


def _history(migration):
    return [e['to_state'] for e in migration['events']]


def test_effective_settings_reach_the_agent(db, cluster):
    migration_id = _start(db, cluster, bandwidth_mib=16, auto_converge=True)
    migration = _wait_end(db, cluster, migration_id)
    assert migration['status'] == states.COMPLETED
    assert cluster.cloud.last_controls == migration['convergence']
    assert cluster.cloud.last_controls['bandwidth_mib'] == 16
    assert cluster.cloud.last_controls['auto_converge'] is True
    # The agent's progress report was kept as a sample.
    samples = db.migration_sample_list(migration_id)
    assert len(samples) == 1 and samples[0]['progress'] == 60.0
    assert samples[0]['transfer_rate'] == 50 and samples[0]['eta_seconds'] == 1.0


def test_completion_timeout_abort_ends_cancelled_on_the_source(db, cluster):
    uuid = db.instance_get('vm1')['uuid']
    cluster.cloud.next_migration_behaviour = 'timeout'
    migration = _wait_end(db, cluster, _start(db, cluster, completion_timeout_per_gib=1))
    assert migration['status'] == states.CANCELLED, migration
    assert _history(migration)[-2:] == ['cancelling', 'cancelled']
    assert 'completion timeout hit' in migration['error']
    assert 'runs on the source host1' in migration['events'][-1]['detail']
    assert cluster.where(uuid) == ['host1']
    assert db.instance_get('vm1')['migration_id'] is None


@pytest.mark.parametrize('post_copy, forced, history, detail', [
    (True, 'post_copy', ['running', 'post_copy', 'finishing', 'completed'], 'in post-copy'),
    (False, 'paused', ['running', 'finishing', 'completed'], 'guest was paused'),
])
def test_force_complete(db, cluster, post_copy, forced, history, detail):
    uuid = db.instance_get('vm1')['uuid']
    cluster.cloud.next_migration_behaviour = 'stall'
    migration_id = _start(db, cluster, post_copy=post_copy)
    processes.wait_until(lambda: db.migration_get(migration_id)['status'] == states.RUNNING,
                         10, 'the migration to run')

    assert cluster.conductor.force_complete(cluster.ctxt, migration_id) == {'forced': forced}

    migration = _wait_end(db, cluster, migration_id)
    assert migration['status'] == states.COMPLETED, migration
    assert _history(migration)[-len(history):] == history
    assert detail in [e for e in migration['events'] if e['to_state'] == 'finishing'][0][
        'detail']
    assert cluster.where(uuid) == ['host2']


def test_force_complete_refused_unless_running(db, cluster):
    cluster.cloud.next_migration_behaviour = None
    migration_id = _start(db, cluster)
    _wait_end(db, cluster, migration_id)
    with pytest.raises(exceptions.Conflict) as raised:
        cluster.conductor.force_complete(cluster.ctxt, migration_id)
    assert 'is completed, not running' in str(raised.value)


def test_force_complete_when_the_source_agent_is_silent_is_503(db, cluster, monkeypatch):
    import oslo_messaging
    cluster.cloud.next_migration_behaviour = 'stall'
    migration_id = _start(db, cluster)
    processes.wait_until(lambda: db.migration_get(migration_id)['status'] == states.RUNNING,
                         10, 'the migration to run')

    def silent(*args, **kwargs):
        raise oslo_messaging.MessagingTimeout('no reply')
    monkeypatch.setattr(cluster.compute_api.agents['host1'], 'live_migration_force_complete',
                        silent)
    with pytest.raises(exceptions.AgentUnavailable) as raised:
        cluster.conductor.force_complete(cluster.ctxt, migration_id)

    assert raised.value.code == 503
    assert 'host1 did not answer' in str(raised.value)
    assert db.migration_get(migration_id)['status'] == states.RUNNING
    monkeypatch.undo()
    cluster.conductor.force_complete(cluster.ctxt, migration_id)
    assert _wait_end(db, cluster, migration_id)['status'] == states.COMPLETED


def test_post_copy_report_moves_the_state_once(db, cluster):
    instance = db.instance_get('vm1')
    migration = db.migration_create({'instance_uuid': instance['uuid'], 'type': 'live'})
    for to_state in (states.SCHEDULING, states.PREPARING, states.RUNNING):
        db.migration_transition(migration['id'], [db.migration_get(migration['id'])['status']],
                                to_state, values={'target_host': 'host2'})
    for _ in range(2):
        cluster.conductor.migration_progress(cluster.ctxt, migration['id'], {
            'data_total': 100, 'data_remaining': 5, 'post_copy': True,
            'forced_by': 'completion timeout hit'})
    shown = db.migration_get(migration['id'])
    assert shown['status'] == states.POST_COPY
    assert _history(shown).count('post_copy') == 1
    assert 'completion timeout hit' in shown['events'][-1]['detail']
    assert db.migration_sample_count(migration['id']) == 2


def test_conductor_waits_past_a_longer_completion_timeout(db, cluster):
    from migrator.conductor.tasks import live
    instance = db.instance_get('vm1')    # 256 MiB
    migration = db.migration_create({
        'instance_uuid': instance['uuid'], 'type': 'live',
        'convergence': convergence.effective({'completion_timeout_per_gib': 100000})})
    task = live.LiveMigrationTask(cluster.ctxt, db, cluster.compute_api, migration, None,
                                  cluster.conductor.scheduler)
    task.instance = instance
    assert task._job_wait() == 100000 / 4 + live.JOB_END_GRACE
    task.migration = {**migration, 'convergence': convergence.effective(
        {'completion_timeout_per_gib': 10})}
    assert task._job_wait() == live.CONF.conductor.migration_timeout
    task.migration = {**migration, 'convergence': None}
    assert task._job_wait() == live.CONF.conductor.migration_timeout
