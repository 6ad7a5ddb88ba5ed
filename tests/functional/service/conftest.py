import os
import shutil

import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes


# Module scope, not package: test_drain and test_scheduler bring up sandboxes of their own
# shape on the same loopback addresses, which they can only do once this one is down.
@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    """Three sandbox hosts and one memory-dirtying guest with a shared disk on host1."""
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('service-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=3, guests_per_host=0, state_dir=state_dir)
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared')
        yield cluster_mod.load(state_dir)
    finally:
        cluster_mod.down(state_dir)


@pytest.fixture
def rabbit_url():
    """A RabbitMQ virtual host for one test (see processes.rabbit_vhost)."""
    with processes.rabbit_vhost() as url:
        yield url


@pytest.fixture(scope='module')
def module_rabbit_url():
    """A RabbitMQ virtual host for the services a module keeps running."""
    with processes.rabbit_vhost() as url:
        yield url


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with processes.postgres_database() as url:
        yield url


# What local_guest writes into its disk: enough that a cold copy at the agents' 4 MiB/s
# lasts long enough for a test to strike during it.
LOCAL_GUEST_DATA_MIB = 48


@pytest.fixture(scope='module')
def local_guest(sandbox):
    """A guest on a local (unshared) disk with LOCAL_GUEST_DATA_MIB of data on it, on
    sandbox-host2; (its name, the cluster)."""
    guest = cluster_mod.add_guest(state_dir=sandbox['state_dir'], host='sandbox-host2',
                                  disks='local')
    cluster = cluster_mod.load(sandbox['state_dir'])
    probe.qemu_io(guest['name'], f'write -P 0x3c 8M {LOCAL_GUEST_DATA_MIB}M',
                  cluster=cluster, timeout=60)
    return guest['name'], cluster


def guest_name(cluster):
    return cluster['guests'][0]['name']


def current_host(cluster):
    hosts = probe.where(guest_name(cluster), cluster=cluster)
    assert len(hosts) == 1, f'guest runs on {hosts}'
    return hosts[0]


@pytest.fixture
def workdir(tmp_path):
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


__all__ = ['processes']
