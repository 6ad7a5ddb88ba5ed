"""The RPC API version histories of the conductor and the compute agents, as old and new
services answer them, for the [upgrade_levels] tests (unit: fake://; functional: RabbitMQ).

The "old" services answer exactly the methods and arguments their version had (the version
history in the rpcapi modules) and refuse anything else as a real old service would: a
newer message version is UnsupportedVersion, an unknown argument a TypeError. The "new"
services take the signatures of today's managers, so the tables cannot drift from the code.
"""

import contextlib
import inspect
import queue

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from migrator import conf  # noqa: F401 - registers the options the clients read
from migrator.common import context, exceptions, rpc
from migrator.compute import manager as compute_manager
from migrator.compute import rpcapi as compute_rpcapi
from migrator.conductor import manager as conductor_manager
from migrator.conductor import rpcapi as conductor_rpcapi

CONF = cfg.CONF
SERVER = 'node-1'
VERSIONS = [f'1.{minor}' for minor in range(11)]

# method -> [(version, the arguments it takes from that version on)], oldest first.
CONDUCTOR_HISTORY = {
    'select_destination': [('1.0', {'instance_uuid', 'migration_type', 'target_host'}),
                           ('1.2', {'instance_uuid', 'migration_type', 'target_host',
                                    'block_migration'})],
    'migrate': [('1.0', {'migration_id'})],
    'report_host': [('1.0', {'host', 'inventory', 'domains', 'reported_at'})],
    'migration_progress': [('1.0', {'migration_id', 'stats'})],
    'migration_job_done': [('1.0', {'migration_id', 'outcome'})],
    'drain': [('1.1', {'drain_id'})],
    'abort_migration': [('1.2', {'migration_id', 'reason'})],
    'force_complete': [('1.3', {'migration_id'})],
    'create_plan': [('1.4', {'goal', 'max_moves', 'min_gain', 'max_parallel'})],
    'apply_plan': [('1.4', {'plan_id'})],
    'schedule_dry_run': [('1.5', {'instance_uuid', 'migration_type', 'target_host',
                                  'block_migration'}),
                         ('1.8', {'instance_uuid', 'migration_type', 'target_host',
                                  'block_migration', 'controls'})],
    'report_host_down': [('1.6', {'host', 'reason', 'reported_at'})],
    'audit': [('1.7', {'fix'})],
}

COMPUTE_HISTORY = {
    'get_domain_state': [('1.0', {'instance_uuid'})],
    'get_disks': [('1.0', {'instance_uuid'})],
    'check_can_live_migrate_destination': [('1.0', {'instance_uuid', 'memory_mb'})],
    'create_shared_probe': [('1.0', {'directory'})],
    'check_shared_probe': [('1.0', {'directory', 'name'})],
    'remove_shared_probe': [('1.0', {'directory', 'name'})],
    'live_migrate': [('1.0', {'migration_id', 'instance_uuid', 'dest_uri', 'migrate_disks',
                              'conductor'}),
                     ('1.3', {'migration_id', 'instance_uuid', 'dest_uri', 'migrate_disks',
                              'conductor', 'controls'})],
    'cleanup_incoming': [('1.0', {'instance_uuid'})],
    'report_now': [('1.0', set())],
    'abort_live_migration': [('1.1', {'migration_id', 'instance_uuid'})],
    'create_migration_disks': [('1.1', {'instance_uuid', 'specs'})],
    'remove_unused_disks': [('1.1', {'instance_uuid', 'paths'})],
    'get_domain_xml': [('1.2', {'instance_uuid'})],
    'power_off_instance': [('1.2', {'instance_uuid', 'timeout'})],
    'start_instance': [('1.2', {'instance_uuid'})],
    'prepare_cold_destination': [('1.2', {'instance_uuid', 'paths'})],
    'copy_disks': [('1.2', {'migration_id', 'source_uri', 'disks', 'bandwidth',
                            'conductor'}),
                   ('1.10', {'migration_id', 'source_uri', 'disks', 'bandwidth',
                             'conductor', 'exports', 'psk'})],
    'abort_disk_copy': [('1.2', {'migration_id'})],
    'define_instance': [('1.2', {'xml', 'disk_paths', 'start'})],
    'remove_migrated_copy': [('1.2', {'migration_id', 'instance_uuid', 'volumes'})],
    'remove_source_copy': [('1.2', {'instance_uuid', 'volumes'})],
    'live_migration_force_complete': [('1.3', {'instance_uuid'})],
    'migration_job_active': [('1.4', {'instance_uuid'})],
    'cold_destination_paths': [('1.4', {'instance_uuid', 'paths'})],
    'disk_copy_active': [('1.5', {'migration_id'})],
    'audit_domains': [('1.6', {'job_uuids'})],
    'peer_domain_state': [('1.7', {'instance_uuid', 'peer_uri'})],
    'measure_dirty_rate': [('1.8', {'instance_uuid', 'seconds'})],
    'disk_copy_state': [('1.9', {'migration_id'})],
    'export_disks': [('1.10', {'migration_id', 'paths', 'psk', 'encrypt'})],
    'stop_disk_exports': [('1.10', {'migration_id'})],
}

# Every client method, called with every argument it has (optional ones set).
CONDUCTOR_CALLS = {
    'select_destination': lambda api, c: api.select_destination(
        c, 'uuid-1', 'live', target_host='node-2', block_migration=False),
    'migrate': lambda api, c: api.migrate(c, 'm-1'),
    'report_host': lambda api, c: api.report_host(c, 'node-2', {}, [], '2026-01-01T00:00:00'),
    'migration_progress': lambda api, c: api.migration_progress(c, SERVER, 'm-1', {}),
    'migration_job_done': lambda api, c: api.migration_job_done(
        c, SERVER, 'm-1', {'success': True}),
    'drain': lambda api, c: api.drain(c, 'd-1'),
    'abort_migration': lambda api, c: api.abort_migration(c, SERVER, 'm-1', 'operator'),
    'force_complete': lambda api, c: api.force_complete(c, 'm-1'),
    'create_plan': lambda api, c: api.create_plan(c, 'spread', max_moves=2, min_gain=0.1,
                                                  max_parallel=1),
    'apply_plan': lambda api, c: api.apply_plan(c, 'p-1'),
    'schedule_dry_run': lambda api, c: api.schedule_dry_run(
        c, 'uuid-1', 'live', target_host='node-2', block_migration='auto',
        controls={'bandwidth_mib': 8}),
    'report_host_down': lambda api, c: api.report_host_down(
        c, 'node-2', 'libvirtd unreachable', '2026-01-01T00:00:00'),
    'audit': lambda api, c: api.audit(c, fix=True),
}

COMPUTE_CALLS = {
    'get_domain_state': lambda api, c: api.get_domain_state(c, SERVER, 'uuid-1'),
    'get_disks': lambda api, c: api.get_disks(c, SERVER, 'uuid-1'),
    'check_can_live_migrate_destination': lambda api, c:
        api.check_can_live_migrate_destination(c, SERVER, 'uuid-1', 512),
    'create_shared_probe': lambda api, c: api.create_shared_probe(c, SERVER, '/d'),
    'check_shared_probe': lambda api, c: api.check_shared_probe(c, SERVER, '/d', 'probe'),
    'remove_shared_probe': lambda api, c: api.remove_shared_probe(c, SERVER, '/d', 'probe'),
    'live_migrate': lambda api, c: api.live_migrate(
        c, SERVER, 'm-1', 'uuid-1', 'qemu+tcp://node-2/system', [], 'conductor-1',
        controls={'max_downtime_ms': 300}),
    'cleanup_incoming': lambda api, c: api.cleanup_incoming(c, SERVER, 'uuid-1'),
    'report_now': lambda api, c: api.report_now(c, SERVER),
    'abort_live_migration': lambda api, c: api.abort_live_migration(c, SERVER, 'm-1',
                                                                    'uuid-1'),
    'create_migration_disks': lambda api, c: api.create_migration_disks(c, SERVER, 'uuid-1',
                                                                        []),
    'remove_unused_disks': lambda api, c: api.remove_unused_disks(c, SERVER, 'uuid-1', []),
    'get_domain_xml': lambda api, c: api.get_domain_xml(c, SERVER, 'uuid-1'),
    'power_off_instance': lambda api, c: api.power_off_instance(c, SERVER, 'uuid-1', 5),
    'start_instance': lambda api, c: api.start_instance(c, SERVER, 'uuid-1'),
    'prepare_cold_destination': lambda api, c: api.prepare_cold_destination(
        c, SERVER, 'uuid-1', []),
    'copy_disks': lambda api, c: api.copy_disks(
        c, SERVER, 'm-1', 'qemu:///system', [], 0, 'conductor-1',
        exports={'address': 'node-1', 'tls': True, 'exports': []}, psk='0' * 64),
    'abort_disk_copy': lambda api, c: api.abort_disk_copy(c, SERVER, 'm-1'),
    'define_instance': lambda api, c: api.define_instance(c, SERVER, '<domain/>', [], True),
    'remove_migrated_copy': lambda api, c: api.remove_migrated_copy(c, SERVER, 'm-1',
                                                                    'uuid-1', []),
    'remove_source_copy': lambda api, c: api.remove_source_copy(c, SERVER, 'uuid-1', []),
    'live_migration_force_complete': lambda api, c: api.live_migration_force_complete(
        c, SERVER, 'uuid-1'),
    'migration_job_active': lambda api, c: api.migration_job_active(c, SERVER, 'uuid-1'),
    'cold_destination_paths': lambda api, c: api.cold_destination_paths(c, SERVER, 'uuid-1',
                                                                        []),
    'disk_copy_active': lambda api, c: api.disk_copy_active(c, SERVER, 'm-1'),
    'audit_domains': lambda api, c: api.audit_domains(c, SERVER, []),
    'peer_domain_state': lambda api, c: api.peer_domain_state(c, SERVER, 'uuid-1',
                                                              'qemu:///system'),
    'measure_dirty_rate': lambda api, c: api.measure_dirty_rate(c, SERVER, 'uuid-1', 1),
    'disk_copy_state': lambda api, c: api.disk_copy_state(c, SERVER, 'm-1'),
    'export_disks': lambda api, c: api.export_disks(c, SERVER, 'm-1', ['/d/disk'], '0' * 64,
                                                    True),
    'stop_disk_exports': lambda api, c: api.stop_disk_exports(c, SERVER, 'm-1'),
}

SERVICES = {
    # service: (topic, client class, history, calls, today's manager)
    'conductor': (rpc.CONDUCTOR_TOPIC, conductor_rpcapi.ConductorAPI, CONDUCTOR_HISTORY,
                  CONDUCTOR_CALLS, conductor_manager.ConductorManager),
    'compute': (rpc.COMPUTE_TOPIC, compute_rpcapi.ComputeAPI, COMPUTE_HISTORY,
                COMPUTE_CALLS, compute_manager.ComputeManager),
}

# Calls that leave out an argument rather than refuse, under a pin below its version.
DEGRADED = {('conductor', 'select_destination'): 'block_migration',
            ('compute', 'live_migrate'): 'controls',
            ('compute', 'copy_disks'): 'exports'}
# Casts that are dropped (with a warning) under a pin below their version.
SKIPPED = {('conductor', 'report_host_down')}


def _v(version):
    major, minor = version.split('.')
    return int(major), int(minor)


def args_at(history, version):
    """The arguments of the method at version, or None when it did not exist yet."""
    known = [args for since, args in history if _v(since) <= _v(version)]
    return known[-1] if known else None


class Recorder:
    """What the service received: (method, arguments) per message."""

    def __init__(self):
        self.received = queue.Queue()

    def next(self):
        return self.received.get(timeout=10)


def _endpoint(version, methods, recorder):
    """An endpoint of RPC API version that takes exactly methods ({name: argument names})."""

    def make(name, allowed):
        def method(self, ctxt, **kwargs):
            unknown = set(kwargs) - allowed
            if unknown:
                raise TypeError(f'{name}() got unexpected arguments {sorted(unknown)}')
            recorder.received.put((name, kwargs))
            return {'answered': name}
        method.__name__ = name
        return method

    body = {name: make(name, allowed) for name, allowed in methods.items()}
    body['target'] = messaging.Target(version=version)
    return type(f'Endpoint_{version}', (), body)()


def old_service(service, version, recorder):
    _, _, history, _, _ = SERVICES[service]
    methods = {}
    for name, versions in history.items():
        args = args_at(versions, version)
        if args is not None:
            methods[name] = args
    return _endpoint(version, methods, recorder)


def new_service(service, recorder):
    """Today's service: the arguments of the manager's own methods."""
    _, client_class, history, _, manager = SERVICES[service]
    methods = {}
    for name in history:
        params = inspect.signature(getattr(manager, name)).parameters
        methods[name] = set(params) - {'self', 'ctxt'}
    return _endpoint(inspect.getmodule(client_class).VERSION, methods, recorder)


def exercise_pinned_client(service, version, recorder, api):
    """Calls every method of api (pinned to version) against a service of that version:
    everything the pin allows reaches it with arguments it knows; the rest is refused
    before anything is sent, with an error naming the service to upgrade."""
    ctxt = context.get_admin_context()
    _, _, history, calls, _ = SERVICES[service]
    for name, call in calls.items():
        allowed = args_at(history[name], version)
        if allowed is None and (service, name) in SKIPPED:
            assert call(api, ctxt) is None
            continue
        if allowed is None:
            with pytest.raises(exceptions.ServiceTooOld) as caught:
                call(api, ctxt)
            message = str(caught.value)
            assert f'needs {service} RPC API {history[name][0][0]}' in message
            assert f'[upgrade_levels] {service} pins it to {version}' in message
            assert f'upgrade every {service} service' in message
            assert caught.value.code == 409
            continue
        call(api, ctxt)
        got, kwargs = recorder.next()
        assert got == name
        assert set(kwargs) <= allowed
        dropped = DEGRADED.get((service, name))
        if dropped and dropped not in allowed:
            assert dropped not in kwargs
    assert recorder.received.empty()   # nothing else arrived (no refused call was sent)


def exercise_new_service(service, version, recorder, api):
    """Calls every method the pin allows against today's service; each one arrives."""
    ctxt = context.get_admin_context()
    _, _, history, calls, _ = SERVICES[service]
    for name, call in calls.items():
        if args_at(history[name], version) is None:
            continue
        call(api, ctxt)
        got, _ = recorder.next()
        assert got == name


@contextlib.contextmanager
def serving():
    """serve(service, endpoint) starts an RPC server of endpoint on the service's topic
    (transport: [DEFAULT] transport_url); all are stopped on the way out."""
    servers = []

    def serve(service, endpoint):
        topic = SERVICES[service][0]
        server = rpc.get_server(messaging.Target(topic=topic, server=SERVER), [endpoint])
        server.start()
        servers.append(server)

    try:
        yield serve
    finally:
        for server in servers:
            server.stop()
            server.wait()


@contextlib.contextmanager
def pinning():
    """pin(service, version) sets [upgrade_levels] <service>; unset on the way out."""
    def pin(service, version):
        CONF.set_override(service, version, group='upgrade_levels')
    try:
        yield pin
    finally:
        for service in SERVICES:
            CONF.clear_override(service, group='upgrade_levels')


def make_client(service):
    client_class = SERVICES[service][1]
    if service == 'compute':
        return client_class()
    return client_class(timeout=10)
