"""Encrypted migration traffic, on a sandbox made with --tls, through migrator-all.

Two hosts with a CA and host certificates (`sandbox up --tls`), one guest on a local disk
with a marker (MARK_LENGTH bytes of MARK) written into it, and one migrator-all whose agents
run with [libvirt] live_migration_with_native_tls = true and remote_transport = tls.

What a user would check: the migrations complete, the guest keeps its disk, and what
crossed the loopback between the hosts (tcpdump on `lo`) never shows the marker, while a
plain qemu+tcp copy of the same disk does (so the capture would have seen it). The QEMU
side of native TLS is read from libvirt's QMP exchanges with the two QEMUs (the sandbox's
QMP log): the tls-creds-x509 objects and the migration's tls-creds parameter.
"""

import os
import shutil

import libvirt
import pytest
from oslo_config import cfg

import migrator.conf  # noqa: F401 - disk_copy reads [libvirt] and [compute] options
from migrator.compute.virt.libvirt import disk_copy, remote
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import host as host_mod
from migrator.sandbox import pki, probe
from tests.functional.service import capture, processes

MARK = 0x3c
MARK_OFFSET = 8 << 20
MARK_LENGTH = 4 << 20
NEEDLE = bytes([MARK]) * 4096
CONF = cfg.CONF
SHUTDOWN_TIMEOUT = 3
# Migrations and copies are capped so that tcpdump keeps up on a busy machine (each capture
# must have dropped nothing, or it would prove nothing).
CAPTURE_MIB_PER_S = 32


@pytest.fixture(scope='module')
def tls_sandbox(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    if not shutil.which('tcpdump'):
        pytest.fail('the encryption tests need tcpdump: run tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('tls-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir, tls=True)
        guest = cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1',
                                      disks='local')
        cluster = cluster_mod.load(state_dir)
        probe.qemu_io(guest['name'], f'write -P {MARK:#x} {MARK_OFFSET} {MARK_LENGTH}',
                      cluster=cluster, timeout=60)
        yield cluster
    finally:
        cluster_mod.down(state_dir)


@pytest.fixture(scope='module')
def api(tls_sandbox, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('tls-service')
    port = processes.free_port()
    conf = processes.write_config(workdir / 'all.conf', {
        'DEFAULT': {'host': 'all-in-one', 'state_path': str(workdir / 'state')},
        'database': {'connection': f'sqlite:///{workdir}/migrator.sqlite'},
        'api': {'port': port},
        'all': {'sandbox_state_dir': tls_sandbox['state_dir']},
        'conductor': {'shutdown_timeout': SHUTDOWN_TIMEOUT},
        'compute': {'report_interval': 2, 'progress_interval': 0.2,
                    'disk_copy_bandwidth': CAPTURE_MIB_PER_S},
        'libvirt': {'virt_type': 'qemu', 'live_migration_with_native_tls': True,
                    'remote_transport': 'tls',
                    'live_migration_bandwidth': CAPTURE_MIB_PER_S},
    })
    proc = processes.ServiceProcess('migrator-all', conf, workdir / 'all.log')
    try:
        client = processes.ApiClient(f'http://127.0.0.1:{port}')
        client.state_path = workdir / 'state'     # the agents' records and keys
        processes.wait_until(client.answers, 60, 'the API to answer')
        names = [h['name'] for h in tls_sandbox['hosts']]
        processes.wait_until(lambda: client.hosts_up(names), 60, 'both agents to report')
        processes.wait_until(lambda: client.instance(_guest(tls_sandbox)), 30,
                             'the guest to be reported')
        yield client
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-8000:]}')
        raise
    finally:
        proc.stop()


def _guest(cluster):
    return cluster['guests'][0]['name']


def _host(cluster, name):
    return next(h for h in cluster['hosts'] if h['name'] == name)


def _source_and_target(cluster):
    [source] = probe.where(_guest(cluster), cluster=cluster)
    target = next(h['name'] for h in cluster['hosts'] if h['name'] != source)
    return _host(cluster, source), _host(cluster, target)


def _between_hosts(cluster):
    return ' or '.join(f'host {h["address"]}' for h in cluster['hosts'])


def _to_and_from(host):
    """The traffic of a cold copy that crosses from one host to another: the target's agent
    pulls from the source's daemon. (The agent then writes into its own host's daemon, a
    local connection on a real host; here it is qemu+tcp over loopback to the target's
    address, which is why a cold copy's capture is filtered on the source's address.)"""
    return f'host {host["address"]}'


def _disk_path(cluster):
    return os.path.join(host_mod.IMAGE_DIR, os.path.basename(cluster['guests'][0]['disk']))


def _has_marker(cluster):
    return probe.read_disk(_guest(cluster), offset=MARK_OFFSET + MARK_LENGTH - 4096,
                           length=4096, cluster=cluster) == NEEDLE


def _migrate(api, body):
    response = api.post('/v1/migrations', body)
    assert response.status_code == 202, response.text
    return api.wait_for_migration(response.json()['id'], timeout=300)


def test_plain_copy_shows_the_disk_in_the_capture(tls_sandbox, workdir):
    """The control: the same disk pulled over qemu+tcp, as without remote_transport = tls,
    is readable on the wire."""
    cluster = tls_sandbox
    source, target = _source_and_target(cluster)
    path = _disk_path(cluster)
    copy_path = os.path.join(host_mod.IMAGE_DIR, 'plain-copy.qcow2')
    local = libvirt.open(target['uri'])
    outcome = {}
    try:
        with capture.Capture(workdir / 'plain.pcap', _to_and_from(source),
                             source['address']) as cap:
            job = disk_copy.DiskCopyJob('plain', source['uri'], local,
                                        [{'path': path, 'target_path': copy_path}],
                                        lambda stats: None, outcome.update, 0.5,
                                        bandwidth=CAPTURE_MIB_PER_S << 20)
            job.prepare()
            job.start()
            assert job.wait(120), 'the plain copy did not end'
        assert outcome['success'], outcome
        assert cap.dropped() == 0
        assert cap.contains(NEEDLE)
    finally:
        disk_copy.delete_volume(local, copy_path)
        local.close()


def test_live_block_migration_with_native_tls(tls_sandbox, api, workdir):
    cluster = tls_sandbox
    source, target = _source_and_target(cluster)
    source_qmp, target_qmp = probe.qmp_log_offset(source), probe.qmp_log_offset(target)

    with capture.Capture(workdir / 'live.pcap', _between_hosts(cluster),
                         cluster['hosts'][0]['address']) as cap:
        done = _migrate(api, {'instance': _guest(cluster), 'target_host': target['name']})

    assert done['status'] == 'completed', done
    assert done['block_migration'] is True, done
    assert probe.where(_guest(cluster), cluster=cluster) == [target['name']]
    assert _has_marker(cluster)

    # The target's QEMU took the incoming stream as a TLS server that demands a client
    # certificate; the source's QEMU sent it as a TLS client that checks the target's
    # certificate against the target's address.
    target_sent = probe.qmp_sent(target, target_qmp)
    source_sent = probe.qmp_sent(source, source_qmp)
    creds = [c['arguments'] for c in target_sent + source_sent
             if c['execute'] == 'object-add'
             and c['arguments'].get('qom-type') == 'tls-creds-x509']
    assert {(a['endpoint'], a['verify-peer'], a['dir']) for a in creds} == {
        ('server', True, pki.QEMU_PKI_DIR), ('client', True, pki.QEMU_PKI_DIR)}, creds
    source_params = [c['arguments'] for c in source_sent
                     if c['execute'] == 'migrate-set-parameters'
                     and c['arguments'].get('tls-creds')]
    assert source_params and source_params[0]['tls-hostname'] == target['address'], \
        source_params
    assert any(c['execute'] == 'migrate-set-parameters' and c['arguments'].get('tls-creds')
               for c in target_sent), target_sent
    # The disk went over NBD to the target's server, with TLS too.
    nbd = [c['arguments'] for c in target_sent if c['execute'] == 'nbd-server-start']
    assert nbd and all(a.get('tls-creds') for a in nbd), nbd

    # More than the marker crossed the wire, none of it readable.
    assert cap.dropped() == 0
    assert cap.payload_bytes(f'dst host {target["address"]}') > MARK_LENGTH
    assert not cap.contains(NEEDLE)


def test_cold_migration_copies_over_nbd_with_tls_psk(tls_sandbox, api, workdir):
    """The default cold copy (nbd): the source's qemu-nbd serves the disk to the target's
    qemu-img over TLS-PSK, with a key made for this migration, gone afterwards."""
    cluster = tls_sandbox
    source, target = _source_and_target(cluster)
    low, high = CONF.compute.disk_export_port_min, CONF.compute.disk_export_port_max

    with capture.Capture(workdir / 'cold.pcap', _to_and_from(source),
                         source['address']) as cap:
        done = _migrate(api, {'instance': _guest(cluster), 'type': 'cold',
                              'target_host': target['name']})

    assert done['status'] == 'completed', done
    starting = next(e for e in done['events'] if e['to_state'] == 'starting')
    assert starting['detail'].startswith('disks copied by nbd with TLS-PSK'), starting
    assert probe.where(_guest(cluster), cluster=cluster) == [target['name']]
    assert _has_marker(cluster)
    # The disk's data came from an export port of the source, and nothing of it in clear.
    from_exports = cap.payload_bytes(
        f'src host {source["address"]} and src portrange {low}-{high}')
    assert cap.dropped() == 0
    assert from_exports > MARK_LENGTH, from_exports
    assert not cap.contains(NEEDLE)
    # Neither a key nor an export is left behind on either host.
    assert not _files_under(api.state_path / 'disk-copy')
    assert not _tools_running(api.state_path)


def test_stream_copy_over_qemu_tls(tls_sandbox, workdir):
    """[compute] disk_copy_method = stream with remote_transport = tls: the target's agent
    pulls the disk from the source daemon's TLS port, nothing of it in clear."""
    cluster = tls_sandbox
    [source_name] = probe.where(_guest(cluster), cluster=cluster, active_only=False)
    source = _host(cluster, source_name)
    target = _host(cluster, next(h['name'] for h in cluster['hosts']
                                 if h['name'] != source_name))
    path = _disk_path(cluster)
    copy_path = os.path.join(host_mod.IMAGE_DIR, 'tls-copy.qcow2')
    uri = remote.peer_uri(source['tls_uri'], 'tls', target['tls_pki_path'], source['name'])
    local = libvirt.open(target['uri'])
    outcome = {}
    try:
        with capture.Capture(workdir / 'stream.pcap', _to_and_from(source),
                             source['address']) as cap:
            job = disk_copy.DiskCopyJob('tls', uri, local,
                                        [{'path': path, 'target_path': copy_path}],
                                        lambda stats: None, outcome.update, 0.5,
                                        bandwidth=CAPTURE_MIB_PER_S << 20)
            job.prepare()
            job.start()
            assert job.wait(120), 'the copy did not end'
        assert outcome['success'], outcome
        assert cap.dropped() == 0
        assert cap.payload_bytes(
            f'src host {source["address"]} and src port {host_mod.TLS_PORT}') > MARK_LENGTH
        assert not cap.contains(NEEDLE)
    finally:
        disk_copy.delete_volume(local, copy_path)
        local.close()


def _files_under(directory):
    return [os.path.join(d, f) for d, _, files in os.walk(directory) for f in files]


def _tools_running(state_path):
    """qemu-nbd or qemu-img processes of this test's agents (their records and keys live
    under their state_path)."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if str(state_path) in cmdline and ('qemu-nbd' in cmdline or 'qemu-img' in cmdline):
            found.append(cmdline)
    return found


def test_native_tls_to_a_host_without_credentials_fails_clearly(tls_sandbox, api):
    cluster = tls_sandbox
    source, target = _source_and_target(cluster)
    creds = host_mod.outside(target, pki.QEMU_PKI_DIR)
    os.rename(creds, creds + '.away')
    try:
        done = _migrate(api, {'instance': _guest(cluster), 'target_host': target['name']})
    finally:
        os.rename(creds + '.away', creds)

    assert done['status'] == 'failed', done
    assert 'Unable to access credentials' in str(done), done
    assert 'migrate_tls_x509_cert_dir' in str(done), done
    # The guest runs on where it was, nothing left on the target.
    assert probe.where(_guest(cluster), cluster=cluster, active_only=False) == [
        source['name']]
