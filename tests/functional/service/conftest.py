import os
import shutil
import uuid

import psycopg2
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
    name = f'migrator_func_{uuid.uuid4().hex[:10]}'
    admin = psycopg2.connect(host='127.0.0.1', user='postgres', dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE {name}')
    try:
        yield f'postgresql+psycopg2://postgres@127.0.0.1/{name}'
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        admin.close()


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
