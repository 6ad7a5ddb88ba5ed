"""Prometheus metrics: counted where the work happens, shown at /metrics."""

import socket

import oslo_messaging as messaging
import pytest
import requests
from oslo_config import cfg
from prometheus_client import REGISTRY

from migrator.api import app as api_app
from migrator.common import exceptions, metrics, states
from migrator.conductor import manager
from tests.unit.api import fakes as api_fakes
from tests.unit.conductor import fakes

CONF = cfg.CONF


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def cluster(db):
    metrics.install(db)
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


def test_a_live_migration_moves_the_counters_and_histograms(db, cluster):
    cluster.drivers['host1'].add_domain('vm1')
    cluster.report_all()
    before = {
        'completed': value('migrator_migrations_total', type='live', status='completed'),
        'durations': value('migrator_migration_duration_seconds_count', type='live'),
        'decisions': value('migrator_scheduler_decision_seconds_count', result='ok'),
        'bytes': value('migrator_migration_transferred_bytes_total', type='live'),
    }
    instance = db.instance_get('vm1')
    migration = db.migration_create({
        'instance_uuid': instance['uuid'], 'instance_name': 'vm1', 'type': 'live',
        'source_host': 'host1', 'requested_target': None, 'block_migration': None})
    cluster.conductor.migrate(cluster.ctxt, migration['id'])
    cluster.conductor.executor.shutdown(wait=True)
    done = db.migration_get(migration['id'])
    assert done['status'] == states.COMPLETED
    assert value('migrator_migrations_total', type='live',
                 status='completed') == before['completed'] + 1
    assert value('migrator_migration_duration_seconds_count',
                 type='live') == before['durations'] + 1
    assert value('migrator_scheduler_decision_seconds_count',
                 result='ok') == before['decisions'] + 1
    if done['data_processed']:
        assert value('migrator_migration_transferred_bytes_total',
                     type='live') == before['bytes'] + done['data_processed']


def test_a_lost_compare_and_swap_is_a_conflict(db):
    metrics.install(db)
    api_fakes.add_host(db, 'host1')
    [vm] = api_fakes.add_instances(db, 'host1', 'vm1')
    mig = db.migration_create({'instance_uuid': vm['uuid'], 'type': 'cold'})
    before = value('migrator_db_transition_conflicts_total', resource='migration')
    db.migration_transition(mig['id'], ['accepted'], 'scheduling')
    with pytest.raises(exceptions.InvalidStateTransition):
        db.migration_transition(mig['id'], ['accepted'], 'scheduling')
    assert value('migrator_db_transition_conflicts_total',
                 resource='migration') == before + 1


def test_failed_rpc_calls_are_counted_by_method():
    class Broken:
        def prepare(self, **kwargs):
            return self

        def call(self, ctxt, method, **kwargs):
            raise messaging.MessagingTimeout('no answer')

    client = metrics.CountingRPCClient(Broken())
    before = value('migrator_rpc_errors_total', method='get_disks', error='MessagingTimeout')
    with pytest.raises(messaging.MessagingTimeout):
        client.prepare(server='h').call({}, 'get_disks', instance_uuid='u')
    assert value('migrator_rpc_errors_total', method='get_disks',
                 error='MessagingTimeout') == before + 1


def test_api_serves_metrics_with_cluster_gauges(db, conductor):
    client = api_fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
    api_fakes.add_host(db, 'host1')
    api_fakes.add_host(db, 'host2')
    api_fakes.add_instances(db, 'host1', 'vm1', 'vm2')
    assert client.post('/v1/migrations', {'instance': 'vm1'}).status_int == 202
    resp = client.get('/metrics')
    assert resp.status_int == 200
    assert resp.content_type.startswith('text/plain')
    text = resp.text
    assert 'migrator_migrations_queued{type="live"} 1.0' in text
    assert 'migrator_migrations_in_flight{type="live"} 0.0' in text
    assert 'migrator_host_migrations{direction="out",host="host1"} 0.0' in text
    assert 'migrator_host_migration_slots{direction="in"} 2.0' in text
    assert 'migrator_host_heartbeat_age_seconds{host="host2"}' in text
    # No migration ids as labels: cardinality stays bounded.
    migration_id = db.migration_list()[0]['id']
    assert migration_id not in text


def test_metrics_can_be_turned_off(db, conductor):
    CONF.set_override('enabled', False, group='metrics')
    try:
        client = api_fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
        api_fakes.assert_error(client.get('/metrics'), 404)
    finally:
        CONF.clear_override('enabled', group='metrics')


def test_service_metrics_endpoint_serves_and_stops():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    server = metrics.MetricsServer(port)
    assert server.start() is not None
    try:
        resp = requests.get(f'http://127.0.0.1:{port}/metrics', timeout=10)
        assert resp.status_code == 200 and 'migrator_rpc_errors' in resp.text
        # A second endpoint on the same port is refused with a log line, not a crash.
        assert metrics.MetricsServer(port).start() is None
    finally:
        server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f'http://127.0.0.1:{port}/metrics', timeout=5)
