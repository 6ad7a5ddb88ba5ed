"""Cold migration through the whole service (migrator-all on SQLite) against real libvirt.

Two sandbox hosts and one guest on a local (unshared) disk with 48 MiB of data on it. The
agents copy at most 16 MiB/s ([compute] disk_copy_bandwidth), so the copy lasts about 3 s:
long enough to watch the progress rise and to abort it while it copies, without a sleep.
The last test adds a guest on shared storage, whose disk must not be copied.
"""

import json
import os
import subprocess
import threading

import libvirt
import pytest
import requests

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

DATA_OFFSET = 8 << 20
DATA_LENGTH = 48 << 20
DATA_PATTERN = 0x3c
COPY_MIB_PER_S = 16
# The sandbox guest powers off on the ACPI button in ~2 s; the bound is for a busy machine.
SHUTDOWN_TIMEOUT = 30
TERMINAL = ('completed', 'failed', 'cancelled', 'error')


@pytest.fixture(scope='module')
def local_sandbox(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('cold-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
        guest = cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1',
                                      disks='local')
        cluster = cluster_mod.load(state_dir)
        probe.qemu_io(guest['name'], f'write -P {DATA_PATTERN:#x} {DATA_OFFSET} '
                                     f'{DATA_LENGTH}', cluster=cluster, timeout=60)
        yield cluster
    finally:
        cluster_mod.down(state_dir)


@pytest.fixture(scope='module')
def api(local_sandbox, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('cold-service')
    port = processes.free_port()
    conf = processes.write_config(workdir / 'all.conf', {
        'DEFAULT': {'host': 'all-in-one', 'state_path': str(workdir / 'state')},
        'database': {'connection': f'sqlite:///{workdir}/migrator.sqlite'},
        'api': {'port': port},
        'all': {'sandbox_state_dir': local_sandbox['state_dir']},
        'conductor': {'shutdown_timeout': SHUTDOWN_TIMEOUT},
        'compute': {'report_interval': 2, 'progress_interval': 0.2,
                    'disk_copy_bandwidth': COPY_MIB_PER_S},
        'libvirt': {'virt_type': 'qemu'},
    })
    proc = processes.ServiceProcess('migrator-all', conf, workdir / 'all.log')
    try:
        client = processes.ApiClient(f'http://127.0.0.1:{port}')
        client.state_path = workdir / 'state'     # the agents' tool records and keys
        processes.wait_until(client.answers, 60, 'the API to answer')
        processes.wait_until(
            lambda: client.hosts_up([h['name'] for h in local_sandbox['hosts']]), 60,
            'both agents to report')
        processes.wait_until(lambda: client.instance(_guest(local_sandbox)['name']), 30,
                             'the guest to be reported')
        yield client
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-6000:]}')
        raise
    finally:
        proc.stop()


class Watcher:
    """Reads a migration from the API until it ends: every sample the API showed."""

    def __init__(self, api, migration_id):
        self.samples = []
        self._api = api
        self._id = migration_id
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        def ended():
            body = self._api.get(f'/v1/migrations/{self._id}').json()
            self.samples.append(body)
            return body['status'] in TERMINAL
        processes.wait_until(ended, 180, f'migration {self._id} to end', interval=0.05)

    def join(self):
        self._thread.join(200)
        return self.samples[-1]

    def wait_for(self, predicate, what):
        return processes.wait_until(
            lambda: next((s for s in self.samples if predicate(s)), None), 60, what,
            interval=0.02)


def _guest(cluster):
    return cluster['guests'][0]


def _disk_outside(cluster, host_name):
    host = next(h for h in cluster['hosts'] if h['name'] == host_name)
    return os.path.join(host['image_dir_outside'], os.path.basename(_guest(cluster)['disk']))


def _other(cluster, host_name):
    return next(h['name'] for h in cluster['hosts'] if h['name'] != host_name)


def _wait_for_new_tick(cluster):
    """A tick written to the console log from now on (a cold-started guest counts from 1
    again, so the tick number says nothing; that a new one comes does)."""
    log = _guest(cluster)['console_log']
    start = os.path.getsize(log)

    def ticked():
        with open(log, 'rb') as f:
            f.seek(start)
            return probe.TICK_RE.search(f.read())
    processes.wait_until(ticked, 120, 'a new tick on the serial console', interval=0.2)


def _image_info(path):
    proc = subprocess.run(['qemu-img', 'info', '--output=json', '-U', path],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _tools_left(api):
    """Files (records, keys) under the agents' disk-copy state, and qemu-nbd or qemu-img
    processes that name it: what a copy left behind."""
    state = str(api.state_path / 'disk-copy')
    left = [os.path.join(d, f) for d, _, files in os.walk(state) for f in files]
    return left + processes.processes_naming(state)


def _where_defined(cluster):
    return probe.where(_guest(cluster)['name'], cluster=cluster, active_only=False)


def test_cold_migration_moves_running_guest_with_its_disk(local_sandbox, api):
    cluster = local_sandbox
    name = _guest(cluster)['name']
    [source] = probe.where(name, cluster=cluster)
    target = _other(cluster, source)
    probe.write_marker(name, cluster=cluster)

    response = api.post('/v1/migrations', {'instance': name, 'type': 'cold'})
    assert response.status_code == 202, response.text
    watcher = Watcher(api, response.json()['id'])
    done = watcher.join()

    assert done['status'] == 'completed', done
    assert done['type'] == 'cold' and done['block_migration'] is True
    assert (done['source_host'], done['target_host']) == (source, target)
    assert [e['to_state'] for e in done['events']] == [
        'accepted', 'scheduling', 'preparing', 'stopping', 'copying', 'starting',
        'finishing', 'completed']
    # The sandbox guest answers the ACPI power button: it shut down, nothing forced it.
    assert 'shut down by the guest' in done['events'][4]['detail']
    assert '1 disk(s) to copy' in done['events'][4]['detail']
    # The default copy: qemu-nbd on the source, qemu-img on the target, in clear (no
    # encryption is configured anywhere here).
    assert done['events'][5]['detail'].startswith('disks copied by nbd, unencrypted'), done

    # Progress as the API showed it: never backwards, with an ETA while copying, to 100.
    progress = [s['progress'] for s in watcher.samples]
    assert progress == sorted(progress), progress
    assert progress[-1] == 100
    copying = [s for s in watcher.samples if s['status'] == 'copying' and
               0 < s['progress'] < 100]
    assert copying, [(s['status'], s['progress']) for s in watcher.samples]
    assert all(s['eta_seconds'] is not None and s['disk_total'] >= DATA_LENGTH
               for s in copying), copying

    # Runs on the target only, ticking on, with its disk data; nothing left on the source.
    assert probe.where(name, cluster=cluster) == [target]
    assert _where_defined(cluster) == [target]
    _wait_for_new_tick(cluster)
    assert probe.has_marker(name, cluster=cluster)
    assert probe.read_disk(name, offset=DATA_OFFSET + DATA_LENGTH - 4096,
                           cluster=cluster) == bytes([DATA_PATTERN]) * 4096
    assert not os.path.exists(_disk_outside(cluster, source))
    assert os.path.exists(_disk_outside(cluster, target))
    # Still a qcow2, still sparse: the 1 GiB image holds little more than its data.
    info = _image_info(_disk_outside(cluster, target))
    assert info['format'] == 'qcow2', info
    assert DATA_LENGTH <= info['actual-size'] < 4 * DATA_LENGTH, info
    assert not _tools_left(api)
    processes.wait_until(lambda: (api.instance(name) or {}).get('host') == target, 30,
                         'the instance to show on its new host')


def test_abort_while_copying_leaves_guest_running_on_source(local_sandbox, api):
    cluster = local_sandbox
    name = _guest(cluster)['name']
    [source] = probe.where(name, cluster=cluster)
    target = _other(cluster, source)

    response = api.post('/v1/migrations', {'instance': name, 'type': 'cold'})
    assert response.status_code == 202, response.text
    migration_id = response.json()['id']
    watcher = Watcher(api, migration_id)
    watcher.wait_for(lambda s: s['status'] == 'copying' and (s['disk_processed'] or 0) > 0,
                     'the copy to be under way')

    aborted = requests.delete(f'{api.url}/v1/migrations/{migration_id}', timeout=30)
    assert aborted.status_code == 202, aborted.text
    done = watcher.join()

    assert done['status'] == 'cancelled', done
    assert [e['to_state'] for e in done['events']][-3:] == ['copying', 'cancelling',
                                                            'cancelled']
    # The copy was stopped, not waited for.
    assert done['progress'] < 100, done
    # Running on the source again (started after the forced stop), nothing on the target.
    assert probe.where(name, cluster=cluster) == [source]
    assert _where_defined(cluster) == [source]
    assert not os.path.exists(_disk_outside(cluster, target))
    assert os.path.exists(_disk_outside(cluster, source))
    # The source's export and the target's qemu-img were stopped, their records and keys
    # removed.
    assert not _tools_left(api)
    _wait_for_new_tick(cluster)
    assert probe.has_marker(name, cluster=cluster)
    processes.wait_until(lambda: (api.instance(name) or {}).get('host') == source, 30,
                         'the instance to show on its source host')


def test_shared_disk_is_not_copied(local_sandbox, api):
    record = cluster_mod.add_guest(state_dir=local_sandbox['state_dir'], host='sandbox-host1',
                                   disks='shared')
    cluster = cluster_mod.load(local_sandbox['state_dir'])
    name = record['name']
    try:
        processes.wait_until(lambda: api.instance(name), 30, 'the new guest to be reported')
        probe.write_marker(name, cluster=cluster)

        response = api.post('/v1/migrations', {'instance': name, 'type': 'cold',
                                               'target_host': 'sandbox-host2'})
        assert response.status_code == 202, response.text
        done = api.wait_for_migration(response.json()['id'])

        assert done['status'] == 'completed', done
        assert done['block_migration'] is False
        assert '0 disk(s) to copy, 1 on shared storage' in done['events'][4]['detail']
        assert probe.where(name, cluster=cluster) == ['sandbox-host2']
        assert probe.where(name, cluster=cluster, active_only=False) == ['sandbox-host2']
        assert probe.has_marker(name, cluster=cluster)
        # The one shared disk is still there, and nothing was copied next to it.
        assert os.path.exists(record['disk_outside'])
        target = next(h for h in cluster['hosts'] if h['name'] == 'sandbox-host2')
        assert not os.path.exists(os.path.join(target['image_dir_outside'],
                                               os.path.basename(record['disk'])))
    finally:
        _destroy(cluster, name)


def _destroy(cluster, name):
    """Stops a guest this test added wherever it runs, so the next tests have the CPU."""
    for host in cluster['hosts']:
        conn = probe.open_host(host)
        try:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
