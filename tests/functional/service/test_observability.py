"""What an operator's monitoring sees of a real live migration: API, conductor and three
agents as separate processes over the real RabbitMQ and PostgreSQL, a guest on the sandbox.

- The versioned notifications, consumed from RabbitMQ (the test's own virtual host) with an
  oslo.messaging notification listener: in order, each like its documented sample.
- /metrics of the API (cluster gauges) scraped during and after the migration, and the
  conductor's and an agent's metrics endpoints: the counters and histograms move.
"""

import os
import re
import subprocess
import sys
import threading

import oslo_messaging as messaging
import pytest
import requests
from oslo_config import cfg

from tests import notification_samples
from tests.functional.service import processes
from tests.functional.service.conftest import current_host, guest_name


class Collector:
    """A notification endpoint keeping every notification it gets, in arrival order."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()

    def _keep(self, ctxt, publisher_id, event_type, payload, metadata, priority):
        with self.lock:
            self.received.append(notification_samples.notification(
                event_type, priority, payload, publisher_id))

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._keep(ctxt, publisher_id, event_type, payload, metadata, 'info')

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._keep(ctxt, publisher_id, event_type, payload, metadata, 'error')

    def of(self, migration_id):
        with self.lock:
            return [n for n in self.received
                    if n['payload']['migrator_object.data'].get('id') == migration_id]


def _listener(rabbit_url, collector):
    conf = cfg.ConfigOpts()
    conf([], project='migrator-test')
    transport = messaging.get_notification_transport(conf, url=rabbit_url)
    listener = messaging.get_notification_listener(
        transport, [messaging.Target(topic='versioned_notifications')], [collector],
        executor='threading', pool='observability-test')
    return transport, listener


def _metric(text, name, **labels):
    """The value of one sample of a Prometheus text exposition, or None."""
    wanted = ','.join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r'\{' + re.escape(wanted) + r'\}' if labels else '') + \
        r' ([0-9.e+-]+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _scrape(url):
    return requests.get(url, timeout=30).text


def test_live_migration_notifications_and_metrics(sandbox, pg_url, rabbit_url, workdir):
    api_port = processes.free_port()
    conductor_metrics = processes.free_port()
    base = {
        'DEFAULT': {'transport_url': rabbit_url},
        'database': {'connection': pg_url},
        'api': {'port': api_port},
        'compute': {'report_interval': 2, 'progress_interval': 0.2},
        'libvirt': {'virt_type': 'qemu'},
        'oslo_messaging_notifications': {'driver': 'messagingv2'},
        # Every progress report may notify: the migration takes a few seconds.
        'notifications': {'progress_interval': 0.5},
        'metrics': {'conductor_port': conductor_metrics},
    }
    agent_metrics = {h['name']: processes.free_port() for h in sandbox['hosts']}
    collector = Collector()
    transport, listener = _listener(rabbit_url, collector)
    listener.start()
    started = []
    try:
        api_conf = processes.write_config(workdir / 'api.conf', {
            **base, 'DEFAULT': {**base['DEFAULT'], 'host': 'api'}})
        subprocess.run([os.path.join(os.path.dirname(sys.executable), 'migrator-manage'),
                        '--config-file', str(api_conf), 'db', 'sync'], check=True)
        started.append(processes.ServiceProcess('migrator-api', api_conf, workdir / 'api.log'))
        conductor_conf = processes.write_config(workdir / 'conductor.conf', {
            **base, 'DEFAULT': {**base['DEFAULT'], 'host': 'conductor1'}})
        started.append(processes.ServiceProcess('migrator-conductor', conductor_conf,
                                                workdir / 'conductor.log'))
        for host in sandbox['hosts']:
            conf = processes.write_config(workdir / f"{host['name']}.conf", {
                **base, 'DEFAULT': {**base['DEFAULT'], 'host': host['name']},
                'libvirt': {'virt_type': 'qemu', 'connection_uri': host['uri']},
                'metrics': {'compute_port': agent_metrics[host['name']]}})
            started.append(processes.ServiceProcess('migrator-compute', conf,
                                                    workdir / f"{host['name']}.log"))
        api = processes.ApiClient(f'http://127.0.0.1:{api_port}')
        processes.wait_until(api.answers, 180, 'the API to answer')
        processes.wait_until(lambda: api.hosts_up([h['name'] for h in sandbox['hosts']]), 180,
                             'every compute agent to report')
        name = guest_name(sandbox)
        processes.wait_until(lambda: api.instance(name), 30, 'the guest to be reported')
        source = current_host(sandbox)
        api_metrics = f'http://127.0.0.1:{api_port}/metrics'
        conductor_url = f'http://127.0.0.1:{conductor_metrics}/metrics'
        before = _scrape(conductor_url)
        completed_before = _metric(before, 'migrator_migrations_total', status='completed',
                                   type='live') or 0.0
        decisions_before = _metric(before, 'migrator_scheduler_decision_seconds_count',
                                   result='ok') or 0.0

        response = api.post('/v1/migrations', {'instance': name, 'type': 'live'})
        assert response.status_code == 202, response.text
        migration_id = response.json()['id']
        # Scrape while it runs: the cluster gauge shows it in flight.
        seen_in_flight = 0.0
        while True:
            text = _scrape(api_metrics)
            seen_in_flight = max(seen_in_flight,
                                 _metric(text, 'migrator_migrations_in_flight',
                                         type='live') or 0.0)
            status = api.get(f'/v1/migrations/{migration_id}').json()['status']
            if status in ('completed', 'failed', 'cancelled', 'error'):
                break
        assert status == 'completed'
        assert seen_in_flight == 1.0

        # The end is the last notification of the migration; wait for it to arrive.
        processes.wait_until(
            lambda: any(n['event_type'] == 'migration.end' for n in collector.of(migration_id)),
            60, 'migration.end to be consumed')
        received = collector.of(migration_id)
        events = [n['event_type'] for n in received]
        assert events[0] == 'migration.create' and events[1] == 'migration.start', events
        assert events[-1] == 'migration.end', events
        assert set(events[2:-1]) <= {'migration.progress'}, events
        for notification in received:
            sample = notification_samples.load(notification['event_type'])
            assert notification_samples.mismatches(sample, notification) == [], notification
        end = received[-1]['payload']['migrator_object.data']
        assert end['outcome'] == 'completed' and end['source_host'] == source
        assert end['target_host'] != source and end['instance']['name'] == name
        assert end['figures']['duration_seconds'] > 0
        assert end['figures']['bytes_transferred'] > 0
        assert end['requester']['request_id'].startswith('req-')
        # The API published the create; the conductor the rest.
        assert received[0]['publisher_id'] == 'migrator:api'
        assert {n['publisher_id'] for n in received[1:]} == {'migrator:conductor1'}

        after = _scrape(conductor_url)
        assert _metric(after, 'migrator_migrations_total', status='completed',
                       type='live') == completed_before + 1
        assert _metric(after, 'migrator_migration_duration_seconds_count',
                       type='live') >= 1
        assert _metric(after, 'migrator_migration_downtime_seconds_count', type='live') >= 1
        assert _metric(after, 'migrator_migration_transferred_bytes_total',
                       type='live') >= end['figures']['bytes_transferred']
        assert _metric(after, 'migrator_scheduler_decision_seconds_count',
                       result='ok') == decisions_before + 1
        cluster = _scrape(api_metrics)
        assert _metric(cluster, 'migrator_migrations_in_flight', type='live') == 0.0
        for host in sandbox['hosts']:
            age = _metric(cluster, 'migrator_host_heartbeat_age_seconds', host=host['name'])
            assert age is not None and age < 60
            agent = _scrape(f"http://127.0.0.1:{agent_metrics[host['name']]}/metrics")
            assert _metric(agent, 'migrator_agent_last_report_timestamp_seconds',
                           host=host['name']) > 0
    except BaseException:
        for proc in started:
            print(f'--- {proc.script} log ---\n{proc.log()[-4000:]}')
        raise
    finally:
        for proc in reversed(started):
            proc.stop()
        listener.stop()
        listener.wait()
        transport.cleanup()


pytestmark = pytest.mark.functional
