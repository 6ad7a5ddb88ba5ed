import datetime
import re

from migrator.api import views
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error

ISO_Z = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')


def test_host_list(client, cluster):
    resp = client.get('/v1/hosts')
    assert resp.status_int == 200
    hosts = {h['name']: h for h in resp.json['hosts']}
    assert sorted(hosts) == ['host1', 'host2', 'host3']
    host1 = hosts['host1']
    assert host1['state'] == 'up'
    assert host1['status'] == 'enabled'
    assert host1['instances'] == 2
    assert hosts['host2']['instances'] == 1
    assert hosts['host3']['instances'] == 0
    assert host1['memory_mb_free'] == (host1['memory_mb'] - host1['reserved_memory_mb']
                                       - host1['memory_mb_used'])
    for field in ('last_heartbeat', 'created_at', 'updated_at'):
        assert ISO_Z.match(host1[field]), host1[field]
    assert set(host1) == set(views.HOST_FIELDS) | {
        'state', 'instances', 'memory_mb_free', 'cpu_models', 'memory_mb_capacity',
        'vcpus_capacity', 'disk_gb_capacity', 'memory_mb_claimed', 'vcpus_claimed',
        'disk_gb_claimed', 'migrations_inbound', 'migrations_outbound',
        'migrations_in_flight'}
    assert host1['memory_mb_claimed'] == 0 and host1['migrations_in_flight'] == []


def test_host_show(client, cluster):
    resp = client.get('/v1/hosts/host1')
    assert resp.status_int == 200
    assert resp.json['name'] == 'host1'
    assert resp.json['instances'] == 2
    assert resp.json['memory_mb_free'] == 8192 - 512 - 1024


def test_host_with_dotted_name(client, db):
    fakes.add_host(db, 'node1.example.com')
    resp = client.get('/v1/hosts/node1.example.com')
    assert resp.status_int == 200
    assert resp.json['name'] == 'node1.example.com'


def test_host_show_unknown(client, cluster):
    assert_error(client.get('/v1/hosts/nope'), 404, "'nope'")


def test_host_state_follows_heartbeat():
    now = datetime.datetime(2024, 5, 1, 12, 0, 0)
    fresh = now - datetime.timedelta(seconds=10)
    stale = now - datetime.timedelta(seconds=31)
    assert views.host_state(fresh, now) == 'up'
    assert views.host_state(stale, now) == 'down'
    assert views.host_state(None, now) == 'down'
    aware = fresh.replace(tzinfo=datetime.UTC)
    assert views.host_state(aware, now) == 'up'


def test_isotime():
    assert views.isotime(datetime.datetime(2024, 5, 1, 12, 0, 0, 125000)) == \
        '2024-05-01T12:00:00.125Z'
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert views.isotime(datetime.datetime(2024, 5, 1, 14, 0, tzinfo=tz)) == \
        '2024-05-01T12:00:00.000Z'
    assert views.isotime(None) is None


def test_instance_list(client, cluster):
    resp = client.get('/v1/instances')
    assert resp.status_int == 200
    assert sorted(i['name'] for i in resp.json['instances']) == ['vm1', 'vm2', 'vm3']
    vm1 = next(i for i in resp.json['instances'] if i['name'] == 'vm1')
    assert set(vm1) == set(views.INSTANCE_FIELDS)
    assert vm1['host'] == 'host1'
    assert vm1['power_state'] == 'running'
    assert vm1['migration_id'] is None


def test_instance_list_by_host(client, cluster):
    resp = client.get('/v1/instances?host=host1')
    assert sorted(i['name'] for i in resp.json['instances']) == ['vm1', 'vm2']
    assert client.get('/v1/instances?host=host3').json == {'instances': []}


def test_instance_list_unknown_host(client, cluster):
    assert_error(client.get('/v1/instances?host=nope'), 404, "'nope'")


def test_instance_show_by_name_and_uuid(client, cluster):
    by_name = client.get('/v1/instances/vm3')
    assert by_name.status_int == 200
    assert by_name.json['host'] == 'host2'
    by_uuid = client.get('/v1/instances/' + by_name.json['uuid'])
    assert by_uuid.json == by_name.json


def test_instance_show_unknown(client, cluster):
    assert_error(client.get('/v1/instances/nope'), 404, "'nope'")
