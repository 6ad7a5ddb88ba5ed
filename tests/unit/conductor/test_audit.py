"""The audit: a conductor compares the DB with what the (fake) hypervisors say, over a real
DB, finds every kind of discrepancy, repairs only the bookkeeping, and leaves guests alone."""

import jsonschema
import sqlalchemy as sa

from migrator.common import states
from migrator.db import models


def _audit(cluster, fix=False, grace=0):
    """The audit's answer, which must be what the API documents for GET and POST
    /v1/audit (the API passes it on as it is)."""
    from migrator.api import response_schemas
    from migrator.conductor import audit
    report = audit.Auditor(cluster.ctxt, cluster.conductor.db,
                           cluster.compute_api).run(fix=fix, grace=grace)
    jsonschema.Draft202012Validator(response_schemas.AUDIT).validate(report)
    return report


def _kinds(report):
    return sorted((d['kind'], d['subject'].split(' (')[0]) for d in report['discrepancies'])


def _guest(cluster, host, name):
    domain = cluster.drivers[host].add_domain(name, memory_mb=512)
    cluster.report_all()
    return domain


def test_a_consistent_cluster_has_no_discrepancies(db, cluster):
    _guest(cluster, 'host1', 'vm1')
    report = cluster.conductor.audit(cluster.ctxt)
    assert report == {'discrepancies': [], 'fixed': [],
                      'hosts_checked': ['host1', 'host2', 'host3']}


def test_guests_on_two_hosts_or_none_are_left_to_a_person(db, cluster):
    twice = _guest(cluster, 'host1', 'twice')
    gone = _guest(cluster, 'host1', 'gone')
    off = _guest(cluster, 'host1', 'off')
    with cluster.cloud.lock:
        cluster.cloud.domains['host2'][twice['uuid']] = dict(twice)
        del cluster.cloud.domains['host1'][gone['uuid']]
        cluster.cloud.domains['host1'][off['uuid']].update(active=False,
                                                           power_state='shutoff')

    report = _audit(cluster, fix=True)

    assert _kinds(report) == [('not_running', 'instance gone'),
                              ('not_running', 'instance off'),
                              ('running_twice', 'instance twice')]
    details = {d['subject'].split(' (')[0]: d['detail'] for d in report['discrepancies']}
    assert details['instance twice'] == 'runs on host1 and host2'
    assert details['instance gone'] == 'runs on no host and is defined on none'
    assert details['instance off'] == 'runs on no host (defined, shut off, on host1)'
    assert all(d['fix'] == 'person' for d in report['discrepancies'])
    assert report['fixed'] == []
    # Never a guest touched.
    assert cluster.where(twice['uuid']) == ['host1', 'host2']
    assert cluster.cloud.domains['host1'][off['uuid']]['active'] is False


def test_a_wrong_db_host_is_corrected_by_fix(db, cluster):
    vm = _guest(cluster, 'host1', 'vm1')
    db.instance_set_host(vm['uuid'], 'host3')

    report = _audit(cluster)
    assert _kinds(report) == [('wrong_host', 'instance vm1')]
    assert report['discrepancies'][0]['detail'] == 'runs on host1 but the DB says host3'
    assert report['discrepancies'][0]['fix'] == 'safe'
    assert db.instance_get(vm['uuid'])['host'] == 'host3'    # no --fix: nothing changed

    fixed = _audit(cluster, fix=True)
    assert fixed['discrepancies'] == []
    assert fixed['fixed'] == [f"instance vm1 ({vm['uuid']}): host set to host1 (was host3)"]
    assert db.instance_get(vm['uuid'])['host'] == 'host1'


def _ended_migration_leaving_its_bookkeeping(db, cluster):
    """A migration that ended `failed` while its lock, slot and claim stayed behind (what a
    lost release would leave)."""
    vm = _guest(cluster, 'host1', 'vm1')
    mig = db.migration_create({'instance_uuid': vm['uuid'], 'type': 'live'})
    db.slot_acquire(mig['id'], states.ACCEPTED, 10, 10, 'test', values={'conductor': 'x'})
    assert db.claim_target(mig['id'], vm['uuid'], 'host1', 'host2',
                           {'memory_mb': 512, 'vcpus': 1, 'disk_gb': 0},
                           {'ram_ratio': 1.0, 'cpu_ratio': 4.0, 'disk_ratio': 1.0,
                            'reserved_disk_gb': 0, 'inbound': 10,
                            'heartbeat_after': db.host_get('host2')['last_heartbeat']})
    with db.engine.begin() as conn:
        conn.execute(sa.update(models.migrations).where(models.migrations.c.id == mig['id'])
                     .values(status=states.FAILED))
    return vm, mig['id']


def test_locks_claims_and_slots_of_an_ended_migration_are_given_back(db, cluster):
    vm, mid = _ended_migration_leaving_its_bookkeeping(db, cluster)
    # And a counter off by one that no claim explains.
    with db.engine.begin() as conn:
        conn.execute(sa.update(models.hosts).where(models.hosts.c.name == 'host3')
                     .values(outbound_migrations=2))

    report = _audit(cluster)
    assert _kinds(report) == [('counter_mismatch', 'host host3'),
                              ('stale_claim', f'migration {mid}'),
                              ('stale_lock', 'instance vm1')]
    stale = [d for d in report['discrepancies'] if d['kind'] == 'stale_claim'][0]
    assert stale['detail'] == ('a slot on host1 and 512 MiB / 1 vCPU on host2 held, but the '
                               'migration ended failed')
    mismatch = [d for d in report['discrepancies'] if d['kind'] == 'counter_mismatch'][0]
    assert mismatch['detail'] == 'outbound_migrations 2 (claims say 0)'

    fixed = _audit(cluster, fix=True)

    assert fixed['discrepancies'] == []
    assert f'migration {mid}: claim given back' in fixed['fixed']
    assert 'host3: outbound_migrations 2 -> 0' in fixed['fixed']
    assert db.instance_get(vm['uuid'])['migration_id'] is None
    assert db.claim_get(mid) is None
    assert db.scheduler_active_count() == 0
    for host in db.host_list():
        assert (host['claimed_memory_mb'], host['inbound_migrations'],
                host['outbound_migrations']) == (0, 0, 0), host
    # The instance can be migrated again, and the migration completes.
    again = db.migration_create({'instance_uuid': vm['uuid'], 'type': 'live'})
    cluster.conductor.migrate(cluster.ctxt, again['id'])
    cluster.conductor.executor.shutdown(wait=True)
    assert db.migration_get(again['id'])['status'] == states.COMPLETED


def test_a_migration_in_flight_is_not_a_discrepancy_and_its_claims_are_kept(db, cluster):
    vm = _guest(cluster, 'host1', 'vm1')
    cluster.cloud.hold_jobs = True
    mig = db.migration_create({'instance_uuid': vm['uuid'], 'type': 'live'})
    cluster.conductor.migrate(cluster.ctxt, mig['id'])
    assert cluster.cloud.job_running.wait(10)

    report = _audit(cluster, fix=True)

    assert report['discrepancies'] == [] and report['fixed'] == []
    assert db.claim_get(mig['id']) is not None
    cluster.cloud.release_jobs()
    cluster.conductor.executor.shutdown(wait=True)
    assert db.migration_get(mig['id'])['status'] == states.COMPLETED


def test_a_running_migration_without_a_job_and_an_untaken_one_need_a_person(db, cluster):
    vm = _guest(cluster, 'host1', 'vm1')
    other = _guest(cluster, 'host1', 'vm2')
    mig = db.migration_create({'instance_uuid': vm['uuid'], 'type': 'live'})
    db.slot_acquire(mig['id'], states.ACCEPTED, 10, 10, 'test', values={'conductor': 'gone'})
    for to_state in (states.PREPARING, states.RUNNING):
        db.migration_transition(mig['id'], [db.migration_get(mig['id'])['status']], to_state,
                                values={'target_host': 'host2'})
    untaken = db.migration_create({'instance_uuid': other['uuid'], 'type': 'live'})

    report = _audit(cluster, fix=True)

    assert _kinds(report) == [('no_job', f"migration {mig['id']}"),
                              ('not_started', f"migration {untaken['id']}")]
    assert 'running, but host1 has no migration job for it' in report['discrepancies'][0][
        'detail']
    # With the default grace, migrations this young are not judged yet.
    assert cluster.conductor.audit(cluster.ctxt)['discrepancies'] == []


def test_an_agent_that_does_not_answer_is_reported_and_its_guests_not_judged(db, cluster):
    import oslo_messaging as messaging
    _guest(cluster, 'host2', 'vm1')

    class Silent:
        def __getattr__(self, name):
            raise messaging.MessagingTimeout('no answer')
    cluster.compute_api.agents['host2'] = Silent()

    report = _audit(cluster)

    assert _kinds(report) == [('host_unreachable', 'host2')]
    assert report['hosts_checked'] == ['host1', 'host3']
    assert 'did not answer within' in report['discrepancies'][0]['detail']
