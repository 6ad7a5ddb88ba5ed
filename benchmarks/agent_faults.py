"""How fast the compute agent recovers: from its own restart, and from its libvirtd's.

Brings up a 3-host sandbox with one shared-disk guest, and api, conductor and one agent per
host as separate processes over the real RabbitMQ and PostgreSQL (as the functional tests
do). Each run:

  1. idle restart (the baseline): the guest's source agent SIGKILLed and started again with
     no job running -- seconds from its start until the API shows a heartbeat of the new
     process;
  2. re-attach: the same during a live migration crawling at 1 MiB/s -- seconds from the
     start until the API shows the job's progress moving again; the migration is then let
     go and completes;
  3. libvirtd: the source's libvirtd restarted (SIGTERM, started again) during a crawling
     migration -- seconds from the new daemon answering until the API shows the host up
     again; the migration ends failed with the guest on the source.

Prints per-run figures, medians, and the ratio re-attach / idle restart (1.0: re-attaching
costs nothing beyond the agent's own start).

    MIGRATOR_SANDBOX_NET=127.0.12 .venv/bin/python -m benchmarks.agent_faults [-n 3]
"""

import argparse
import datetime
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import psycopg2

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes
from tests.functional.service.test_agent_faults import (
    Services,
    _host,
    _restart_agent_and_wait_for_progress,
    _start_crawling_migration,
)
from tests.functional.service.test_conductor_restart import UNLIMITED_MIB_S, _set_bandwidth
from tests.functional.service.test_live_migration import _base_config, _ready_api


def _heartbeat(api, host):
    value = _host(api, host).get('last_heartbeat')
    return datetime.datetime.fromisoformat(value.replace('Z', '+00:00')) if value else None


def idle_restart(services, host):
    api = services.api
    services.kill_agent(host)
    started = time.monotonic()
    wall = datetime.datetime.now(datetime.UTC)
    services.start_agent(host)

    def reported():
        beat = _heartbeat(api, host)
        if beat is None:
            return False
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=datetime.UTC)
        return beat > wall
    processes.wait_until(reported, 120, f'a heartbeat of the new agent of {host}')
    return time.monotonic() - started


def reattach(services, cluster, name):
    api = services.api
    [source] = probe.where(name, cluster=cluster)
    migration_id = _start_crawling_migration(api, cluster, name, source)
    try:
        seconds = _restart_agent_and_wait_for_progress(services, source, migration_id)
    finally:
        _set_bandwidth(cluster, source, name, UNLIMITED_MIB_S)
    done = api.wait_for_migration(migration_id, timeout=300)
    assert done['status'] == 'completed', done
    return seconds


def libvirtd_restart(services, cluster, name):
    api = services.api
    [source] = probe.where(name, cluster=cluster)
    migration_id = _start_crawling_migration(api, cluster, name, source)
    try:
        cluster_mod.restart_libvirtd(cluster['state_dir'], source)
        back = time.monotonic()
        processes.wait_until(lambda: _host(api, source)['state'] == 'up', 120,
                             f'{source} to be reported up again', interval=0.05)
        seconds = time.monotonic() - back
    finally:
        _set_bandwidth(cluster, source, name, UNLIMITED_MIB_S)
    done = api.wait_for_migration(migration_id, timeout=300)
    assert done['status'] == 'failed', done
    assert probe.where(name, cluster=cluster) == [source]
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', '--runs', type=int, default=3)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix='migrator-bench-agent-faults-')
    state_dir = os.path.join(work, 'sandbox')
    db_name = f'migrator_bench_af_{uuid.uuid4().hex[:10]}'
    admin = psycopg2.connect(host='127.0.0.1', user='postgres', dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE {db_name}')
    services = None
    try:
        cluster_mod.up(hosts=3, guests_per_host=0, state_dir=state_dir)
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared')
        cluster = cluster_mod.load(state_dir)
        name = cluster['guests'][0]['name']
        with processes.rabbit_vhost() as url:
            port = processes.free_port()
            config = _base_config(f'postgresql+psycopg2://postgres@127.0.0.1/{db_name}', port,
                                  url)
            services = Services(pathlib.Path(work), config,
                                {h['name']: h for h in cluster['hosts']})
            api_conf = services.conf('api', 'api')
            subprocess.run([os.path.join(os.path.dirname(sys.executable), 'migrator-manage'),
                            '--config-file', str(api_conf), 'db', 'sync'], check=True,
                           capture_output=True)
            services.others.append(processes.ServiceProcess('migrator-api', api_conf,
                                                            f'{work}/api.log'))
            services.others.append(processes.ServiceProcess(
                'migrator-conductor', services.conf('conductor', 'conductor1'),
                f'{work}/conductor.log'))
            for host in services.hosts:
                services.start_agent(host)
            processes.wait_until(processes.ApiClient(f'http://127.0.0.1:{port}').answers, 240,
                                 'the API to answer')
            services.api = _ready_api(port, cluster)
            rows = []
            for run in range(1, args.runs + 1):
                [source] = probe.where(name, cluster=cluster)
                idle = idle_restart(services, source)
                attached = reattach(services, cluster, name)
                libvirtd = libvirtd_restart(services, cluster, name)
                rows.append((idle, attached, libvirtd))
                print(f'run {run}: idle agent restart -> heartbeat {idle:6.2f} s   '
                      f're-attach -> progress {attached:6.2f} s   '
                      f'libvirtd back -> host up {libvirtd:5.2f} s', flush=True)
            idle_m, attached_m, libvirtd_m = (statistics.median(c) for c in zip(*rows, strict=True))
            print(f'median ({args.runs} runs): idle restart {idle_m:.2f} s, re-attach -> '
                  f'progress {attached_m:.2f} s (ratio {attached_m / idle_m:.3f}), libvirtd '
                  f'back -> host up {libvirtd_m:.2f} s')
            for proc in list(services.agents.values()) + list(reversed(services.others)):
                proc.stop()
            services = None
    finally:
        if services is not None:
            for proc in list(services.agents.values()) + list(reversed(services.others)):
                proc.stop()
        cluster_mod.down(state_dir)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS {db_name} WITH (FORCE)')
        admin.close()


if __name__ == '__main__':
    main()
