"""`sandbox up --tls`: the certificates and the daemons' settings, without starting one
(the functional tests start them: tests/functional/service/test_encrypted_migration)."""

import json
import os
import subprocess

import pytest

from migrator.cmd import all as all_cmd
from migrator.cmd import manage
from migrator.conf import CONF
from migrator.sandbox import host as host_mod
from migrator.sandbox import pki, preflight
from migrator.sandbox.errors import SandboxError


def _openssl(*args):
    return subprocess.run(['openssl', *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def tls_host(tmp_path, monkeypatch):
    monkeypatch.setenv(host_mod.NET_ENV, '127.0.9')
    pki_dir = str(tmp_path / 'pki')
    pki.make_ca(pki_dir)
    return host_mod.prepare(str(tmp_path), 1, pki_dir=pki_dir), pki_dir


def test_host_certificates_name_the_host_and_are_signed_by_the_ca(tls_host):
    host, pki_dir = tls_host
    qemu = host_mod.outside(host, pki.QEMU_PKI_DIR)
    assert sorted(os.listdir(qemu)) == ['ca-cert.pem', 'client-cert.pem', 'client-key.pem',
                                        'server-cert.pem', 'server-key.pem']
    assert sorted(os.listdir(host['tls_pki_path'])) == [
        'cacert.pem', 'clientcert.pem', 'clientkey.pem', 'servercert.pem', 'serverkey.pem']
    for cert, purpose in (('server-cert.pem', 'TLS Web Server Authentication'),
                          ('client-cert.pem', 'TLS Web Client Authentication')):
        path = os.path.join(qemu, cert)
        assert _openssl('verify', '-CAfile', os.path.join(qemu, 'ca-cert.pem'), path) \
            .strip().endswith('OK')
        text = _openssl('x509', '-in', path, '-noout', '-text')
        assert 'DNS:sandbox-host1, IP Address:127.0.9.2' in text
        assert purpose in text
        assert 'CA:FALSE' in text
    assert oct(os.stat(os.path.join(qemu, 'server-key.pem')).st_mode & 0o777) == '0o600'
    # The CA's key stays outside the host.
    assert 'ca-key.pem' not in os.listdir(qemu)
    assert os.path.exists(os.path.join(pki_dir, 'ca-key.pem'))


def test_tls_host_daemon_settings(tls_host):
    host, _pki_dir = tls_host
    etc = os.path.join(host['root'], 'etc')
    with open(os.path.join(etc, 'libvirtd.conf')) as f:
        libvirtd = f.read()
    with open(os.path.join(etc, 'qemu.conf')) as f:
        qemu = f.read()
    assert 'listen_tls = 1' in libvirtd and 'listen_tcp = 1' in libvirtd
    assert 'cert_file = "/etc/libvirt/pki/libvirt/servercert.pem"' in libvirtd
    assert 'log_filters = "1:qemu.qemu_monitor"' in libvirtd
    assert 'migrate_tls_x509_cert_dir = "/etc/libvirt/pki/qemu"' in qemu
    assert 'migrate_tls_x509_verify = 1' in qemu
    assert host['tls_uri'] == 'qemu+tls://127.0.9.2/system'
    assert host['qmp_log'] == os.path.join(host['root'], 'log', 'qemu-monitor.log')


def test_plain_host_has_no_tls(tmp_path, monkeypatch):
    monkeypatch.setenv(host_mod.NET_ENV, '127.0.9')
    host = host_mod.prepare(str(tmp_path), 1)
    with open(os.path.join(host['root'], 'etc', 'libvirtd.conf')) as f:
        libvirtd = f.read()
    with open(os.path.join(host['root'], 'etc', 'qemu.conf')) as f:
        assert 'tls' not in f.read()
    assert 'listen_tls = 0' in libvirtd and 'cert_file' not in libvirtd
    assert 'tls_uri' not in host and 'qmp_log' not in host


def test_sandbox_up_tls_flag():
    parser = manage.build_parser()
    assert parser.parse_args(['sandbox', 'up', '--tls']).tls is True
    assert parser.parse_args(['sandbox', 'up']).tls is False


def test_migrator_all_gives_each_sandbox_agent_its_host_credentials(tmp_path):
    with open(tmp_path / 'cluster.json', 'w') as f:
        json.dump({'virt_type': 'qemu', 'hosts': [
            {'name': 'sandbox-host1', 'uri': 'qemu+tcp://127.0.9.2/system',
             'tls_pki_path': '/s/hosts/sandbox-host1/etc/pki/libvirt',
             'tool_wrapper': '/s/hosts/sandbox-host1/in-host'},
            {'name': 'sandbox-host2', 'uri': 'qemu+tcp://127.0.9.3/system'}]}, f)
    CONF.set_override('sandbox_state_dir', str(tmp_path), group='all')
    try:
        assert all_cmd.compute_hosts() == [
            ('sandbox-host1', 'qemu+tcp://127.0.9.2/system', 'qemu',
             '/s/hosts/sandbox-host1/etc/pki/libvirt', '/s/hosts/sandbox-host1/in-host'),
            ('sandbox-host2', 'qemu+tcp://127.0.9.3/system', 'qemu', None, None)]
    finally:
        CONF.clear_override('sandbox_state_dir', group='all')


def test_up_tls_without_openssl_names_the_package(monkeypatch):
    real = preflight.find_binary
    monkeypatch.setattr(preflight, 'find_binary',
                        lambda name: None if name == 'openssl' else real(name))
    preflight.check_binaries()      # a plain sandbox does not need it
    with pytest.raises(SandboxError, match=r'openssl \(openssl\); run tools/install-deps.sh'):
        preflight.check_binaries(tls=True)
