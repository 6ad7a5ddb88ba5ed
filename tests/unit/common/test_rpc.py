"""RPC clients give up after a bounded number of broker reconnections ([conductor]
rpc_retry), so a broker outage fails a caller instead of hanging it."""

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from migrator.common import context, rpc
from migrator.compute import rpcapi as compute_rpcapi
from migrator.conductor import rpcapi as conductor_rpcapi

CONF = cfg.CONF


@pytest.fixture
def fake_bus():
    from oslo_messaging import transport
    CONF.register_opts(transport._transport_opts)
    CONF.set_override('transport_url', 'fake://')
    rpc.cleanup()
    yield
    rpc.cleanup()
    CONF.clear_override('transport_url')


def test_clients_retry_a_bounded_number_of_times(fake_bus):
    assert conductor_rpcapi.ConductorAPI().client.retry == 3
    assert compute_rpcapi.ComputeAPI().client.retry == 3
    CONF.set_override('rpc_retry', -1, group='conductor')
    try:
        assert conductor_rpcapi.ConductorAPI().client.retry is None   # for ever
    finally:
        CONF.clear_override('rpc_retry', group='conductor')


def test_a_call_nobody_answers_times_out(fake_bus):
    client = rpc.get_client(messaging.Target(topic='nobody-listens'), timeout=0.2)
    with pytest.raises(messaging.MessagingTimeout):
        client.call(context.get_admin_context(), 'ping')


def test_rabbit_prefetch_is_bounded_unless_the_operator_set_it():
    """An unbounded prefetch let RabbitMQ push a whole backlog onto a slow conductor and
    then drop its connection (send timeout), over and over."""
    conf = cfg.CONF
    rpc._set_bus_defaults()
    assert conf.oslo_messaging_rabbit.rabbit_qos_prefetch_count == rpc.RABBIT_PREFETCH > 64
    conf.set_override('rabbit_qos_prefetch_count', 10, 'oslo_messaging_rabbit')
    try:
        rpc._set_bus_defaults()
        assert conf.oslo_messaging_rabbit.rabbit_qos_prefetch_count == 10
    finally:
        conf.clear_override('rabbit_qos_prefetch_count', 'oslo_messaging_rabbit')
