"""oslo.messaging set-up shared by every service.

`rabbit://` is used whenever more than one process is involved; `inproc://`
(migrator.common.inproc_bus) or `fake://` only inside one process (migrator-all, unit
tests). Servers use the threading executor: no eventlet.
"""

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_messaging import opts as messaging_opts

from migrator.common import context as migrator_context
from migrator.common import exceptions, metrics

CONF = cfg.CONF

CONDUCTOR_TOPIC = 'migrator-conductor'
COMPUTE_TOPIC = 'migrator-compute'

# Exceptions raised by a remote endpoint from these modules are re-raised as themselves on
# the caller's side, so the API can turn a conductor's NoValidHost into a 409.
ALLOWED_EXMODS = ['migrator.common.exceptions']

_TRANSPORT = None

# Messages RabbitMQ hands one consumer before it has acknowledged them. oslo.messaging's
# default (0) is unbounded: the broker then pushes a whole backlog of agents' reports onto a
# conductor that falls behind; its socket fills, RabbitMQ's send to it times out after 15 s,
# the broker closes the connection and delivers everything again, to the same slow reader
# (seen with 1,000 simulated agents on a loaded 2-core machine: the conductor reconnected
# every minute and handled nothing). A bound larger than the executor's 64 threads keeps
# them busy. An operator's own [oslo_messaging_rabbit] rabbit_qos_prefetch_count wins.
RABBIT_PREFETCH = 128


def _set_bus_defaults():
    for group, opts in messaging_opts.list_opts():
        if group == 'oslo_messaging_rabbit':
            CONF.register_opts(opts, group=group)
            CONF.set_default('rabbit_qos_prefetch_count', RABBIT_PREFETCH, group=group)


def _version_tuple(version):
    major, minor = version.split('.')
    return int(major), int(minor)


def version_cap(service, current):
    """The highest RPC API version a client of service ('conductor' or 'compute') sends:
    [upgrade_levels] <service> while older services run, else current (a pin above current
    changes nothing: this release knows nothing newer)."""
    pinned = getattr(CONF.upgrade_levels, service)
    if pinned is None or _version_tuple(pinned) >= _version_tuple(current):
        return current
    return pinned


def require_version(client, service, method, needed):
    """Raises ServiceTooOld unless client (capped by version_cap) may send version needed of
    method; nothing is sent then, so an old service never sees a message it cannot read."""
    if not client.can_send_version(needed):
        raise exceptions.ServiceTooOld(service=service, method=method, needed=needed,
                                       cap=client.version_cap)


def get_transport():
    global _TRANSPORT
    if _TRANSPORT is None:
        _set_bus_defaults()
        _TRANSPORT = messaging.get_rpc_transport(CONF, allowed_remote_exmods=ALLOWED_EXMODS)
    return _TRANSPORT


def cleanup():
    global _TRANSPORT
    if _TRANSPORT is not None:
        _TRANSPORT.cleanup()
        _TRANSPORT = None


class ContextSerializer(messaging.Serializer):
    """Carries our RequestContext over the bus; payloads are plain JSON-able values."""

    def serialize_entity(self, ctxt, entity):
        return entity

    def deserialize_entity(self, ctxt, entity):
        return entity

    def serialize_context(self, ctxt):
        return ctxt.to_dict()

    def deserialize_context(self, ctxt):
        return migrator_context.RequestContext.from_dict(ctxt)


def get_client(target, version_cap=None, timeout=None, retry=None):
    """An RPC client. retry: how often a call or cast reconnects to the broker before it
    fails (None: [conductor] rpc_retry; -1: for ever). timeout: seconds a call waits for
    its answer (None: oslo.messaging's rpc_response_timeout). With both bounded, a broker
    outage fails a caller within about timeout seconds instead of hanging it."""
    if retry is None:
        retry = CONF.conductor.rpc_retry
    # Failed calls and casts are counted by method (migrator_rpc_errors_total).
    return metrics.CountingRPCClient(messaging.get_rpc_client(
        get_transport(), target, version_cap=version_cap, serializer=ContextSerializer(),
        timeout=timeout, retry=None if retry < 0 else retry))


def get_server(target, endpoints):
    # No executor argument (oslo.messaging deprecated it): it picks the threading executor
    # unless eventlet monkey-patched the threads, which nothing of migrator does.
    return messaging.get_rpc_server(get_transport(), target, endpoints,
                                    serializer=ContextSerializer())
