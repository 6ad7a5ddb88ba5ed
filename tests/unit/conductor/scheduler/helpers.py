"""HostStates and RequestSpecs for the scheduler's unit tests."""

import datetime

from migrator.common.timeutils import utcnow
from migrator.conductor.scheduler import host_state, request_spec


def host(name='host1', **values):
    row = {'name': name, 'status': 'enabled', 'last_heartbeat': utcnow(),
           'virt_type': 'qemu', 'hypervisor_version': 7002000, 'cpu_model': 'Skylake',
           'cpu_models': '["Nehalem", "qemu64"]', 'memory_mb': 8192, 'memory_mb_used': 0,
           'reserved_memory_mb': 0, 'vcpus': 4, 'vcpus_used': 0, 'disk_gb': 100,
           'disk_gb_used': 0}
    row.update(values)
    return host_state.HostState(row)


def spec(source=None, **values):
    fields = {'instance_uuid': 'u1', 'instance_name': 'vm1', 'source_host': 'src',
              'memory_mb': 1024, 'vcpus': 1, 'disk_gb': 10, 'cpu_model': 'qemu64'}
    fields.update(values)
    result = request_spec.RequestSpec(**fields)
    result.source = source if source is not None else host('src')
    result.heartbeat_after = utcnow() - datetime.timedelta(seconds=30)
    return result
