import pytest

from migrator.common import exceptions, states
from migrator.conductor import manager
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
    for conductor in conductors:
        conductor.executor.shutdown(wait=True)


def _request(db, cluster, name, target=None):
    instance = db.instance_get(name)
    migration = db.migration_create({
        'instance_uuid': instance['uuid'], 'instance_name': instance['name'], 'type': 'live',
        'source_host': instance['host'], 'requested_target': target,
        'block_migration': None})
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    cluster.conductor.executor.shutdown(wait=True)
    return db.migration_get(migration['id'])


def _history(migration):
    return [e['to_state'] for e in migration['events']]


def test_live_migration_moves_guest_and_records_history(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()

    migration = _request(db, cluster, 'vm1', target='host2')

    assert migration['status'] == states.COMPLETED, migration
    assert _history(migration) == ['accepted', 'scheduling', 'preparing', 'running',
                                   'finishing', 'completed']
    assert migration['progress'] == 100.0
    assert cluster.where(domain['uuid']) == ['host2']
    assert db.instance_get('vm1')['host'] == 'host2'
    assert db.instance_get('vm1')['migration_id'] is None


def test_job_end_reported_before_libvirt_undefined_the_source_copy_completes(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    cluster.cloud.next_migration_behaviour = 'late_undefine'

    migration = _request(db, cluster, 'vm1', target='host2')

    assert migration['status'] == states.COMPLETED, migration
    assert db.instance_get('vm1')['host'] == 'host2'


def test_scheduler_picks_host_with_most_free_memory(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.drivers['host2'].add_domain('big', memory_mb=4096)
    cluster.report_all()

    migration = _request(db, cluster, 'vm1')

    assert migration['status'] == states.COMPLETED
    assert migration['target_host'] == 'host3'


def test_failed_job_rolls_back_and_guest_stays_on_source(db, cluster):
    domain = cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    cluster.cloud.fail_next_migration = 'operation failed: migration job: unexpectedly failed'

    migration = _request(db, cluster, 'vm1', target='host2')

    assert migration['status'] == states.FAILED
    assert 'unexpectedly failed' in migration['error']
    assert _history(migration)[-2:] == ['rolling_back', 'failed']
    assert cluster.where(domain['uuid']) == ['host1']
    assert db.instance_get('vm1')['host'] == 'host1'
    assert db.instance_get('vm1')['migration_id'] is None


def test_select_destination_explains_why_no_host_fits(db, cluster):
    cluster.drivers['host1'].add_domain('huge', memory_mb=7800)
    cluster.report_all()

    with pytest.raises(exceptions.NoValidHost) as raised:
        cluster.conductor.select_destination(cluster.ctxt, 'huge', 'live', 'host2')
    assert 'host2 has' in str(raised.value) and 'needs 7800 MiB' in str(raised.value)


def test_disabled_and_down_hosts_are_not_chosen(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    db.host_set_status('host2', 'disabled', 'firmware update')

    with pytest.raises(exceptions.NoValidHost) as raised:
        cluster.conductor.select_destination(cluster.ctxt, 'vm1', 'live', 'host2')
    assert 'host2 is disabled: firmware update' in str(raised.value)
    assert cluster.conductor.select_destination(cluster.ctxt, 'vm1', 'live') == 'host3'
