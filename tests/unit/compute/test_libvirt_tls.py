"""Encrypted migration traffic in the libvirt driver: URIs and flags, without a hypervisor
(the sandbox tests run them for real: tests/functional/service/test_encrypted_migration)."""

import threading

import libvirt
import pytest

from migrator.common import exceptions
from migrator.compute.virt.libvirt import disk_copy, migration, remote
from migrator.compute.virt.libvirt import driver as libvirt_driver
from migrator.conf import CONF

PKI = '/etc/migrator/pki'


@pytest.fixture
def libvirt_opts():
    """Sets [libvirt] options for one test."""
    names = []

    def override(**values):
        for name, value in values.items():
            CONF.set_override(name, value, group='libvirt')
            names.append(name)
    yield override
    for name in names:
        CONF.clear_override(name, group='libvirt')


# -- URIs -------------------------------------------------------------------------------------

@pytest.mark.parametrize('connection_uri, transport, expected', [
    ('qemu:///system', 'tcp', 'qemu+tcp://node1/system'),
    ('qemu+tcp://10.0.0.5/system', 'tcp', 'qemu+tcp://10.0.0.5/system'),
    ('qemu:///system', 'tls', 'qemu+tls://node1/system'),
    # The TCP port does not carry over to TLS; only the host does.
    ('qemu+tcp://10.0.0.5:16600/system', 'tls', 'qemu+tls://10.0.0.5/system'),
    ('qemu+tls://10.0.0.5:16999/system', 'tls', 'qemu+tls://10.0.0.5:16999/system'),
])
def test_migration_uri_follows_the_transport(connection_uri, transport, expected):
    assert remote.migration_uri(connection_uri, 'node1', transport) == expected


def test_driver_reports_a_tls_uri_with_remote_transport_tls(libvirt_opts):
    libvirt_opts(remote_transport='tls')
    drv = libvirt_driver.LibvirtDriver(uri='qemu+tcp://127.0.5.2/system')
    drv.host = 'node1'
    assert drv.migration_uri == 'qemu+tls://127.0.5.2/system'
    # A configured migration_uri is the operator's word.
    drv = libvirt_driver.LibvirtDriver(uri='qemu:///system',
                                       migration_uri='qemu+tls://node1.example:16514/system')
    assert drv.migration_uri == 'qemu+tls://node1.example:16514/system'


def test_peer_uri_as_reported_with_tcp():
    assert remote.peer_uri('qemu+tcp://10.0.0.6/system') == 'qemu+tcp://10.0.0.6/system'
    assert remote.peer_uri('qemu+tls://10.0.0.6/system') == 'qemu+tls://10.0.0.6/system'
    # Other remote schemes pass as they are.
    assert remote.peer_uri('qemu+ssh://root@n2/system?keyfile=/k') == \
        'qemu+ssh://root@n2/system?keyfile=/k'


def test_peer_uri_with_tls_refuses_an_unencrypted_uri():
    with pytest.raises(exceptions.MigrationFailed) as caught:
        remote.peer_uri('qemu+tcp://10.0.0.6/system', 'tls', peer='node2')
    message = str(caught.value)
    assert 'remote_transport = tls' in message
    assert 'host node2 reports the unencrypted migration URI qemu+tcp://10.0.0.6/system' \
        in message
    with pytest.raises(exceptions.MigrationFailed):
        remote.peer_uri('qemu+ssh://n2/system', 'tls')


def test_peer_uri_names_our_client_credentials():
    assert remote.peer_uri('qemu+tls://10.0.0.6/system', 'tls', PKI) == \
        f'qemu+tls://10.0.0.6/system?pkipath={PKI}'
    # No credentials on a plain connection.
    assert remote.peer_uri('qemu+tcp://10.0.0.6/system', 'tcp', PKI) == \
        'qemu+tcp://10.0.0.6/system'


def test_peer_uri_ignores_what_the_peer_says_about_checking_it():
    reported = 'qemu+tls://10.0.0.6:16514/system?no_verify=1&pkipath=/tmp/theirs#x'
    assert remote.peer_uri(reported, 'tls', PKI) == \
        f'qemu+tls://10.0.0.6:16514/system?pkipath={PKI}'
    assert remote.peer_uri(reported, 'tls') == 'qemu+tls://10.0.0.6:16514/system'


@pytest.mark.parametrize('reported', [None, '', 'qemu:///system'])
def test_peer_uri_refuses_a_local_uri(reported):
    with pytest.raises(exceptions.MigrationFailed, match='not a remote libvirt URI'):
        remote.peer_uri(reported)


# -- live migration flags ---------------------------------------------------------------------

class FakeDomain:
    def __init__(self):
        self.migrated = threading.Event()
        self.calls = []

    def UUIDString(self):
        return '0d0c3a5e-0000-4000-8000-000000000002'

    def XMLDesc(self, flags=0):
        return "<domain type='qemu'><name>g</name><devices/></domain>"

    def info(self):
        return [1, 262144, 262144, 1, 0]

    def migrateToURI3(self, uri, params, flags):
        self.calls.append((uri, params, flags))
        self.migrated.set()

    def jobStats(self, flags=0):
        raise libvirt.libvirtError('gone')


class FakeConnection:
    def __init__(self, dom):
        self.dom = dom

    def lookupByUUIDString(self, uuid):
        return self.dom


def _live_migrate(dest_uri):
    dom = FakeDomain()
    drv = libvirt_driver.LibvirtDriver(uri='qemu+tcp://127.0.5.2/system')
    drv.host = 'node1'
    drv.conn = FakeConnection(dom)
    ended = threading.Event()
    drv.live_migrate(dom.UUIDString(), dest_uri, [], lambda stats: None,
                     lambda outcome: ended.set(), controls={})
    assert ended.wait(10)
    [call] = dom.calls
    return call


def test_live_migration_without_native_tls():
    uri, _params, flags = _live_migrate('qemu+tcp://127.0.5.3/system')
    assert not flags & libvirt.VIR_MIGRATE_TLS
    assert uri == 'qemu+tcp://127.0.5.3/system'


def test_live_migration_with_native_tls(libvirt_opts):
    libvirt_opts(live_migration_with_native_tls=True)
    _uri, _params, flags = _live_migrate('qemu+tcp://127.0.5.3/system')
    assert flags & libvirt.VIR_MIGRATE_TLS
    assert flags & migration.LIVE_FLAGS == migration.LIVE_FLAGS


def test_live_migration_over_tls_uses_our_credentials(libvirt_opts):
    libvirt_opts(remote_transport='tls', remote_tls_pki_path=PKI)
    uri, _params, _flags = _live_migrate('qemu+tls://127.0.5.3/system')
    assert uri == f'qemu+tls://127.0.5.3/system?pkipath={PKI}'


def test_live_migration_over_tls_refuses_a_plain_target(libvirt_opts):
    libvirt_opts(remote_transport='tls')
    dom = FakeDomain()
    drv = libvirt_driver.LibvirtDriver(uri='qemu+tcp://127.0.5.2/system')
    drv.conn = FakeConnection(dom)
    with pytest.raises(exceptions.MigrationFailed, match='remote_transport = tls'):
        drv.live_migrate(dom.UUIDString(), 'qemu+tcp://127.0.5.3/system', [],
                         lambda stats: None, lambda outcome: None, controls={})
    assert dom.calls == []


def test_cold_copy_over_tls_refuses_a_plain_source(libvirt_opts, monkeypatch):
    libvirt_opts(remote_transport='tls')
    opened = []
    monkeypatch.setattr(libvirt, 'open', opened.append)
    drv = libvirt_driver.LibvirtDriver(uri='qemu+tcp://127.0.5.2/system')
    with pytest.raises(exceptions.MigrationFailed, match='unencrypted migration URI'):
        drv.copy_disks('m1', 'qemu+tcp://127.0.5.3/system',
                       [{'path': '/a.qcow2', 'target_path': '/b.qcow2'}],
                       lambda stats: None, lambda outcome: None, None)
    assert opened == []


def test_native_tls_failure_says_what_to_configure():
    error = ("internal error: unable to execute QEMU command 'object-add': Unable to access "
             "credentials /etc/pki/qemu/ca-cert.pem: No such file or directory")
    explained = migration.explain_failure(error, libvirt.VIR_MIGRATE_TLS)
    assert explained.startswith(error)
    assert 'migrate_tls_x509_cert_dir' in explained and 'server-cert.pem' in explained
    # Without native TLS, or for another cause, libvirt's reason stands alone.
    assert migration.explain_failure(error, 0) == error
    assert migration.explain_failure('Domain not found', libvirt.VIR_MIGRATE_TLS) == \
        'Domain not found'


def test_native_tls_failure_of_the_job_says_what_to_configure_over_tls_p2p_too():
    error = ("operation failed: job 'migration out' failed: The certificate hasn't got a "
             "known issuer")
    explained = migration.explain_failure(error, libvirt.VIR_MIGRATE_TLS,
                                          'qemu+tls://10.0.0.6/system')
    assert 'live_migration_with_native_tls is on' in explained


def test_tls_connection_failure_says_what_to_configure():
    error = "unable to connect to server at '10.0.0.6:16514': Connection refused"
    explained = migration.explain_failure(error, libvirt.VIR_MIGRATE_TLS,
                                          'qemu+tls://10.0.0.6/system')
    assert explained.startswith(error)
    assert 'listen_tls = 1' in explained and 'remote_tls_pki_path' in explained
    assert 'live_migration_with_native_tls' not in explained
    # A plain connection's failure is libvirt's reason alone.
    assert remote.explain_connect_failure('qemu+tcp://10.0.0.6/system', error) == error


def test_cold_copy_that_cannot_connect_over_tls_says_what_to_configure(monkeypatch):
    class Refused(libvirt.libvirtError):
        def get_error_message(self):
            return "unable to connect to server at '10.0.0.6:16514': Connection refused"

    def refuse(uri):
        raise Refused('refused')

    monkeypatch.setattr(libvirt, 'open', refuse)
    job = disk_copy.DiskCopyJob('m1', 'qemu+tls://10.0.0.6/system', None, [],
                                lambda stats: None, lambda outcome: None, 1)
    with pytest.raises(exceptions.MigrationFailed) as caught:
        job.prepare()
    message = str(caught.value)
    assert 'cannot reach the source daemon at qemu+tls://10.0.0.6/system' in message
    assert 'listen_tls = 1' in message
