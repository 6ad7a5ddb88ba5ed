"""The nbd disk copy's pieces with the real qemu-nbd and qemu-img on 127.0.0.1 (no libvirt:
the target's volumes are plain files here): keys, process records, exports, the copy job.
The whole path between two sandbox hosts is in tests/functional/service/
test_cold_migration.py and test_encrypted_migration.py."""

import json
import os
import random
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from migrator.common import exceptions
from migrator.compute.virt.libvirt import disk_copy, nbd_copy, nbd_export, psk_keys, tool_processes

ADDRESS = '127.0.0.1'
MIB = 1 << 20
KEY = 'ab' * 32


@pytest.fixture
def ports(config):
    """Eight ports free now on 127.0.0.1, below the kernel's ephemeral range (a connection
    to a closed ephemeral port can connect to itself), as [compute]
    disk_export_port_min..max."""
    rng = random.Random()
    for _ in range(50):
        low = rng.randrange(20000, 30000 - 8)
        try:
            for port in range(low, low + 8):
                with socket.socket() as sock:
                    sock.bind((ADDRESS, port))
        except OSError:
            continue
        config(disk_export_port_min=low, disk_export_port_max=low + 7, group='compute')
        return range(low, low + 8)
    pytest.fail('no eight free ports on 127.0.0.1')


@pytest.fixture
def records(tmp_path):
    records = tool_processes.ProcessRecords(str(tmp_path / 'records'))
    yield records
    records.stop_leftovers()


def _image(path, data_mib=8, cluster_size=None, backing=None):
    args = ['qemu-img', 'create', '-q', '-f', 'qcow2']
    if cluster_size:
        args += ['-o', f'cluster_size={cluster_size}']
    if backing:
        args += ['-b', backing, '-F', 'qcow2']
    subprocess.run([*args, str(path), '256M'], check=True)
    if data_mib:
        subprocess.run(['qemu-io', '-f', 'qcow2', str(path), '-c',
                        f'write -P 0x5a 4M {data_mib}M'], check=True, capture_output=True)
    return str(path)


def _info(path):
    return json.loads(subprocess.run(['qemu-img', 'info', '--output=json', '-U', path],
                                     capture_output=True, text=True, check=True).stdout)


def _nbd_readable(port, keys_dir=None):
    """Whether qemu-img can open the export (with the key in keys_dir, if any)."""
    args = ['qemu-img', 'info']
    opts = f'driver=nbd,host={ADDRESS},port={port},export=disk'
    if keys_dir:
        args += ['--object', psk_keys.object_arg(keys_dir, 'client')]
        opts += ',tls-creds=tls0'
    return subprocess.run([*args, '--image-opts', opts], capture_output=True,
                          timeout=30).returncode == 0


class FilesAsVolumes:
    """The target's libvirt storage calls, on plain files."""

    def __init__(self, monkeypatch):
        monkeypatch.setattr(disk_copy, 'volume_exists', lambda conn, p: os.path.exists(p))
        monkeypatch.setattr(disk_copy, 'create_volume', self.create)
        monkeypatch.setattr(disk_copy, 'delete_volume', self.delete)

    @staticmethod
    def create(conn, path, length):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    @staticmethod
    def delete(conn, path):
        if os.path.exists(path):
            os.unlink(path)
            return True
        return False


def _copy_job(tmp_path, records, exports, disks, psk, bandwidth=None):
    ended = threading.Event()
    outcome, samples = {}, []

    def on_done(result):
        outcome.update(result)
        ended.set()

    job = nbd_copy.NbdCopyJob('m-1', exports, None, disks, psk, records, samples.append,
                              on_done, 0.05, bandwidth)
    return job, ended, outcome, samples


# -- keys -------------------------------------------------------------------------------


def test_the_key_is_written_private_and_removed(tmp_path):
    directory = psk_keys.write(str(tmp_path / 'tls'), KEY)

    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    keys_file = os.path.join(directory, 'keys.psk')
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    with open(keys_file) as f:
        assert f.read() == f'migrator:{KEY}\n'
    psk_keys.remove(directory)
    assert not os.path.exists(directory)


@pytest.mark.parametrize('bad', ['', 'ab' * 31, 'zz' * 32, 'AB' * 32 + '\nx:y', None])
def test_a_malformed_key_is_refused(tmp_path, bad):
    with pytest.raises(exceptions.Invalid, match='64 hex digits'):
        psk_keys.write(str(tmp_path / 'tls'), bad)
    assert not os.path.exists(tmp_path / 'tls')


# -- process records ---------------------------------------------------------------------


def _sleeper(marker):
    """A process whose command line names marker, once it shows in /proc."""
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', marker])
    deadline = time.monotonic() + 10
    while not tool_processes.running_with(proc.pid, marker):
        assert time.monotonic() < deadline, 'the process did not start'
        time.sleep(0.01)
    return proc


def test_an_agent_start_stops_what_an_earlier_one_left_running(records):
    left = _sleeper('/images/vm1.qcow2')
    records.record('m-1', 'convert-0', left.pid, '/images/vm1.qcow2')

    found = records.stop_leftovers()

    assert found == {'m-1': 1}
    assert left.wait(10) == -signal.SIGTERM
    assert not os.path.exists(records.migration_dir('m-1'))


def test_a_recorded_pid_now_used_by_another_process_is_left_alone(records):
    other = _sleeper('something-else')
    try:
        records.record('m-1', 'export-0', other.pid, '/images/vm1.qcow2')
        assert records.stop('m-1') == 0
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_migration_id_that_is_no_plain_name_is_refused(records):
    with pytest.raises(exceptions.Invalid):
        records.pid_file('../../etc', 'export-0')


# -- exports -------------------------------------------------------------------------------


def test_a_port_range_upside_down_is_a_clear_error(config):
    config(disk_export_port_min=49300, disk_export_port_max=49200, group='compute')
    with pytest.raises(exceptions.Invalid, match=r'disk_export_port_max \(49200\) is below '
                                                 r'disk_export_port_min \(49300\)'):
        nbd_export.port_range()


def test_a_tls_export_serves_only_the_holder_of_the_key(tmp_path, records, ports):
    disk = _image(tmp_path / 'vm1.qcow2')

    answer = nbd_export.Exporter(records).export('m-1', [disk], ADDRESS, KEY, True)

    assert answer['tls'] is True and answer['address'] == ADDRESS
    [export] = answer['exports']
    assert export['port'] in ports and export['format'] == 'qcow2'
    assert export['virtual_size'] == 256 * MIB
    wrong = psk_keys.write(str(tmp_path / 'wrong'), 'cd' * 32)
    assert not _nbd_readable(export['port'])             # no TLS: refused
    assert not _nbd_readable(export['port'], wrong)      # another key: refused
    right = psk_keys.write(str(tmp_path / 'right'), KEY)
    assert _nbd_readable(export['port'], right)
    # One client came and went: the export ended by itself; stopping it removes the key.
    nbd_export.Exporter(records).stop('m-1')
    assert not os.path.exists(records.migration_dir('m-1'))


def test_an_export_no_client_reached_is_stopped_by_pid(tmp_path, records, ports):
    disk = _image(tmp_path / 'vm1.qcow2', data_mib=0)
    [export] = nbd_export.Exporter(records).export('m-1', [disk], ADDRESS, None,
                                                   False)['exports']

    assert nbd_export.Exporter(records).stop('m-1') == 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ADDRESS, export['port']), timeout=5).close()
    assert not os.path.exists(records.migration_dir('m-1'))


def test_a_taken_port_is_skipped(tmp_path, records, ports):
    disk = _image(tmp_path / 'vm1.qcow2', data_mib=0)
    with socket.socket() as taken:
        taken.bind((ADDRESS, ports[0]))
        taken.listen()
        answer = nbd_export.Exporter(records).export('m-1', [disk, disk], ADDRESS, None,
                                                     False)
    assert [e['port'] for e in answer['exports']] == [ports[1], ports[2]]
    assert nbd_export.Exporter(records).stop('m-1') == 2


def test_an_image_with_a_backing_file_is_not_exported(tmp_path, records, ports):
    base = _image(tmp_path / 'base.qcow2', data_mib=0)
    overlay = _image(tmp_path / 'vm1.qcow2', data_mib=0, backing=base)

    with pytest.raises(exceptions.MigrationFailed, match='has a backing file'):
        nbd_export.Exporter(records).export('m-1', [overlay], ADDRESS, KEY, False)
    assert not os.path.exists(records.migration_dir('m-1'))


def test_a_host_that_encrypts_refuses_to_export_without_a_key(tmp_path, records, ports,
                                                             config):
    config(remote_transport='tls', group='libvirt')
    disk = _image(tmp_path / 'vm1.qcow2', data_mib=0)
    with pytest.raises(exceptions.MigrationFailed, match='sent no key'):
        nbd_export.Exporter(records).export('m-1', [disk], ADDRESS, None, False)
    # Asked without encryption, with a key: it encrypts all the same.
    assert nbd_export.Exporter(records).export('m-1', [disk], ADDRESS, KEY,
                                               False)['tls'] is True


# -- the copy ----------------------------------------------------------------------------


def test_the_copy_keeps_format_cluster_size_data_and_holes(tmp_path, records, ports,
                                                           monkeypatch):
    FilesAsVolumes(monkeypatch)
    disk = _image(tmp_path / 'vm1.qcow2', data_mib=16, cluster_size=131072)
    exports = nbd_export.Exporter(records).export('m-1', [disk], ADDRESS, KEY, True)
    target = str(tmp_path / 'copy.qcow2')
    job, ended, outcome, samples = _copy_job(
        tmp_path, records, exports, [{'path': disk, 'target_path': target}], KEY)

    job.prepare()
    assert job.created == [target]
    job.start()
    assert ended.wait(60)

    assert outcome['success'], outcome
    assert outcome['volumes'] == [target]
    assert outcome['stats']['data_processed'] == outcome['stats']['data_total'] > 16 * MIB
    info = _info(target)
    assert (info['format'], info['cluster-size'], info['virtual-size']) == (
        'qcow2', 131072, 256 * MIB)
    assert info['actual-size'] < 24 * MIB       # the 240 MiB of holes stayed holes
    assert subprocess.run(['qemu-img', 'compare', '-q', disk, target]).returncode == 0
    # The key and the records are gone; the export ended with its client.
    assert not os.path.exists(records.migration_dir('m-1'))


def test_the_target_refuses_a_clear_export_when_it_encrypts(tmp_path, records, ports,
                                                            monkeypatch, config):
    FilesAsVolumes(monkeypatch)
    disk = _image(tmp_path / 'vm1.qcow2', data_mib=0)
    exports = nbd_export.Exporter(records).export('m-0', [disk], ADDRESS, None, False)
    config(live_migration_with_native_tls=True, group='libvirt')
    target = str(tmp_path / 'copy.qcow2')
    job, *_ = _copy_job(tmp_path, records, exports, [{'path': disk, 'target_path': target}],
                        KEY)

    with pytest.raises(exceptions.MigrationFailed, match='exports its disks unencrypted'):
        job.prepare()
    assert not os.path.exists(target)


def test_an_aborted_copy_removes_its_volume(tmp_path, records, ports, monkeypatch):
    FilesAsVolumes(monkeypatch)
    disk = _image(tmp_path / 'vm1.qcow2', data_mib=32)
    exports = nbd_export.Exporter(records).export('m-1', [disk], ADDRESS, None, False)
    target = str(tmp_path / 'copy.qcow2')
    job, ended, outcome, samples = _copy_job(
        tmp_path, records, exports, [{'path': disk, 'target_path': target}], None,
        bandwidth=4 * MIB)
    job.prepare()
    job.start()
    started = threading.Event()
    job.on_progress = lambda stats: stats['data_processed'] and started.set()
    assert started.wait(30)

    job.abort()

    assert ended.wait(30)
    assert outcome == {'success': False, 'error': 'disk copy aborted',
                       'stats': outcome['stats'], 'volumes': []}
    assert not os.path.exists(target)
    nbd_export.Exporter(records).stop('m-1')


def test_a_copy_that_moves_no_data_fails_instead_of_hanging(tmp_path, records, ports,
                                                            monkeypatch, config):
    config(disk_copy_stall_timeout=1.0, group='compute')
    FilesAsVolumes(monkeypatch)
    disk = _image(tmp_path / 'vm1.qcow2', data_mib=32)
    exports = nbd_export.Exporter(records).export('m-1', [disk], ADDRESS, None, False)
    with open(records.pid_file('m-1', 'export-0')) as f:
        server = int(f.read())
    target = str(tmp_path / 'copy.qcow2')
    job, ended, outcome, samples = _copy_job(
        tmp_path, records, exports, [{'path': disk, 'target_path': target}], None,
        bandwidth=4 * MIB)
    job.prepare()
    os.kill(server, signal.SIGSTOP)     # the source stops answering, as behind a cut
    try:
        job.start()
        assert ended.wait(30)
    finally:
        os.kill(server, signal.SIGCONT)
        nbd_export.Exporter(records).stop('m-1')

    assert not outcome['success']
    assert f'no data from {ADDRESS} for 1.0s' in outcome['error'], outcome
    assert not os.path.exists(target)


def test_progress_lines_of_qemu_img_give_the_percentages():
    import io
    seen = []
    rest = nbd_copy.read_progress(
        io.BytesIO(b'    (0.00/100%)\r    (12.50/100%)\r    (100.00/100%)\r\n'
                   b'qemu-img: a message\n'), seen.append)
    assert seen == [0.0, 12.5, 100.0]
    assert rest == ['qemu-img: a message']
