"""Calls that are harmless to repeat are sent again after [conductor] call_try_timeout
without an answer (a request or answer lost with a broker restart costs one short try);
calls that change something are sent once and wait the whole compute_rpc_timeout."""

import threading

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from migrator.common import context, rpc
from migrator.compute import rpcapi as compute_rpcapi

CONF = cfg.CONF


class LosesFirstAnswer:
    """An agent whose first answer never arrives in time: it answers the first request only
    once a second one came (or the test ends), by then too late for the first try."""

    target = messaging.Target(version='1.8')

    def __init__(self):
        self.requests = []
        self.second = threading.Event()

    def _answer(self, what):
        self.requests.append(what)
        if len(self.requests) == 1:
            self.second.wait(30)
        else:
            self.second.set()
        return what

    def get_disks(self, ctxt, instance_uuid):
        return self._answer([{'path': f'/images/{instance_uuid}.qcow2'}])

    def create_migration_disks(self, ctxt, instance_uuid, specs):
        return self._answer('created')


@pytest.fixture
def agent():
    from oslo_messaging import transport
    CONF.register_opts(transport._transport_opts)
    CONF.set_override('transport_url', 'fake://')
    CONF.set_override('call_try_timeout', 1, 'conductor')
    CONF.set_override('compute_rpc_timeout', 20, 'conductor')
    rpc.cleanup()
    endpoint = LosesFirstAnswer()
    server = rpc.get_server(messaging.Target(topic=rpc.COMPUTE_TOPIC, server='host2'),
                            [endpoint])
    server.start()
    yield endpoint
    endpoint.second.set()
    server.stop()
    server.wait()
    rpc.cleanup()
    for name in ('call_try_timeout', 'compute_rpc_timeout'):
        CONF.clear_override(name, 'conductor')
    CONF.clear_override('transport_url')


def test_a_repeatable_call_is_sent_again_after_a_short_try(agent):
    api = compute_rpcapi.ComputeAPI()
    disks = api.get_disks(context.get_admin_context(), 'host2', 'vm1')
    assert disks == [{'path': '/images/vm1.qcow2'}]
    assert len(agent.requests) == 2


def test_a_call_that_changes_something_is_sent_once(agent):
    CONF.set_override('compute_rpc_timeout', 2, 'conductor')
    api = compute_rpcapi.ComputeAPI()
    with pytest.raises(messaging.MessagingTimeout):
        api.create_migration_disks(context.get_admin_context(), 'host2', 'vm1', [])
    assert agent.requests == ['created']


def test_a_repeatable_call_the_broker_did_not_take_is_sent_again(agent, monkeypatch):
    api = compute_rpcapi.ComputeAPI()
    prepare = api.client.prepare
    refused = []

    def broker_away_once(**options):
        prepared = prepare(**options)
        if refused:
            return prepared

        class Undelivered:
            def call(self, ctxt, method, **kwargs):
                refused.append(method)
                raise messaging.MessageDeliveryFailure('broker unreachable')
        return Undelivered()

    monkeypatch.setattr(api.client, 'prepare', broker_away_once)
    agent.second.set()      # this agent answers at once
    disks = api.get_disks(context.get_admin_context(), 'host2', 'vm1')
    assert refused == ['get_disks']
    assert disks == [{'path': '/images/vm1.qcow2'}]
