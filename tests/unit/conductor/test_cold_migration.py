"""The cold migration task's logic over the fake driver (the real copy is tested on the
sandbox in tests/functional/service/test_cold_migration.py)."""

import threading
import time

import pytest
from oslo_config import cfg

from migrator.common import exceptions, failpoints, states
from migrator.compute.virt import fake
from migrator.conductor import disk_exports, manager
from migrator.conductor.tasks import cold
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
    yield cluster
    cluster.cloud.hold_copies.set()
    for conductor in conductors:
        conductor.executor.shutdown(wait=True)


def _create(db, name, target='host2'):
    instance = db.instance_get(name)
    return db.migration_create({
        'instance_uuid': instance['uuid'], 'instance_name': instance['name'], 'type': 'cold',
        'source_host': instance['host'], 'requested_target': target,
        'block_migration': None})


def _request(db, cluster, name, target='host2'):
    migration = _create(db, name, target)
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    cluster.conductor.executor.shutdown(wait=True)
    return db.migration_get(migration['id'])


def _started_task(db, cluster, name, target='host2'):
    """A cold task running in a thread of its own, as the conductor would run it."""
    migration = _create(db, name, target)
    migration = db.migration_transition(migration['id'], [states.ACCEPTED],
                                        states.SCHEDULING, values={'conductor': 'conductor1'})
    task = cold.ColdMigrationTask(cluster.ctxt, db, cluster.compute_api, migration,
                                  cluster.conductor.waiters, cluster.conductor.scheduler)
    thread = threading.Thread(target=task.run)
    thread.start()
    return task, thread


def _wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def _history(migration):
    return [e['to_state'] for e in migration['events']]


def _local_vm(cluster, name='vm1', host='host1'):
    domain = cluster.drivers[host].add_domain(name, disk_dir='/local')
    cluster.report_all()
    return domain


def test_cold_migration_copies_local_disk_and_moves_guest(db, cluster):
    domain = _local_vm(cluster)

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    assert _history(migration) == ['accepted', 'scheduling', 'preparing', 'stopping',
                                   'copying', 'starting', 'finishing', 'completed']
    assert migration['progress'] == 100.0
    assert migration['block_migration'] is True
    assert cluster.where(domain['uuid']) == ['host2']
    moved = cluster.cloud.domains['host2'][domain['uuid']]
    assert moved['active'] and moved['disks'][0]['path'] == '/local/vm1.qcow2'
    assert cluster.cloud.has_file('host2', '/local/vm1.qcow2')
    assert not cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    assert db.instance_get('vm1')['host'] == 'host2'
    assert db.instance_get('vm1')['migration_id'] is None


def test_the_copy_end_is_written_once_on_the_way_to_starting(db, cluster, monkeypatch):
    """The copy's final figures already say 100 %: no second write of the same before the
    guest is defined on the target (one DB round trip less on the critical path)."""
    _local_vm(cluster)
    writes = []
    update = db.migration_update_progress

    def recording(mig_id, values, sample=False):
        if not sample:     # the agent's samples go through the conductor's endpoint
            writes.append(dict(values))
        return update(mig_id, values, sample=sample)

    monkeypatch.setattr(db, 'migration_update_progress', recording)

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    assert [w['progress'] for w in writes] == [100.0]
    assert writes[0]['eta_seconds'] == 0.0 and writes[0]['disk_processed'] > 0
    assert migration['progress'] == 100.0 and migration['eta_seconds'] == 0.0


def test_nothing_to_copy_still_shows_the_copy_done(db, cluster):
    cluster.drivers['host1'].add_domain('vm1', disk_dir='/shared')
    cluster.report_all()

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    assert migration['progress'] == 100.0 and migration['eta_seconds'] == 0.0


def test_shared_disk_is_not_copied_and_stays(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1', disk_dir='/shared')
    cluster.report_all()

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    assert migration['block_migration'] is False
    assert '0 disk(s) to copy, 1 on shared storage' in migration['events'][4]['detail']
    assert cluster.where(domain['uuid']) == ['host2']
    # Removing the source's definition must not take the shared disk with it.
    assert cluster.cloud.has_file('host2', '/shared/vm1.qcow2')


def test_guest_ignoring_acpi_is_forced_off(db, cluster):
    _local_vm(cluster)
    cluster.cloud.ignore_acpi = True

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED
    assert 'forced off: no shutdown within the timeout' in migration['events'][4]['detail']


def test_shut_off_guest_is_moved_and_stays_off(db, cluster):
    domain = _local_vm(cluster)
    cluster.drivers['host1'].power_off(domain['uuid'], 0)
    cluster.report_all()

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    assert 'already shut off' in migration['events'][3]['detail']
    assert not cluster.cloud.domains['host2'][domain['uuid']]['active']


def test_failed_copy_cleans_target_and_restarts_on_source(db, cluster):
    domain = _local_vm(cluster)
    cluster.cloud.fail_next_copy = 'disk copy failed: No space left on device'

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.FAILED, migration
    assert 'No space left on device' in migration['error']
    assert _history(migration)[-2:] == ['rolling_back', 'failed']
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.domains['host1'][domain['uuid']]['active']
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')
    assert cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    assert db.instance_get('vm1')['host'] == 'host1'


def test_target_holding_a_file_of_that_name_is_refused_before_the_guest_stops(db, cluster):
    domain = _local_vm(cluster)
    cluster.cloud.add_file('host2', '/local/vm1.qcow2')

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.FAILED
    assert '/local/vm1.qcow2 already exists on host2' in migration['error']
    assert 'stopping' not in _history(migration)
    assert cluster.cloud.domains['host1'][domain['uuid']]['active']
    # Not ours: the rollback leaves it alone.
    assert cluster.cloud.has_file('host2', '/local/vm1.qcow2')


def test_abort_while_copying_cancels_and_guest_runs_on_source(db, cluster):
    domain = _local_vm(cluster)
    cluster.cloud.hold_copies.clear()

    task, thread = _started_task(db, cluster, 'vm1')
    assert cluster.cloud.copy_halfway.wait(10)
    # The agent sends its progress from its outbox thread: it lands a moment later.
    running = _wait_for(lambda: (lambda m: m if m['progress'] == 50.0 else None)(
        db.migration_get(task.id)))
    assert running['status'] == states.COPYING
    assert running['eta_seconds'] == 5.0

    task.request_abort('operator asked')
    thread.join(10)

    migration = db.migration_get(task.id)
    assert migration['status'] == states.CANCELLED, migration
    assert _history(migration)[-3:] == ['copying', 'cancelling', 'cancelled']
    assert 'operator asked' in migration['error']
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.domains['host1'][domain['uuid']]['active']
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')


def test_a_copy_lost_to_a_target_agent_restart_is_rolled_back(db, cluster):
    cold.CONF.set_override('disk_copy_check_interval', 0.1, group='conductor')
    try:
        domain = _local_vm(cluster)
        cluster.cloud.hold_copies.clear()
        task, thread = _started_task(db, cluster, 'vm1')
        assert cluster.cloud.copy_halfway.wait(10)
        assert cluster.cloud.has_file('host2', '/local/vm1.qcow2')
        cluster.drivers['host2'].forget_copies()    # the target's agent restarted
        thread.join(30)
    finally:
        cold.CONF.clear_override('disk_copy_check_interval', group='conductor')

    migration = db.migration_get(task.id)
    assert migration['status'] == states.FAILED, migration
    assert 'stopped on host2 without reporting its end' in migration['error']
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.domains['host1'][domain['uuid']]['active']
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')


def test_a_copy_whose_end_was_lost_completes_from_the_agents_word(db, cluster, monkeypatch):
    # The agent's cast of the copy's end is lost (as with a broker restart): the conductor
    # asks the target agent, which remembers how the copy ended.
    monkeypatch.setenv(failpoints.ENV, 'compute.job_done=drop')
    monkeypatch.setattr(failpoints, '_points', None)
    cold.CONF.set_override('disk_copy_check_interval', 0.1, group='conductor')
    try:
        domain = _local_vm(cluster)
        migration = _request(db, cluster, 'vm1')
    finally:
        cold.CONF.clear_override('disk_copy_check_interval', group='conductor')
        failpoints._points = None

    assert migration['status'] == states.COMPLETED, migration
    assert cluster.where(domain['uuid']) == ['host2']
    assert cluster.cloud.domains['host2'][domain['uuid']]['active']
    assert cluster.cloud.has_file('host2', '/local/vm1.qcow2')


def test_abort_before_the_guest_stops_leaves_it_running(db, cluster):
    domain = _local_vm(cluster)
    migration = db.migration_transition(_create(db, 'vm1')['id'], [states.ACCEPTED],
                                        states.SCHEDULING)
    task = cold.ColdMigrationTask(cluster.ctxt, db, cluster.compute_api, migration,
                                  cluster.conductor.waiters, cluster.conductor.scheduler)
    task.request_abort('changed my mind')
    task.run()

    migration = db.migration_get(task.id)
    assert migration['status'] == states.CANCELLED
    assert 'stopping' not in _history(migration)
    assert cluster.cloud.domains['host1'][domain['uuid']]['active']
    assert cluster.where(domain['uuid']) == ['host1']



def test_conductor_abort_stops_the_copy_of_a_cold_migration(db, cluster):
    domain = _local_vm(cluster)
    cluster.cloud.hold_copies.clear()
    migration = _create(db, 'vm1')
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    assert cluster.cloud.copy_halfway.wait(10)

    answer = cluster.conductor.abort_migration(cluster.ctxt, migration['id'], 'operator')
    assert answer['status'] == states.COPYING
    cluster.conductor.executor.shutdown(wait=True)

    migration = db.migration_get(migration['id'])
    assert migration['status'] == states.CANCELLED, migration
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.domains['host1'][domain['uuid']]['active']
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')


def test_source_copy_stays_unless_the_source_sees_the_guest_on_the_target(db, cluster,
                                                                         monkeypatch):
    """The source reads host2's hypervisor itself before it gives up its copy; when that
    does not show the guest (whatever host2's agent said), nothing is removed from host1."""
    domain = _local_vm(cluster)
    monkeypatch.setattr(cluster.drivers['host1'], 'peer_domain_state', lambda uuid, uri: {
        'exists': False, 'active': False, 'incoming': False, 'disks': []})

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.ERROR, migration
    assert 'could not confirm' in migration['error']
    assert cluster.cloud.has_file('host1', '/local/vm1.qcow2')
    assert domain['uuid'] in cluster.cloud.domains['host1']


# -- the nbd disk copy ([compute] disk_copy_method, compute RPC 1.10) -----------------------


def test_the_default_copy_goes_by_nbd_with_a_key_and_stops_the_exports(db, cluster):
    _local_vm(cluster)

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    starting = next(e for e in migration['events'] if e['to_state'] == 'starting')
    assert starting['detail'].startswith('disks copied by nbd, unencrypted'), starting
    given = cluster.drivers['host2'].copied_from[migration['id']]
    assert [e['path'] for e in given['exports']['exports']] == ['/local/vm1.qcow2']
    # The key both agents got (the source may encrypt on its own); not in the DB.
    assert len(given['psk']) == 64 and int(given['psk'], 16)
    assert given['psk'] not in repr(db.migration_get(migration['id']))
    # The source's exports are stopped once the copy ended.
    assert cluster.drivers['host1'].exports == {}


def test_every_migration_gets_a_key_of_its_own():
    keys = {disk_exports.new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 64 and int(k, 16) >= 0 for k in keys)


def test_a_source_with_tls_gets_an_encrypted_copy(db, cluster, monkeypatch):
    """A host reporting a qemu+tls:// URI runs with [libvirt] remote_transport = tls."""
    monkeypatch.setattr(fake.FakeDriver, 'migration_uri', property(
        lambda self: 'qemu+tls://host1/system' if self.host == 'host1'
        else f'fake://{self.host}'))
    _local_vm(cluster)

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    starting = next(e for e in migration['events'] if e['to_state'] == 'starting')
    assert starting['detail'].startswith('disks copied by nbd with TLS-PSK'), starting
    assert cluster.drivers['host2'].copied_from[migration['id']]['exports']['tls'] is True


def test_the_conductors_own_tls_setting_encrypts_the_copy(db, cluster):
    cfg.CONF.set_override('remote_transport', 'tls', group='libvirt')
    try:
        _local_vm(cluster)
        migration = _request(db, cluster, 'vm1')
    finally:
        cfg.CONF.clear_override('remote_transport', group='libvirt')

    assert migration['status'] == states.COMPLETED, migration
    assert cluster.drivers['host2'].copied_from[migration['id']]['exports']['tls'] is True


def test_a_source_set_to_stream_copies_by_stream(db, cluster):
    cfg.CONF.set_override('disk_copy_method', 'stream', group='compute')
    try:
        _local_vm(cluster)
        migration = _request(db, cluster, 'vm1')
    finally:
        cfg.CONF.clear_override('disk_copy_method', group='compute')

    assert migration['status'] == states.COMPLETED, migration
    starting = next(e for e in migration['events'] if e['to_state'] == 'starting')
    assert starting['detail'].startswith('disks copied by libvirt stream'), starting
    assert cluster.drivers['host2'].copied_from == {}


def test_agents_pinned_below_1_10_copy_by_stream(db, cluster):
    cluster.compute_api.nbd_allowed = False
    _local_vm(cluster)

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED, migration
    assert cluster.drivers['host2'].copied_from == {}
    assert cluster.drivers['host1'].exports == {}


def test_a_failed_nbd_copy_stops_the_exports_and_rolls_back(db, cluster):
    domain = _local_vm(cluster)
    cluster.cloud.fail_next_copy = 'disk copy failed: qemu-img convert exited with 1'

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.FAILED, migration
    assert 'qemu-img convert exited with 1' in migration['error']
    assert cluster.drivers['host2'].copied_from[migration['id']]
    assert cluster.drivers['host1'].exports == {}
    assert cluster.where(domain['uuid']) == ['host1']
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')


def test_an_export_the_source_refuses_rolls_back_before_any_copy(db, cluster, monkeypatch):
    domain = _local_vm(cluster)

    def refuse(*args, **kwargs):
        raise exceptions.MigrationFailed(reason='no free port for the export of '
                                                '/local/vm1.qcow2')
    monkeypatch.setattr(cluster.drivers['host1'], 'export_disks', refuse)

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.FAILED, migration
    assert 'no free port' in migration['error']
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.domains['host1'][domain['uuid']]['active']
    assert not cluster.cloud.has_file('host2', '/local/vm1.qcow2')
