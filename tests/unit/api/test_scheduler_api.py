"""Host status, server groups, dry runs and priorities through the API; the scheduler's
refusals with a real ConductorManager behind the API (no tasks run)."""

import pytest

from migrator.api import app as api_app
from migrator.common import context
from migrator.conductor import manager
from migrator.conf import CONF
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error


def put(client, path, body=None, raw=None):
    return client.request('PUT', path, body=body, raw=raw)


# -- PUT /v1/hosts/{name} -----------------------------------------------------------------


def test_set_host_status_and_reason(client, cluster):
    resp = put(client, '/v1/hosts/host2', {'status': 'maintenance', 'reason': 'new RAM'})
    assert resp.status_int == 200, resp.text
    assert resp.json['status'] == 'maintenance'
    assert resp.json['status_reason'] == 'new RAM'
    assert cluster.host_get('host2')['status'] == 'maintenance'
    resp = put(client, '/v1/hosts/host2', {'status': 'enabled'})
    assert resp.json['status'] == 'enabled' and resp.json['status_reason'] is None


@pytest.mark.parametrize('body,code,words', [
    ({'status': 'off'}, 400, ["field 'status'", '"enabled"']),
    ({'reason': 'x'}, 400, ["missing required field 'status'"]),
    ({'status': 'disabled', 'force': True}, 400, ["unknown field 'force'"]),
    ({'status': 'disabled', 'reason': 5}, 400, ["field 'reason' must be a string or null"]),
])
def test_bad_host_status_changes_nothing(client, cluster, body, code, words):
    assert_error(put(client, '/v1/hosts/host2', body), code, *words)
    assert cluster.host_get('host2')['status'] == 'enabled'


def test_status_of_unknown_host_is_404(client, cluster):
    assert_error(put(client, '/v1/hosts/nope', {'status': 'disabled'}), 404, "'nope'")


def test_hosts_show_claims_and_migrations_in_flight(client, cluster):
    mig = cluster.migration_create({'instance_uuid': fakes.uuid_of('vm1'), 'type': 'live'})
    cluster.slot_acquire(mig['id'], 'accepted', 2, 5, 'test')
    assert cluster.claim_target(mig['id'], fakes.uuid_of('vm1'), 'host1', 'host3',
                                {'memory_mb': 256, 'vcpus': 1, 'disk_gb': 0},
                                {'ram_ratio': 1.0, 'cpu_ratio': 4.0, 'disk_ratio': 1.0,
                                 'reserved_disk_gb': 0, 'inbound': 2,
                                 'heartbeat_after': cluster.host_get('host3')['last_heartbeat']})
    hosts = {h['name']: h for h in client.get('/v1/hosts').json['hosts']}
    assert hosts['host1']['migrations_outbound'] == 1
    assert hosts['host1']['migrations_in_flight'] == [mig['id']]
    assert hosts['host3']['memory_mb_claimed'] == 256
    assert hosts['host3']['migrations_inbound'] == 1
    assert hosts['host3']['memory_mb_capacity'] == 8192 - 512
    assert hosts['host3']['vcpus_capacity'] == 4 * CONF.scheduler.cpu_allocation_ratio
    assert hosts['host2']['migrations_in_flight'] == []


# -- server groups ------------------------------------------------------------------------


def test_server_group_life_cycle(client, cluster):
    resp = client.post('/v1/server-groups', {'name': 'web', 'policy': 'anti-affinity',
                                              'members': ['vm1']})
    assert resp.status_int == 201, resp.text
    group = resp.json
    assert resp.headers['Location'].endswith('/v1/server-groups/' + group['id'])
    assert group['members'] == [fakes.uuid_of('vm1')]

    resp = client.post('/v1/server-groups/web/members', {'instance': 'vm3'})
    assert resp.status_int == 200, resp.text
    assert sorted(resp.json['members']) == sorted([fakes.uuid_of('vm1'), fakes.uuid_of('vm3')])
    assert client.get('/v1/server-groups').json['server_groups'][0]['name'] == 'web'
    assert client.get(f"/v1/server-groups/{group['id']}").json['policy'] == 'anti-affinity'

    resp = client.request('DELETE', '/v1/server-groups/web/members/vm1')
    assert resp.status_int == 200, resp.text
    assert resp.json['members'] == [fakes.uuid_of('vm3')]
    resp = client.request('DELETE', '/v1/server-groups/web')
    assert resp.status_int == 204
    assert client.get('/v1/server-groups').json['server_groups'] == []


def test_server_group_refusals(client, cluster):
    assert_error(client.post('/v1/server-groups', {'name': 'g', 'policy': 'soft'}), 400,
                 "field 'policy'")
    assert_error(client.post('/v1/server-groups', {'name': 'g', 'policy': 'affinity',
                                                   'members': ['nope']}), 404, "'nope'")
    assert client.get('/v1/server-groups').json['server_groups'] == []
    client.post('/v1/server-groups', {'name': 'g', 'policy': 'affinity', 'members': ['vm1']})
    assert_error(client.post('/v1/server-groups', {'name': 'g', 'policy': 'affinity'}), 409,
                 "named 'g' exists")
    client.post('/v1/server-groups', {'name': 'h', 'policy': 'affinity'})
    assert_error(client.post('/v1/server-groups/h/members', {'instance': 'vm1'}), 409,
                 'one group at most')
    assert_error(client.get('/v1/server-groups/zzz'), 404, "'zzz'")
    assert_error(client.request('DELETE', '/v1/server-groups/g/members/vm2'), 404,
                 'not a member')


# -- dry run and priority -----------------------------------------------------------------


def test_dry_run_asks_the_scheduler_and_creates_nothing(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True})
    assert resp.status_int == 200, resp.text
    assert resp.json['dry_run']['target_host'] == 'host2'
    assert conductor.dry_runs == [(fakes.uuid_of('vm1'), 'live', None, None)]
    assert conductor.casts == [] and cluster.migration_list() == []


def test_dry_run_from_1_6_says_which_convergence_controls_would_apply(client, cluster):
    latest = {'OpenStack-API-Version': 'migration 1.6'}
    CONF.set_override('live_migration_downtime', 700, group='libvirt')
    try:
        resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True,
                                              'bandwidth_mib': 64}, headers=latest)
    finally:
        CONF.clear_override('live_migration_downtime', group='libvirt')
    assert resp.status_int == 200, resp.text
    controls = resp.json['dry_run']['convergence']
    # the request's field over the defaults, the defaults as configured
    assert controls['bandwidth_mib'] == 64
    assert controls['max_downtime_ms'] == 700
    assert controls['downtime_steps'] == CONF.libvirt.live_migration_downtime_steps
    assert controls['timeout_action'] == CONF.libvirt.live_migration_timeout_action
    # a client that asked for an older version keeps the shape it knows
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True})
    assert 'convergence' not in resp.json['dry_run']
    # a cold migration has no convergence controls
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'type': 'cold',
                                          'dry_run': True}, headers=latest)
    assert resp.status_int == 200, resp.text
    assert 'convergence' not in resp.json['dry_run']


def test_priority_is_recorded_and_checked(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'priority': 7})
    assert resp.status_int == 202, resp.text
    assert resp.json['priority'] == 7
    assert_error(client.post('/v1/migrations', {'instance': 'vm2', 'priority': 101}), 400,
                 "field 'priority' must be at most 100")


@pytest.fixture
def real_conductor(db, cluster):
    """A real ConductorManager (no tasks run): its scheduler answers."""
    CONF.set_override('host_cache_refresh_interval', 0, group='scheduler')
    conductor = manager.ConductorManager(db, compute_api=object(), host='c1')
    yield conductor
    conductor.stop()
    CONF.clear_override('host_cache_refresh_interval', group='scheduler')


@pytest.fixture
def real_client(db, real_conductor):
    """The API in front of a real ConductorManager."""
    return fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=real_conductor))


def test_forced_target_refused_by_a_filter_is_409_naming_it(real_client, cluster):
    put(real_client, '/v1/hosts/host3', {'status': 'disabled', 'reason': 'PSU'})
    resp = real_client.post('/v1/migrations', {'instance': 'vm1', 'target_host': 'host3'})
    assert_error(resp, 409, 'refused by HostStatusFilter', 'host3 is disabled: PSU')
    assert cluster.migration_list() == []


def test_real_dry_run_says_why_no_host_fits(real_client, cluster):
    for host in ('host2', 'host3'):
        put(real_client, f'/v1/hosts/{host}', {'status': 'maintenance'})
    resp = real_client.post('/v1/migrations', {'instance': 'vm1', 'dry_run': True})
    assert resp.status_int == 200, resp.text
    answer = resp.json['dry_run']
    assert answer['possible'] is False and answer['target_host'] is None
    assert 'HostStatusFilter removed 2' in answer['reason']
    assert {f['filter']: f['removed'] for f in answer['filters']} == {
        'HostUpFilter': 0, 'HostStatusFilter': 2, 'NotSourceFilter': 1}
    assert cluster.migration_list() == []


def test_dry_run_of_auto_block_migration_answers_as_the_request_would(real_client, cluster,
                                                                     real_conductor):
    """block_migration "auto" (the default) lets the conductor decide per disk, so the
    scheduler does not ask for disk room on the target. The dry run must answer the same:
    it once passed the string "auto" on, bool("auto") is true, and it refused for want of
    disk what the real request accepts."""
    fakes.add_instances(cluster, 'host1', 'big', disk_gb=500)   # hosts have 100 GiB
    for block_migration in ('auto', None):
        body = {'instance': 'big', 'dry_run': True}
        if block_migration is not None:
            body['block_migration'] = block_migration
        resp = real_client.post('/v1/migrations', body)
        assert resp.status_int == 200, resp.text
        answer = resp.json['dry_run']
        assert answer['possible'] is True, answer
        assert 'DiskFilter' not in {f['filter'] for f in answer['filters']}
    # The real request's check agrees: its scheduler places the guest.
    assert real_conductor.select_destination(
        context.get_admin_context(), fakes.uuid_of('big'), 'live') in ('host2', 'host3')
    # Copying the disks does need the room, in a dry run as in a request.
    resp = real_client.post('/v1/migrations', {'instance': 'big', 'dry_run': True,
                                               'block_migration': True})
    answer = resp.json['dry_run']
    assert answer['possible'] is False
    assert {f['filter']: f['removed'] for f in answer['filters']}['DiskFilter'] == 2
    assert cluster.migration_list() == []
