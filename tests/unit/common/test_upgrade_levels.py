"""[upgrade_levels]: a client pinned to an older RPC API version talks to services of that
version and to newer ones, over oslo.messaging's in-process fake:// bus (the same over
RabbitMQ: tests/functional/service/test_upgrade_levels.py). Tables and services:
tests/rpc_versions.py."""

import inspect

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from migrator.common import context, exceptions, rpc
from migrator.conductor import rpcapi as conductor_rpcapi
from tests.rpc_versions import (
    CONDUCTOR_CALLS,
    SERVICES,
    VERSIONS,
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
def bus():
    from oslo_messaging import transport
    CONF.register_opts(transport._transport_opts)
    CONF.set_override('transport_url', 'fake://')
    rpc.cleanup()
    yield
    rpc.cleanup()
    CONF.clear_override('transport_url')


@pytest.fixture
def serve(bus):
    with serving() as serve:
        yield serve


@pytest.fixture
def pin():
    with pinning() as pin:
        yield pin


def test_the_histories_match_the_managers_of_today():
    """The last entry of each method's history is what today's manager takes, and every
    method the clients have is in a history: a new argument needs a new version there."""
    for service, (_, client_class, history, calls, manager) in SERVICES.items():
        assert set(calls) == set(history), service
        client_methods = {name for name, _ in inspect.getmembers(client_class,
                                                                 inspect.isfunction)
                          if not name.startswith('_')}
        assert client_methods == set(history), service
        for name, versions in history.items():
            params = set(inspect.signature(getattr(manager, name)).parameters)
            assert versions[-1][1] == params - {'self', 'ctxt'}, (service, name)


@pytest.mark.parametrize('service', sorted(SERVICES))
@pytest.mark.parametrize('version', VERSIONS)
def test_a_pinned_client_talks_to_a_service_of_its_pin(serve, pin, service, version):
    recorder = Recorder()
    serve(service, old_service(service, version, recorder))
    pin(service, version)
    exercise_pinned_client(service, version, recorder, make_client(service))


@pytest.mark.parametrize('service', sorted(SERVICES))
@pytest.mark.parametrize('version', VERSIONS)
def test_a_pinned_client_still_works_against_a_new_service(serve, pin, service, version):
    recorder = Recorder()
    serve(service, new_service(service, recorder))
    pin(service, version)
    exercise_new_service(service, version, recorder, make_client(service))


@pytest.mark.parametrize('service', sorted(SERVICES))
def test_an_unpinned_client_sends_every_argument(serve, service):
    recorder = Recorder()
    serve(service, new_service(service, recorder))
    api = make_client(service)
    _, _, history, calls, _ = SERVICES[service]
    for name, call in calls.items():
        call(api, context.get_admin_context())
        got, kwargs = recorder.next()
        assert (got, set(kwargs)) == (name, history[name][-1][1])


def test_an_unpinned_client_is_refused_by_an_old_service(serve):
    """Why the pin exists: without it, a new argument reaches a 1.0 conductor, which
    refuses the message it cannot read."""
    serve('conductor', old_service('conductor', '1.0', Recorder()))
    api = make_client('conductor')
    with pytest.raises(messaging.UnsupportedVersion):
        CONDUCTOR_CALLS['select_destination'](api, context.get_admin_context())


def test_a_pin_above_this_release_is_this_release(pin):
    pin('conductor', '1.9')
    assert rpc.version_cap('conductor', conductor_rpcapi.VERSION) == '1.7'
    pin('conductor', '1.3')
    assert rpc.version_cap('conductor', conductor_rpcapi.VERSION) == '1.3'


def test_a_pin_that_is_not_a_version_is_refused(pin):
    with pytest.raises(ValueError):
        pin('compute', 'kilo')


def test_a_client_keeps_the_cap_it_was_made_with(serve, pin):
    """The cap is read when a client is made: a client made before the pin keeps its own."""
    recorder = Recorder()
    serve('conductor', new_service('conductor', recorder))
    unpinned = make_client('conductor')
    pin('conductor', '1.0')
    pinned = make_client('conductor')
    ctxt = context.get_admin_context()
    unpinned.audit(ctxt)
    assert recorder.next()[0] == 'audit'
    with pytest.raises(exceptions.ServiceTooOld):
        pinned.audit(ctxt)
