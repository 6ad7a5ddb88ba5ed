"""inproc:// carries oslo.messaging RPC inside one process, and wakes the listener at once."""

import threading

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from migrator.common import exceptions

TOPIC = 'inproc-test'


class Endpoint:
    target = messaging.Target(version='1.0')

    def __init__(self, name):
        self.name = name
        self.cast_seen = threading.Event()
        self.cast_value = None

    def echo(self, ctxt, value):
        return {'server': self.name, 'value': value}

    def remember(self, ctxt, value):
        self.cast_value = value
        self.cast_seen.set()

    def refuse(self, ctxt):
        raise exceptions.Invalid('refused on purpose')


@pytest.fixture
def bus():
    transport = messaging.get_rpc_transport(
        cfg.CONF, url='inproc://', allowed_remote_exmods=['migrator.common.exceptions'])
    servers, endpoints = [], {}
    for name in ('one', 'two'):
        endpoint = Endpoint(name)
        server = messaging.get_rpc_server(
            transport, messaging.Target(topic=TOPIC, server=name), [endpoint])
        server.start()
        servers.append(server)
        endpoints[name] = endpoint
    yield transport, endpoints
    for server in servers:
        server.stop()
        server.wait()
    transport.cleanup()


def client(transport, server=None, timeout=5):
    return messaging.get_rpc_client(transport, messaging.Target(topic=TOPIC, server=server),
                                    timeout=timeout)


def test_call_reaches_the_addressed_server(bus):
    transport, _ = bus
    assert client(transport, 'two').call({}, 'echo', value=42) == {'server': 'two',
                                                                    'value': 42}
    assert client(transport, 'one').call({}, 'echo', value='x')['server'] == 'one'


def test_cast_is_delivered(bus):
    transport, endpoints = bus
    client(transport, 'one').cast({}, 'remember', value=[1, 2])
    assert endpoints['one'].cast_seen.wait(5)
    assert endpoints['one'].cast_value == [1, 2]
    assert not endpoints['two'].cast_seen.is_set()


def test_remote_exception_comes_back_as_itself(bus):
    transport, _ = bus
    with pytest.raises(exceptions.Invalid, match='refused on purpose'):
        client(transport, 'one').call({}, 'refuse')


def test_no_reply_times_out(bus):
    transport, _ = bus
    with pytest.raises(messaging.MessagingTimeout):
        client(transport, 'nobody', timeout=0.2).call({}, 'echo', value=1)
