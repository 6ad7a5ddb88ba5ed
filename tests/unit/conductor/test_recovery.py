"""A conductor started again settles the migrations it drove before: from what the (fake)
hypervisors say, over a real DB. The migrations are left in flight in the DB as a conductor
that died would leave them; the conductor under test never ran them."""

import threading
import time

from migrator.common import states

HOST = 'conductor1'   # the conductor of the cluster fixture (conftest.py)


def _orphan(db, cluster, name, status, kind='live', target='host2', disk_dir='/shared',
            block_migration=False, conductor=HOST, stop_detail='shutting down'):
    """A migration of a new guest on host1, left in `status` by `conductor`."""
    domain = cluster.drivers['host1'].add_domain(name, memory_mb=512, disk_dir=disk_dir)
    cluster.report_all()
    migration = db.migration_create({'instance_uuid': domain['uuid'], 'type': kind,
                                     'instance_name': name, 'source_host': 'host1'})
    mid = migration['id']
    db.slot_acquire(mid, states.ACCEPTED, 10, 10, 'test', values={'conductor': conductor})
    assert db.claim_target(mid, domain['uuid'], 'host1', target,
                           {'memory_mb': 512, 'vcpus': 1, 'disk_gb': 0},
                           {'ram_ratio': 1.0, 'cpu_ratio': 4.0, 'disk_ratio': 1.0,
                            'reserved_disk_gb': 0, 'inbound': 10,
                            'heartbeat_after': db.host_get(target)['last_heartbeat']})
    path = {'live': [states.PREPARING, states.RUNNING, states.FINISHING],
            'cold': [states.PREPARING, states.STOPPING, states.COPYING, states.STARTING]}[kind]
    current = states.SCHEDULING
    undoing = status in (states.CANCELLING, states.ROLLING_BACK)
    for to_state in path:
        if current == status or (undoing and current == states.RUNNING):
            break
        values = {'target_host': target} if to_state == states.PREPARING else None
        if to_state == states.RUNNING:
            values = {'block_migration': block_migration}
        db.migration_transition(mid, [current], to_state, values=values,
                                detail=stop_detail if to_state == states.STOPPING else None)
        current = to_state
    if undoing:
        db.migration_transition(mid, [current], status)
    assert db.migration_get(mid)['status'] == status
    return mid, domain['uuid']


def _events(db, mid):
    return [(e['to_state'], e['detail']) for e in db.migration_get(mid)['events']]


def test_scheduling_goes_back_to_the_queue_and_runs_again(db, cluster):
    mid, uuid = _orphan(db, cluster, 'vm1', states.SCHEDULING)
    assert db.host_get('host2')['claimed_memory_mb'] == 512

    assert cluster.conductor.recover() == {mid: states.QUEUED}
    # Back in the queue with its claims given back, then started again by the queue pass
    # the recovery triggers: a new task takes it to the end.
    cluster.conductor.executor.shutdown(wait=True)
    migration = db.migration_get(mid)
    assert migration['status'] == states.COMPLETED, migration
    assert 'restarted' in [e for e in migration['events']
                           if e['to_state'] == states.QUEUED][0]['detail']
    assert cluster.where(uuid) == [migration['target_host']]


def test_a_job_that_completed_meanwhile_completes_the_migration(db, cluster):
    mid, uuid = _orphan(db, cluster, 'vm1', states.RUNNING)
    with cluster.cloud.lock:     # the job ended while no conductor listened
        cluster.cloud.domains['host2'][uuid] = cluster.cloud.domains['host1'].pop(uuid)

    assert cluster.conductor.recover() == {mid: states.COMPLETED}
    assert db.instance_get(uuid)['host'] == 'host2'
    assert 'completed without it' in _events(db, mid)[-1][1]
    # Slots given back; the guest's memory stays claimed until host2 reports it.
    assert db.scheduler_active_count() == 0
    cluster.report_all()
    assert db.host_get('host2')['claimed_memory_mb'] == 0


def test_a_job_still_running_is_waited_for(db, cluster, monkeypatch):
    monkeypatch.setattr('migrator.conductor.recovery.POLL_SECONDS', 0.01)
    mid, uuid = _orphan(db, cluster, 'vm1', states.RUNNING)
    cluster.cloud.hold_jobs = True
    ended = threading.Event()
    cluster.drivers['host1'].live_migrate(uuid, 'fake://host2', None, lambda stats: None,
                                          lambda outcome: ended.set())
    assert cluster.cloud.job_running.wait(5)
    result = {}
    recovering = threading.Thread(target=lambda: result.update(cluster.conductor.recover()))
    recovering.start()
    # It waits while the job runs: the migration is untouched.
    assert db.migration_get(mid)['status'] == states.RUNNING
    cluster.cloud.release_jobs()
    recovering.join(10)
    assert ended.is_set() and result == {mid: states.COMPLETED}
    assert cluster.where(uuid) == ['host2']


def test_a_cancelling_migration_has_its_job_aborted_and_ends_cancelled(db, cluster,
                                                                       monkeypatch):
    monkeypatch.setattr('migrator.conductor.recovery.POLL_SECONDS', 0.01)
    mid, uuid = _orphan(db, cluster, 'vm1', states.CANCELLING)
    cluster.cloud.hold_jobs = True
    cluster.drivers['host1'].live_migrate(uuid, 'fake://host2', None, lambda stats: None,
                                          lambda outcome: None)
    assert cluster.cloud.job_running.wait(5)

    assert cluster.conductor.recover() == {mid: states.CANCELLED}
    assert cluster.where(uuid) == ['host1']
    assert db.instance_get(uuid)['host'] == 'host1'
    assert db.host_get('host2')['claimed_memory_mb'] == 0


def test_a_failed_block_migration_leaves_nothing_on_the_target(db, cluster):
    mid, uuid = _orphan(db, cluster, 'vm1', states.RUNNING, disk_dir='/local',
                        block_migration=True)
    with cluster.cloud.lock:     # the destination disk the task had created
        cluster.cloud.add_file('host2', '/local/vm1.qcow2')

    assert cluster.conductor.recover() == {mid: states.FAILED}
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')
    assert cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    migration = db.migration_get(mid)
    assert 'restarted' in migration['error'] and cluster.where(uuid) == ['host1']


def test_a_guest_running_nowhere_ends_in_error(db, cluster):
    mid, uuid = _orphan(db, cluster, 'vm1', states.FINISHING)
    with cluster.cloud.lock:
        cluster.cloud.domains['host1'].pop(uuid)

    assert cluster.conductor.recover() == {mid: states.ERROR}
    assert 'restarted' in db.migration_get(mid)['error']


def _stop(cluster, host, uuid):
    with cluster.cloud.lock:
        cluster.cloud.domains[host][uuid].update(active=False, power_state='shutoff')


def test_an_interrupted_cold_copy_is_removed_and_the_guest_runs_again_on_the_source(
        db, cluster):
    mid, uuid = _orphan(db, cluster, 'vm1', states.COPYING, kind='cold', disk_dir='/local')
    _stop(cluster, 'host1', uuid)
    with cluster.cloud.lock:     # the partial copy
        cluster.cloud.add_file('host2', '/local/vm1.qcow2')
    # ... pulled from an nbd export of the source (its key and process still there)
    cluster.drivers['host1'].exports[mid] = {'psk': 'ab' * 32, 'paths': ['/local/vm1.qcow2']}

    assert cluster.conductor.recover() == {mid: states.FAILED}
    assert cluster.drivers['host1'].exports == {}
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')
    assert cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    assert cluster.where(uuid) == ['host1']
    assert cluster.drivers['host1'].get_domain_state(uuid)['active']
    assert 'while the cold migration was copying' in db.migration_get(mid)['error']
    assert db.scheduler_active_count() == 0


def test_a_guest_that_was_shut_off_is_not_started(db, cluster):
    mid, uuid = _orphan(db, cluster, 'vm1', states.COPYING, kind='cold', disk_dir='/local',
                        stop_detail='already shut off')
    _stop(cluster, 'host1', uuid)
    assert cluster.conductor.recover() == {mid: states.FAILED}
    assert not cluster.drivers['host1'].get_domain_state(uuid)['active']


def test_a_cold_migration_started_on_the_target_goes_forward(db, cluster):
    mid, uuid = _orphan(db, cluster, 'vm1', states.STARTING, kind='cold', disk_dir='/local')
    _stop(cluster, 'host1', uuid)
    with cluster.cloud.lock:     # the copy, defined and running on the target
        cluster.cloud.add_file('host2', '/local/vm1.qcow2')
        domain = dict(cluster.cloud.domains['host1'][uuid], active=True,
                      power_state='running')
        cluster.cloud.domains['host2'][uuid] = domain

    assert cluster.conductor.recover() == {mid: states.COMPLETED}
    assert cluster.where(uuid) == ['host2']
    assert not cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    assert db.instance_get(uuid)['host'] == 'host2'


def test_migrations_of_other_conductors_and_with_tasks_here_are_left_alone(db, cluster):
    taken, _ = _orphan(db, cluster, 'vm1', states.SCHEDULING)
    theirs, _ = _orphan(db, cluster, 'vm2', states.SCHEDULING, conductor='conductor2')
    orphan, _ = _orphan(db, cluster, 'vm3', states.SCHEDULING)
    with cluster.conductor._tasks_lock:
        cluster.conductor._tasks[taken] = object()   # taken by this run: not an orphan
    try:
        assert cluster.conductor.recover() == {orphan: states.QUEUED}
    finally:
        with cluster.conductor._tasks_lock:
            cluster.conductor._tasks.pop(taken)
    assert db.migration_get(taken)['status'] == states.SCHEDULING
    assert db.migration_get(theirs)['status'] == states.SCHEDULING


def test_an_abort_while_settling_cancels_the_job(db, cluster, monkeypatch):
    monkeypatch.setattr('migrator.conductor.recovery.POLL_SECONDS', 0.01)
    mid, uuid = _orphan(db, cluster, 'vm1', states.RUNNING)
    cluster.cloud.hold_jobs = True
    cluster.drivers['host1'].live_migrate(uuid, 'fake://host2', None, lambda stats: None,
                                          lambda outcome: None)
    assert cluster.cloud.job_running.wait(5)
    result = {}
    recovering = threading.Thread(target=lambda: result.update(cluster.conductor.recover()))
    recovering.start()
    _wait_until(lambda: mid in cluster.conductor._settling, 'the settling to start')

    answer = cluster.conductor.abort_migration(cluster.ctxt, mid, 'an operator asked')
    assert answer['status'] == states.CANCELLING
    recovering.join(10)
    assert result == {mid: states.CANCELLED}
    assert cluster.where(uuid) == ['host1']
    assert mid not in cluster.conductor._settling


def _wait_until(predicate, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.005)


def test_a_target_agent_alone_cannot_have_the_source_copy_removed(db, cluster, monkeypatch):
    """host2's agent claims the cold-migrated guest runs there; host2's hypervisor has no
    such guest. The source checks host2's hypervisor itself and keeps everything."""
    mid, uuid = _orphan(db, cluster, 'vm1', states.STARTING, kind='cold', disk_dir='/local')
    _stop(cluster, 'host1', uuid)
    monkeypatch.setattr(cluster.drivers['host2'], 'get_domain_state', lambda u: {
        'exists': True, 'active': True, 'incoming': False, 'power_state': 'running'})

    assert cluster.conductor.recover() == {mid: states.ERROR}
    assert cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    assert cluster.drivers['host1'].get_domain_state(uuid)['exists']
    assert 'could not confirm' in db.migration_get(mid)['error']


def test_old_disks_removed_are_only_those_the_target_daemon_shows(db, cluster, monkeypatch):
    """After a block migration completed unseen, host2's agent names a disk of another guest
    on host1 among the old disks; only the guest's own disk is removed from host1."""
    mid, uuid = _orphan(db, cluster, 'vm1', states.RUNNING, disk_dir='/local',
                        block_migration=True)
    with cluster.cloud.lock:
        cluster.cloud.add_file('host1', '/local/other.qcow2')
        cluster.cloud.add_file('host2', '/local/vm1.qcow2')
        cluster.cloud.domains['host2'][uuid] = cluster.cloud.domains['host1'].pop(uuid)
    real_get_disks = cluster.drivers['host2'].get_disks
    monkeypatch.setattr(cluster.drivers['host2'], 'get_disks', lambda u: real_get_disks(u) + [
        {'target': 'vdz', 'path': '/local/other.qcow2', 'format': 'qcow2'}])

    assert cluster.conductor.recover() == {mid: states.COMPLETED}
    assert not cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    assert cluster.cloud.has_file('host1', '/local/other.qcow2')
