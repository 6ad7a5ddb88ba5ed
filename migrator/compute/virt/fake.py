"""An in-memory hypervisor for unit tests of the agent and conductor logic.

Never a stand-in for the libvirt driver's own tests, which run against the sandbox. Several
FakeDriver instances share one FakeCloud, so a migration moves a domain from one to another
and a directory can be shared between hosts or not.
"""

import os
import threading
import uuid as uuidlib

from migrator.common import exceptions
from migrator.compute.virt import driver


class FakeCloud:
    def __init__(self):
        self.lock = threading.Lock()
        self.domains = {}        # host -> {uuid: domain dict}
        self.files = {}          # (storage id, directory) -> set of names
        self.shared_dirs = set()  # directories all hosts see as one
        self.fail_next_migration = None
        # With hold_jobs set, a migration job runs until release_jobs() or an abort, and
        # job_running is set once one does: tests act on a migration in flight.
        self.hold_jobs = False
        self.job_running = threading.Event()
        self.jobs = {}           # uuid -> FakeJob of a migration in flight

    def storage_id(self, host, directory):
        return ('shared' if directory in self.shared_dirs else host, directory)

    def has_file(self, host, path):
        directory, name = os.path.split(path)
        with self.lock:
            return name in self.files.get(self.storage_id(host, directory), set())

    def release_jobs(self):
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.wake.set()


class FakeJob:
    def __init__(self):
        self.aborted = False
        self.wake = threading.Event()


class FakeDriver(driver.ComputeDriver):
    def __init__(self, cloud, memory_mb=8192, vcpus=8):
        self.cloud = cloud
        self.memory_mb = memory_mb
        self.vcpus = vcpus
        self.host = None
        self.on_domain_event = None

    def init_host(self, host):
        self.host = host
        with self.cloud.lock:
            self.cloud.domains.setdefault(host, {})

    def cleanup_host(self):
        pass

    @property
    def migration_uri(self):
        return f'fake://{self.host}'

    def add_domain(self, name, memory_mb=256, vcpus=1, disk_dir='/shared', uuid=None,
                   backing_path=None):
        domain = {'uuid': uuid or str(uuidlib.uuid4()), 'name': name, 'power_state': 'running',
                  'active': True, 'incoming': False, 'memory_mb': memory_mb, 'vcpus': vcpus,
                  'disk_gb': 1, 'disks': [{'target': 'vda', 'path': f'{disk_dir}/{name}.qcow2',
                                           'format': 'qcow2', 'capacity': 2 ** 30,
                                           'backing_path': backing_path,
                                           'backing_format': 'qcow2' if backing_path
                                           else None}]}
        with self.cloud.lock:
            self.cloud.domains[self.host][domain['uuid']] = domain
            self.cloud.files.setdefault(self.cloud.storage_id(self.host, disk_dir),
                                        set()).add(f'{name}.qcow2')
        return domain

    def get_inventory(self):
        return {'memory_mb': self.memory_mb, 'vcpus': self.vcpus, 'disk_gb': 100,
                'disk_gb_used': 0, 'virt_type': 'qemu', 'hypervisor_version': 7002000,
                'cpu_model': 'qemu64', 'hypervisor_uri': self.migration_uri}

    def list_domains(self):
        with self.cloud.lock:
            return [{k: v for k, v in d.items() if k != 'disks'}
                    for d in self.cloud.domains[self.host].values()]

    def _get(self, uuid):
        with self.cloud.lock:
            domain = self.cloud.domains[self.host].get(uuid)
        if domain is None:
            raise exceptions.InstanceNotFound(ident=uuid)
        return domain

    def get_domain_state(self, uuid):
        try:
            d = self._get(uuid)
        except exceptions.InstanceNotFound:
            return {'exists': False, 'power_state': None, 'active': False, 'incoming': False}
        return {'exists': True, 'power_state': d['power_state'], 'active': d['active'],
                'incoming': d['incoming']}

    def get_disks(self, uuid):
        return list(self._get(uuid)['disks'])

    def create_migration_disks(self, specs):
        self.created_specs = list(specs)
        created = []
        with self.cloud.lock:
            for spec in specs:
                directory, name = os.path.split(spec['path'])
                files = self.cloud.files.setdefault(
                    self.cloud.storage_id(self.host, directory), set())
                if name in files:
                    for path in created:
                        d, n = os.path.split(path)
                        self.cloud.files[self.cloud.storage_id(self.host, d)].discard(n)
                    raise exceptions.Conflict(f"{self.host} already has a file {spec['path']}")
                files.add(name)
                created.append(spec['path'])
        return created

    def remove_unused_disks(self, paths):
        with self.cloud.lock:
            in_use = {d['path'] for dom in self.cloud.domains[self.host].values()
                      for d in dom['disks']}
            removed, kept = [], []
            for path in paths:
                if path in in_use:
                    kept.append(path)
                    continue
                directory, name = os.path.split(path)
                self.cloud.files.get(self.cloud.storage_id(self.host, directory),
                                     set()).discard(name)
                removed.append(path)
        return {'removed': removed, 'kept': kept}

    def create_shared_probe(self, directory):
        name = f'.probe-{uuidlib.uuid4().hex}'
        with self.cloud.lock:
            self.cloud.files.setdefault(self.cloud.storage_id(self.host, directory),
                                        set()).add(name)
        return name

    def check_shared_probe(self, directory, name):
        with self.cloud.lock:
            return name in self.cloud.files.get(self.cloud.storage_id(self.host, directory),
                                                set())

    def remove_shared_probe(self, directory, name):
        with self.cloud.lock:
            self.cloud.files.get(self.cloud.storage_id(self.host, directory),
                                 set()).discard(name)

    def live_migrate(self, uuid, dest_uri, migrate_disks, on_progress, on_done):
        domain = self._get(uuid)
        target = dest_uri.removeprefix('fake://')
        job = FakeJob()

        def run():
            on_progress({'data_total': 100, 'data_remaining': 40, 'memory_total': 100,
                         'memory_processed': 60, 'memory_remaining': 40, 'memory_bps': 50,
                         'dirty_rate': 10, 'iteration': 1})
            if self.cloud.hold_jobs:
                self.cloud.job_running.set()
                job.wake.wait(30)
            with self.cloud.lock:
                self.cloud.jobs.pop(uuid, None)
            if job.aborted:
                on_done({'success': False, 'stats': {},
                         'error': 'operation aborted: migration out job: canceled by client'})
                return
            error = self.cloud.fail_next_migration
            missing = [d['path'] for d in domain['disks'] if d['target'] in
                       (migrate_disks or ()) and not self.cloud.has_file(target, d['path'])]
            if missing and not error:
                error = f'Cannot access storage file {missing[0]} on {target}'
            if error:
                self.cloud.fail_next_migration = None
                on_done({'success': False, 'error': error, 'stats': {}})
                return
            with self.cloud.lock:
                self.cloud.domains[target][uuid] = self.cloud.domains[self.host].pop(uuid)
            on_done({'success': True, 'error': None,
                     'stats': {'data_total': 100, 'data_remaining': 0, 'downtime_ms': 40}})

        if domain['incoming']:
            raise exceptions.Conflict('an incoming domain cannot be migrated')
        with self.cloud.lock:
            self.cloud.jobs[uuid] = job
        threading.Thread(target=run, daemon=True).start()

    def abort_live_migration(self, uuid):
        with self.cloud.lock:
            job = self.cloud.jobs.get(uuid)
        if job is None:
            return False
        job.aborted = True
        job.wake.set()
        return True

    def cleanup_incoming(self, uuid):
        with self.cloud.lock:
            self.cloud.domains[self.host].pop(uuid, None)
