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
import tempfile
import time

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes
from tests.functional.service.conductor_services import (
    UNLIMITED_MIB_S,
    Services,
    set_bandwidth,
)
from tests.functional.service.test_agent_faults import (
    _host,
    _restart_agent_and_wait_for_progress,
    _start_agent,
    _start_crawling_migration,
)
from tests.functional.service.test_live_migration import _base_config, _ready_api


def _heartbeat(api, host):
    value = _host(api, host).get('last_heartbeat')
    return datetime.datetime.fromisoformat(value.replace('Z', '+00:00')) if value else None


def idle_restart(services, host):
    api = services.api
    services.kill(host)
    started = time.monotonic()
    wall = datetime.datetime.now(datetime.UTC)
    _start_agent(services, host)

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
        set_bandwidth(cluster, source, name, UNLIMITED_MIB_S)
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
        set_bandwidth(cluster, source, name, UNLIMITED_MIB_S)
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
    try:
        cluster_mod.up(hosts=3, guests_per_host=0, state_dir=state_dir)
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared')
        cluster = cluster_mod.load(state_dir)
        name = cluster['guests'][0]['name']
        with processes.rabbit_vhost() as url, \
                processes.postgres_database('migrator_bench_af') as db_url:
            port = processes.free_port()
            services = Services(pathlib.Path(work), _base_config(db_url, port, url),
                                {h['name']: h for h in cluster['hosts']})
            try:
                services.sync_db()
                services.start('migrator-api', 'api')
                services.start('migrator-conductor', 'conductor1')
                for host in services.hosts:
                    _start_agent(services, host)
                processes.wait_until(processes.ApiClient(f'http://127.0.0.1:{port}').answers,
                                     240, 'the API to answer')
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
            finally:
                services.stop_all()
        idle_m, attached_m, libvirtd_m = (statistics.median(c) for c in zip(*rows, strict=True))
        print(f'median ({args.runs} runs): idle restart {idle_m:.2f} s, re-attach -> '
              f'progress {attached_m:.2f} s (ratio {attached_m / idle_m:.3f}), libvirtd '
              f'back -> host up {libvirtd_m:.2f} s')
    finally:
        cluster_mod.down(state_dir)

if __name__ == '__main__':
    main()
