"""[upgrade_levels] over RabbitMQ: during a rolling upgrade a client pinned to the version of
the oldest service talks to services of that version and to upgraded ones on one broker (a
virtual host of the test's own). The method tables and services: tests/rpc_versions.py;
every version and method on the in-process bus: tests/unit/common/test_upgrade_levels.py."""

import pytest
from oslo_config import cfg

from migrator.common import rpc
from tests.rpc_versions import (
    Recorder,
    exercise_new_service,
    exercise_pinned_client,
    make_client,
    new_service,
    old_service,
    pinning,
    serving,
)

CONF = cfg.CONF


@pytest.fixture
def rabbit_bus(rabbit_url):
    from oslo_messaging import transport
    CONF.register_opts(transport._transport_opts)
    CONF.set_override('transport_url', rabbit_url)
    rpc.cleanup()
    yield
    rpc.cleanup()
    CONF.clear_override('transport_url')


@pytest.mark.parametrize('service,version', [('conductor', '1.2'), ('compute', '1.2')])
def test_a_pinned_client_in_a_mixed_cluster(rabbit_bus, service, version):
    """The old service gets only what it understands, the refused requests never reach the
    broker, and an upgraded service still takes everything the pinned client sends."""
    with serving() as serve, pinning() as pin:
        old, new = Recorder(), Recorder()
        serve(service, old_service(service, version, old))
        pin(service, version)
        exercise_pinned_client(service, version, old, make_client(service))
    with serving() as serve, pinning() as pin:
        serve(service, new_service(service, new))
        pin(service, version)
        exercise_new_service(service, version, new, make_client(service))
