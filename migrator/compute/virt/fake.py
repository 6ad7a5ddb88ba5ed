"""An in-memory hypervisor for unit tests of the agent and conductor logic.

Never a stand-in for the libvirt driver's own tests, which run against the sandbox. Several
FakeDriver instances share one FakeCloud, so a migration moves a domain from one to another
and a directory can be shared between hosts or not.
"""

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
        # When set to a threading.Event, migration jobs run until it is set (tests that
        # need several migrations in flight at once).
        self.gate = None

    def storage_id(self, host, directory):
        return ('shared' if directory in self.shared_dirs else host, directory)


class FakeDriver(driver.ComputeDriver):
    def __init__(self, cloud, memory_mb=8192, vcpus=8, cpu_models=('qemu64', 'Nehalem')):
        self.cloud = cloud
        self.cpu_models = list(cpu_models)
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
                   cpu_model='qemu64'):
        domain = {'uuid': uuid or str(uuidlib.uuid4()), 'name': name, 'power_state': 'running',
                  'cpu_model': cpu_model,
                  'active': True, 'incoming': False, 'memory_mb': memory_mb, 'vcpus': vcpus,
                  'disk_gb': 1, 'disks': [{'target': 'vda', 'path': f'{disk_dir}/{name}.qcow2',
                                           'format': 'qcow2', 'capacity': 2 ** 30}]}
        with self.cloud.lock:
            self.cloud.domains[self.host][domain['uuid']] = domain
        return domain

    def get_inventory(self):
        return {'memory_mb': self.memory_mb, 'vcpus': self.vcpus, 'disk_gb': 100,
                'disk_gb_used': 0, 'virt_type': 'qemu', 'hypervisor_version': 7002000,
                'cpu_model': 'qemu64', 'cpu_models': self.cpu_models,
                'hypervisor_uri': self.migration_uri}

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

        def run():
            on_progress({'data_total': 100, 'data_remaining': 40, 'memory_total': 100,
                         'memory_processed': 60, 'memory_remaining': 40, 'memory_bps': 50,
                         'dirty_rate': 10, 'iteration': 1})
            if self.cloud.gate is not None:
                self.cloud.gate.wait(60)
            error = self.cloud.fail_next_migration
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
        threading.Thread(target=run, daemon=True).start()

    def cleanup_incoming(self, uuid):
        with self.cloud.lock:
            self.cloud.domains[self.host].pop(uuid, None)
