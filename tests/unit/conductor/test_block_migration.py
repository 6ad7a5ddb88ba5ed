"""Block live migration in the conductor, over the fake driver: which disks are copied,
their destinations, and what is left where after success, failure and abort."""

import pytest

from migrator.common import states


def _start(db, cluster, name, block_migration=None, target='host2'):
    instance = db.instance_get(name)
    migration = db.migration_create({
        'instance_uuid': instance['uuid'], 'instance_name': instance['name'], 'type': 'live',
        'source_host': instance['host'], 'requested_target': target,
        'block_migration': block_migration})
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    return migration['id']


def _end(db, cluster, migration_id):
    cluster.conductor.executor.shutdown(wait=True)
    return db.migration_get(migration_id)


def _detail(migration, to_state):
    return next(e['detail'] for e in migration['events'] if e['to_state'] == to_state)


DISK = '/local/vm1.qcow2'


def test_local_disk_is_copied_and_the_source_copy_removed(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1', disk_dir='/local')
    cluster.report_all()

    migration = _end(db, cluster, _start(db, cluster, 'vm1'))

    assert migration['status'] == states.COMPLETED, migration
    assert migration['block_migration'] is True
    assert 'block migration copying vda' in _detail(migration, 'running')
    assert f'removed its old disks {DISK} on host1' in _detail(migration, 'completed')
    assert cluster.where(domain['uuid']) == ['host2']
    assert cluster.cloud.has_file('host2', DISK)
    assert not cluster.cloud.has_file('host1', DISK)
    assert cluster.drivers['host2'].created_specs == [
        {'path': DISK, 'format': 'qcow2', 'capacity': 2 ** 30}]


def test_failed_block_migration_removes_the_destination_disk(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1', disk_dir='/local')
    cluster.report_all()
    cluster.cloud.fail_next_migration = 'operation failed: NBD server died'

    migration = _end(db, cluster, _start(db, cluster, 'vm1'))

    assert migration['status'] == states.FAILED, migration
    assert 'NBD server died' in migration['error']
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.has_file('host1', DISK)
    assert not cluster.cloud.has_file('host2', DISK)


def test_aborted_block_migration_leaves_nothing_on_the_target(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1', disk_dir='/local')
    cluster.report_all()
    cluster.cloud.hold_jobs = True
    migration_id = _start(db, cluster, 'vm1')
    assert cluster.cloud.job_running.wait(10)
    assert cluster.cloud.has_file('host2', DISK)    # pre-created before the job

    cluster.conductor.abort_migration(cluster.ctxt, migration_id, 'maintenance cancelled')
    migration = _end(db, cluster, migration_id)

    assert migration['status'] == states.CANCELLED, migration
    assert cluster.where(domain['uuid']) == ['host1']
    assert cluster.cloud.has_file('host1', DISK)
    assert not cluster.cloud.has_file('host2', DISK)


def test_shared_storage_only_fails_for_a_local_disk_before_anything_is_made(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1', disk_dir='/local')
    cluster.report_all()

    migration = _end(db, cluster, _start(db, cluster, 'vm1', block_migration=False))

    assert migration['status'] == states.FAILED, migration
    assert 'block_migration is false (shared storage only)' in migration['error']
    assert 'vda (/local/vm1.qcow2)' in migration['error']
    assert 'running' not in [e['to_state'] for e in migration['events']]
    assert cluster.where(domain['uuid']) == ['host1']
    assert not cluster.cloud.has_file('host2', DISK)


def test_a_file_already_at_the_destination_path_is_never_overwritten(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1', disk_dir='/local')
    cluster.drivers['host2'].add_domain('vm1-twin', disk_dir='/local')
    cluster.report_all()
    cluster.cloud.files[('host2', '/local')].add('vm1.qcow2')   # someone else's file

    migration = _end(db, cluster, _start(db, cluster, 'vm1'))

    assert migration['status'] == states.FAILED, migration
    assert f'host2 already has a file {DISK}' in migration['error']
    assert cluster.cloud.has_file('host2', DISK)     # still there
    assert cluster.where(domain['uuid']) == ['host1']


def test_block_migration_true_with_shared_storage_copies_nothing(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1', disk_dir='/shared')
    cluster.report_all()

    migration = _end(db, cluster, _start(db, cluster, 'vm1', block_migration=True))

    assert migration['status'] == states.COMPLETED, migration
    assert migration['block_migration'] is False
    assert 'nothing to copy' in _detail(migration, 'running')
    assert cluster.where(domain['uuid']) == ['host2']
    assert cluster.cloud.has_file('host1', '/shared/vm1.qcow2')


@pytest.mark.parametrize('backing_dir,keeps_backing', [('/shared', True), ('/local', False)])
def test_destination_keeps_the_backing_file_only_when_it_is_shared(db, cluster, backing_dir,
                                                                   keeps_backing):
    cluster.drivers['host1'].add_domain('vm1', disk_dir='/local',
                                        backing_path=f'{backing_dir}/base.qcow2')
    cluster.report_all()

    migration = _end(db, cluster, _start(db, cluster, 'vm1'))

    assert migration['status'] == states.COMPLETED, migration
    [spec] = cluster.drivers['host2'].created_specs
    if keeps_backing:
        assert spec['backing_path'] == '/shared/base.qcow2'
        assert spec['backing_format'] == 'qcow2'
    else:
        assert 'backing_path' not in spec
