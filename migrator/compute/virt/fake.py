"""An in-memory hypervisor for unit tests of the agent and conductor logic.

Never a stand-in for the libvirt driver's own tests, which run against the sandbox. Several
FakeDriver instances share one FakeCloud, so a migration moves a domain from one to another
and a directory can be shared between hosts or not.
"""

import json
import os
import threading
import uuid as uuidlib

from oslo_config import cfg

from migrator.common import exceptions
from migrator.compute.virt import driver

CONF = cfg.CONF


class FakeCloud:
    def __init__(self):
        self.lock = threading.Lock()
        self.domains = {}        # host -> {uuid: domain dict}
        self.files = {}          # (storage id, directory) -> set of names
        self.shared_dirs = set()  # directories all hosts see as one
        self.fail_next_migration = None
        self.fail_next_copy = None     # error text: the next disk copy fails with it
        self.hold_copies = threading.Event()  # cleared: copies wait at half-way until set
        self.hold_copies.set()
        self.copy_halfway = threading.Event()  # set when a copy reached half-way
        self.ignore_acpi = False       # guests ignore the shutdown request
        self.images_path = '/local'
        # With hold_jobs set, a migration job runs until release_jobs() or an abort, and
        # job_running is set once one does: tests act on a migration in flight.
        self.hold_jobs = False
        self.job_running = threading.Event()
        self.jobs = {}           # uuid -> FakeJob of a migration in flight
        # 'stall': the next job runs until force_complete; 'timeout': it ends aborted by its
        # completion timeout.
        self.next_migration_behaviour = None
        self.last_controls = None
        # When set to a threading.Event, migration jobs run until it is set (tests that
        # need several migrations in flight at once).
        self.gate = None

    # add_file, remove_file and file_present: the caller holds self.lock.
    def add_file(self, host, path):
        directory, name = os.path.split(path)
        self.files.setdefault(self.storage_id(host, directory), set()).add(name)

    def remove_file(self, host, path):
        directory, name = os.path.split(path)
        self.files.get(self.storage_id(host, directory), set()).discard(name)

    def file_present(self, host, path):
        directory, name = os.path.split(path)
        return name in self.files.get(self.storage_id(host, directory), set())

    def storage_id(self, host, directory):
        return ('shared' if directory in self.shared_dirs else host, directory)

    def has_file(self, host, path):
        with self.lock:
            return self.file_present(host, path)

    def release_jobs(self):
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.wake.set()


class FakeJob:
    def __init__(self, post_copy=False):
        self.aborted = False
        self.wake = threading.Event()
        self.post_copy = post_copy      # the request permitted post-copy
        self.forced = None              # 'post_copy' or 'paused' once force-completed
        self.force = threading.Event()


class FakeDriver(driver.ComputeDriver):
    def __init__(self, cloud, memory_mb=8192, vcpus=8, cpu_models=('qemu64', 'Nehalem')):
        self.cloud = cloud
        self.cpu_models = list(cpu_models)
        self.memory_mb = memory_mb
        self.vcpus = vcpus
        self.host = None
        self.on_domain_event = None
        self.copies = {}
        self.exports = {}           # migration id -> {'psk', 'paths'} exported here
        self.copied_from = {}       # migration id -> the exports and key a copy was given

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
                   backing_path=None, cpu_model='qemu64'):
        domain = {'uuid': uuid or str(uuidlib.uuid4()), 'name': name, 'power_state': 'running',
                  'cpu_model': cpu_model,
                  'active': True, 'incoming': False, 'memory_mb': memory_mb, 'vcpus': vcpus,
                  'disk_gb': 1, 'disks': [{'target': 'vda', 'path': f'{disk_dir}/{name}.qcow2',
                                           'format': 'qcow2', 'capacity': 2 ** 30,
                                           'backing_path': backing_path,
                                           'backing_format': 'qcow2' if backing_path
                                           else None}]}
        with self.cloud.lock:
            self.cloud.domains[self.host][domain['uuid']] = domain
            for disk in domain['disks']:
                self.cloud.add_file(self.host, disk['path'])
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

    def peer_domain_state(self, uuid, peer_uri):
        host = peer_uri[len('fake://'):]
        with self.cloud.lock:
            d = self.cloud.domains.get(host, {}).get(uuid)
            if d is None:
                return {'exists': False, 'active': False, 'incoming': False, 'disks': []}
            return {'exists': True, 'active': d['active'], 'incoming': d['incoming'],
                    'disks': [disk['path'] for disk in d['disks']]}

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

    def live_migrate(self, uuid, dest_uri, migrate_disks, on_progress, on_done, controls=None,
                     job_id=None):
        domain = self._get(uuid)
        target = dest_uri.removeprefix('fake://')
        self.cloud.last_controls = controls
        behaviour, self.cloud.next_migration_behaviour = self.cloud.next_migration_behaviour, None
        job = FakeJob(post_copy=bool((controls or {}).get('post_copy')))

        def run():
            on_progress({'data_total': 100, 'data_remaining': 40, 'memory_total': 100,
                         'memory_processed': 60, 'memory_remaining': 40, 'memory_bps': 50,
                         'dirty_rate': 10, 'iteration': 1})
            if self.cloud.gate is not None:
                self.cloud.gate.wait(60)
            if self.cloud.hold_jobs:
                self.cloud.job_running.set()
                job.wake.wait(30)
            outcome = {'success': True, 'error': None, 'post_copy': False, 'forced': None,
                       'forced_by': None, 'aborted': None,
                       'stats': {'data_total': 100, 'data_remaining': 0, 'downtime_ms': 40}}
            if behaviour == 'stall' and not job.aborted:
                job.force.wait(30)
                if job.forced == 'post_copy':
                    on_progress({'data_total': 100, 'data_remaining': 20, 'iteration': 2,
                                 'post_copy': True, 'forced_by': 'requested'})
                outcome['forced'] = job.forced
                outcome['post_copy'] = job.forced == 'post_copy'
                outcome['forced_by'] = 'requested'
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
            if error or behaviour == 'timeout':
                self.cloud.fail_next_migration = None
                reason = 'completion timeout hit' if behaviour == 'timeout' else None
                on_done({**outcome, 'success': False, 'error': reason or error,
                         'aborted': reason, 'stats': {}})
                return
            with self.cloud.lock:
                moved = self.cloud.domains[self.host].pop(uuid)
                self.cloud.domains[target][uuid] = moved
                if behaviour == 'late_undefine':
                    # libvirt's JOB_COMPLETED before UNDEFINE_SOURCE took the source's copy:
                    # it is still defined there, shut off.
                    self.cloud.domains[self.host][uuid] = {
                        **moved, 'active': False, 'power_state': 'shutoff'}
            on_done(outcome)

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
        job.force.set()
        return True

    def migration_job_active(self, uuid):
        with self.cloud.lock:
            return uuid in self.cloud.jobs and uuid in self.cloud.domains[self.host]

    def live_migration_force_complete(self, uuid):
        with self.cloud.lock:
            job = self.cloud.jobs.get(uuid)
        if job is None:
            raise exceptions.Conflict(f'no migration job of {uuid} runs on {self.host}')
        job.forced = job.forced or ('post_copy' if job.post_copy else 'paused')
        job.force.set()
        return {'forced': job.forced}

    def cleanup_incoming(self, uuid):
        with self.cloud.lock:
            self.cloud.domains[self.host].pop(uuid, None)

    # -- cold migration ---------------------------------------------------------------------

    def get_domain_xml(self, uuid):
        domain = self._get(uuid)
        return json.dumps({k: v for k, v in domain.items()
                           if k not in ('power_state', 'active', 'incoming')})

    def power_off(self, uuid, timeout):
        domain = self._get(uuid)
        if not domain['active']:
            return {'was_running': False, 'forced': False}
        with self.cloud.lock:
            domain.update(active=False, power_state='shutoff')
        return {'was_running': True, 'forced': self.cloud.ignore_acpi}

    def start_domain(self, uuid):
        domain = self._get(uuid)
        with self.cloud.lock:
            domain.update(active=True, power_state='running')

    def prepare_cold_destination(self, uuid, paths):
        if self.get_domain_state(uuid)['exists']:
            raise exceptions.Conflict(f'instance {uuid} is already defined on {self.host}')
        planned = self.cold_destination_paths(uuid, paths)
        with self.cloud.lock:
            for target in planned.values():
                if self.cloud.file_present(self.host, target):
                    raise exceptions.Conflict(f'{target} already exists on {self.host}')
        return planned

    def cold_destination_paths(self, uuid, paths):
        return {p: os.path.join(self.cloud.images_path, os.path.basename(p)) for p in paths}

    def export_disks(self, migration_id, paths, psk, encrypt):
        if CONF.compute.disk_copy_method != 'nbd':
            return None
        with self.cloud.lock:
            for path in paths:
                if not self.cloud.file_present(self.host, path):
                    raise exceptions.MigrationFailed(reason=f'no {path} on {self.host}')
            self.exports[migration_id] = {'psk': psk, 'paths': list(paths)}
        return {'address': self.host, 'tls': bool(encrypt), 'exports': [
            {'path': p, 'port': 49216 + i, 'name': 'disk', 'format': 'qcow2',
             'virtual_size': 1000, 'allocation': 1000, 'create_options': {}}
            for i, p in enumerate(paths)]}

    def stop_disk_exports(self, migration_id):
        return int(self.exports.pop(migration_id, None) is not None)

    def copy_disks(self, migration_id, source_uri, disks, on_progress, on_done, bandwidth,
                   exports=None, psk=None):
        if exports is not None:
            self.copied_from[migration_id] = {'exports': exports, 'psk': psk}
            source = exports['address']     # the exporting host, whatever its URI says
        else:
            source = source_uri.removeprefix('fake://')
        with self.cloud.lock:
            for disk in disks:
                if not self.cloud.file_present(source, disk['path']):
                    raise exceptions.MigrationFailed(reason=f"no {disk['path']} on {source}")
            for disk in disks:
                self.cloud.add_file(self.host, disk['target_path'])
        created = [d['target_path'] for d in disks]
        aborted = threading.Event()
        self.copies[migration_id] = aborted
        total = 1000 * len(disks)

        def remove():
            with self.cloud.lock:
                for path in created:
                    self.cloud.remove_file(self.host, path)

        def run():
            on_progress({'disk_total': total, 'disk_processed': total // 2,
                         'disk_remaining': total - total // 2, 'data_total': total,
                         'data_remaining': total - total // 2, 'disk_bps': 100})
            self.cloud.copy_halfway.set()
            while not self.cloud.hold_copies.wait(0.01):
                if aborted.is_set():
                    break
                if self.copies.get(migration_id) is not aborted:
                    return      # lost (forget_copies: the agent restarted): no word at all
            error = 'disk copy aborted' if aborted.is_set() else self.cloud.fail_next_copy
            self.cloud.fail_next_copy = None
            self.copies.pop(migration_id, None)
            if error:
                remove()
                on_done({'success': False, 'error': error, 'stats': {}, 'volumes': []})
                return
            on_done({'success': True, 'error': None, 'volumes': created,
                     'stats': {'disk_total': total, 'disk_processed': total,
                               'disk_remaining': 0, 'data_total': total,
                               'data_remaining': 0}})

        threading.Thread(target=run, daemon=True).start()
        return created

    def forget_copies(self):
        """As a restart of the agent does: its copies stop without reporting an end."""
        self.copies.clear()

    def disk_copy_active(self, migration_id):
        return migration_id in self.copies

    def abort_disk_copy(self, migration_id):
        aborted = self.copies.get(migration_id)
        if aborted is None:
            return False
        aborted.set()
        return True

    def define_domain(self, xml, disk_paths, start):
        domain = json.loads(xml)
        for disk in domain['disks']:
            disk['path'] = disk_paths.get(disk['path'], disk['path'])
        domain.update(active=bool(start), incoming=False,
                      power_state='running' if start else 'shutoff')
        with self.cloud.lock:
            self.cloud.domains[self.host][domain['uuid']] = domain
        return domain['uuid']

    def remove_migrated_copy(self, migration_id, uuid, volumes):
        self.abort_disk_copy(migration_id)
        with self.cloud.lock:
            self.cloud.domains[self.host].pop(uuid, None)
            for path in volumes:
                self.cloud.remove_file(self.host, path)

    def remove_source_copy(self, uuid, volumes):
        with self.cloud.lock:
            domain = self.cloud.domains[self.host].get(uuid)
            if domain is not None and domain['active']:
                raise exceptions.Conflict(f'domain {uuid} runs on {self.host}')
            self.cloud.domains[self.host].pop(uuid, None)
            for path in volumes:
                self.cloud.remove_file(self.host, path)
