"""Block live migration and abort through migrator, against bare libvirt calls.

Brings up a 2-host sandbox with one guest on a local disk and migrator-all (SQLite,
in-process bus), then:

1. alternates a block live migration through the REST API (POST -> the API shows
   `completed`, which includes pre-creating the destination disk and removing the source's
   copy) with a bare one: create the destination volume, migrateToURI3 with
   VIR_MIGRATE_NON_SHARED_DISK and migrate_disks, delete the source volume;
2. measures aborts: with the migration bandwidth at 1 MiB/s so the job cannot end on its
   own, from DELETE to the API showing `cancelled` (the job cancelled and the destination
   disk removed), against a bare abortJob -> migrateToURI3 returning -> volume deleted.

Prints every run, the medians and the ratios through-migrator / bare.

    .venv/bin/python -m benchmarks.block_migration [-n 3]
"""

import argparse
import statistics
import tempfile
import threading
import time

import libvirt

from migrator.compute.virt.libvirt import migration as libvirt_migration
from migrator.compute.virt.libvirt import storage
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

FLAGS = libvirt_migration.LIVE_FLAGS | libvirt.VIR_MIGRATE_NON_SHARED_DISK
CRAWL = 1          # MiB/s
UNLIMITED = 1 << 20


class Bare:
    """The same steps as migrator takes, by hand over libvirt connections."""

    def __init__(self, cluster, name):
        self.hosts = {h['name']: h for h in cluster['hosts']}
        self.name = name

    def _disk(self, dom):
        [disk] = storage.domain_disks(dom)
        return disk

    def migrate(self, source, target, abort_when=None):
        src = libvirt.open(self.hosts[source]['uri'])
        dst = libvirt.open(self.hosts[target]['uri'])
        try:
            dom = src.lookupByName(self.name)
            disk = self._disk(dom)
            started = time.monotonic()
            storage.create_disks(dst, target, [disk])
            params = {libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: [disk['target']]}
            if abort_when is None:
                dom.migrateToURI3(self.hosts[target]['uri'], params, FLAGS)
                storage.delete_disks(src, [disk['path']])
                return time.monotonic() - started
            return self._abort(dom, dst, disk, params, target, abort_when)
        finally:
            src.close()
            dst.close()

    def _abort(self, dom, dst, disk, params, target, job_started):
        dom.migrateSetMaxSpeed(CRAWL, 0)
        failed = threading.Event()

        def run():
            try:
                dom.migrateToURI3(self.hosts[target]['uri'], params, FLAGS)
            except libvirt.libvirtError:
                failed.set()

        thread = threading.Thread(target=run)
        thread.start()
        try:
            processes.wait_until(lambda: job_started(dom), 60, 'the bare job to run')
            started = time.monotonic()
            dom.abortJob()
            thread.join()
            storage.delete_disks(dst, [disk['path']])
            elapsed = time.monotonic() - started
        finally:
            dom.migrateSetMaxSpeed(UNLIMITED, 0)
        assert failed.is_set(), 'the bare job was not aborted'
        return elapsed


def job_running(dom):
    stats = dom.jobStats(0)
    return stats.get('type', 0) != libvirt.VIR_DOMAIN_JOB_NONE and (
        stats.get('disk_total') or stats.get('memory_total'))


def through_api(api, name, target):
    started = time.monotonic()
    response = api.post('/v1/migrations', {'instance': name, 'target_host': target})
    assert response.status_code == 202, response.text
    done = api.wait_for_migration(response.json()['id'])
    elapsed = time.monotonic() - started
    assert done['status'] == 'completed' and done['block_migration'], done
    return elapsed


def abort_through_api(api, cluster, name, source, target):
    host = next(h for h in cluster['hosts'] if h['name'] == source)
    conn = libvirt.open(host['uri'])
    dom = conn.lookupByName(name)
    dom.migrateSetMaxSpeed(CRAWL, 0)
    try:
        response = api.post('/v1/migrations', {'instance': name, 'target_host': target})
        assert response.status_code == 202, response.text
        migration_id = response.json()['id']
        processes.wait_until(lambda: job_running(dom), 60, 'the job to run')
        started = time.monotonic()
        assert api.request_delete(f'/v1/migrations/{migration_id}').status_code == 202
        done = api.wait_for_migration(migration_id)
        elapsed = time.monotonic() - started
    finally:
        dom.migrateSetMaxSpeed(UNLIMITED, 0)
        conn.close()
    assert done['status'] == 'cancelled', done
    return elapsed


def _report(label, api_times, bare_times):
    api_median, bare_median = statistics.median(api_times), statistics.median(bare_times)
    print(f'{label} through the API: {[round(t, 3) for t in api_times]}')
    print(f'{label} bare:            {[round(t, 3) for t in bare_times]}')
    print(f'{label}: median through the API {api_median:.3f} s, median bare '
          f'{bare_median:.3f} s, ratio {api_median / bare_median:.3f}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=3, help='runs of each kind')
    parser.add_argument('--progress-interval', type=float, default=0.2,
                        help='[compute] progress_interval of migrator-all (seconds)')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='migrator-bench-block-')
    state_dir = f'{work}/sandbox'
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    proc = None
    try:
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='local')
        cluster = cluster_mod.load(state_dir)
        name = cluster['guests'][0]['name']
        proc, api = processes.start_migrator_all(
            work, state_dir, compute={'progress_interval': args.progress_interval})
        processes.wait_until(lambda: api.hosts_up(['sandbox-host1', 'sandbox-host2']), 60,
                             'both hosts')
        bare = Bare(cluster, name)

        def hosts():
            source = probe.running_host(name, cluster=cluster)['name']
            target = 'sandbox-host2' if source == 'sandbox-host1' else 'sandbox-host1'
            processes.wait_until(lambda: (api.instance(name) or {}).get('host') == source,
                                 30, 'the API to see the guest where it runs')
            return source, target

        api_times, bare_times = [], []
        for _ in range(args.n):
            source, target = hosts()
            api_times.append(through_api(api, name, target))
            bare_times.append(bare.migrate(target, source))
        _report('block live migration', api_times, bare_times)

        api_aborts, bare_aborts = [], []
        for _ in range(args.n):
            source, target = hosts()
            api_aborts.append(abort_through_api(api, cluster, name, source, target))
            bare_aborts.append(bare.migrate(source, target, abort_when=job_running))
        _report('abort of a running block migration', api_aborts, bare_aborts)
    finally:
        if proc is not None:
            proc.stop()
        cluster_mod.down(state_dir)


if __name__ == '__main__':
    main()
