"""What the migrator API answers, in its documented shapes (README, REST API)."""

import copy

MIGRATION_RUNNING = {
    'id': 'dfb13d3b-9cbf-4bea-b9d8-965888bf57ea',
    'instance_uuid': '5f0c7f3e-8a1d-4c39-9d61-0c2f1b8e4a77',
    'instance_name': 'guest1', 'type': 'live', 'block_migration': None,
    'status': 'running', 'source_host': 'node1', 'target_host': 'node2',
    'requested_target': None, 'conductor': 'conductor1', 'error': None,
    'progress': 42.5, 'memory_total': 268435456, 'memory_processed': 120000000,
    'memory_remaining': 150000000, 'disk_total': None, 'disk_processed': None,
    'disk_remaining': None, 'dirty_rate': 1048576, 'transfer_rate': 33554432,
    'iteration': 2, 'downtime_ms': 40, 'downtime_limit_ms': 100, 'eta_seconds': 4.6,
    'created_at': '2024-05-01T12:01:00.063Z', 'updated_at': '2024-05-01T12:01:02.903Z',
    'started_at': '2024-05-01T12:01:00.084Z', 'finished_at': None,
    'duration_seconds': 2.8, 'bytes_transferred': 120000000,
    'requester': {'user_id': 'u1', 'user_name': 'alice', 'project_id': 'p1',
                  'project_name': 'ops', 'request_id': 'req-1', 'global_request_id': None},
    'convergence': {'max_downtime_ms': 500, 'downtime_steps': 10, 'bandwidth_mib': 0,
                    'auto_converge': False, 'post_copy': False,
                    'completion_timeout_per_gib': 800, 'timeout_action': 'abort'},
}

MIGRATION_DONE = dict(
    MIGRATION_RUNNING, id='0a1b2c3d-0000-4000-8000-000000000001', instance_name='guest2',
    status='completed', progress=100.0, eta_seconds=0.0,
    finished_at='2024-05-01T12:02:00.000Z')


def migration_with_events(migration=MIGRATION_RUNNING):
    m = copy.deepcopy(migration)
    m['events'] = [
        {'time': '2024-05-01T12:01:00.063Z', 'from_state': None, 'to_state': 'accepted',
         'detail': 'requested', 'requester': {'user_name': 'alice'}},
        {'time': '2024-05-01T12:01:00.690Z', 'from_state': 'preparing',
         'to_state': 'running', 'detail': 'libvirt migration job started',
         'requester': {'user_name': 'alice'}},
    ]
    m['samples_count'] = 3
    return m


SAMPLES = [
    {'id': i, 'time': f'2024-05-01T12:01:0{i}.000Z', 'elapsed_ms': 500 * i,
     'progress': 10.0 * i, 'data_remaining': 200000000 - 40000000 * i,
     'memory_remaining': 200000000 - 40000000 * i,
     'transfer_rate': 30000000 + i, 'dirty_rate': 1000000 * i,
     'downtime_limit_ms': 50 * (i + 1), 'downtime_ms': 30, 'eta_seconds': 5 - i}
    for i in range(1, 4)
]


def host(name, status='enabled', **extra):
    h = {
        'name': name, 'address': '127.0.0.2', 'hypervisor_uri': f'qemu+tcp://{name}/system',
        'virt_type': 'qemu', 'memory_mb': 7963, 'memory_mb_used': 512,
        'reserved_memory_mb': 512, 'vcpus': 2, 'vcpus_used': 1, 'disk_gb': 50,
        'disk_gb_used': 3, 'status': status, 'status_reason': None,
        'last_heartbeat': '2024-05-01T12:00:03.210Z', 'memory_mb_free': 6939,
        'state': 'up', 'instances': 1, 'memory_mb_capacity': 7451, 'vcpus_capacity': 8,
        'disk_gb_capacity': 50, 'memory_mb_claimed': 256, 'vcpus_claimed': 1,
        'disk_gb_claimed': 0, 'migrations_outbound': 0, 'migrations_inbound': 1,
        'migrations_in_flight': [],
    }
    h.update(extra)
    return h


HOSTS = [host('node1'), host('node2', status='maintenance', status_reason='new DIMMs'),
         host('node3', state='down')]

DRAIN = {
    'id': '0d5a6b1e-1111-4222-8333-444455556666', 'kind': 'drain', 'host': 'node1',
    'mode': 'live', 'status': 'running', 'max_parallel': 2, 'target_hosts': None,
    'origin_id': None, 'conductor': 'conductor1', 'reason': None,
    'created_at': '2024-05-01T12:00:00.000Z', 'updated_at': '2024-05-01T12:00:01.000Z',
    'finished_at': None, 'requester': {'user_name': 'alice'},
    'summary': {'total': 2, 'pending': 0, 'running': 1, 'moved': 0, 'gone': 0,
                'failed': 1, 'cancelled': 0},
    'items': [
        {'instance_uuid': '5f0c7f3e-8a1d-4c39-9d61-0c2f1b8e4a77', 'instance_name': 'guest1',
         'source_host': 'node1', 'target_host': 'node2', 'status': 'running',
         'migration_id': MIGRATION_RUNNING['id'], 'migration_type': 'live', 'attempts': 1,
         'reason': None, 'migration': {'status': 'running', 'progress': 30.0,
                                       'eta_seconds': 3.0}},
        {'instance_uuid': '6f0c7f3e-8a1d-4c39-9d61-0c2f1b8e4a78', 'instance_name': 'big',
         'source_host': 'node1', 'target_host': None, 'status': 'failed',
         'migration_id': None, 'migration_type': None, 'attempts': 1,
         'reason': 'live: no host can take it: node2 has 1024 MiB of memory free',
         'migration': None},
    ],
}

INSTANCES = [
    {'uuid': '5f0c7f3e-8a1d-4c39-9d61-0c2f1b8e4a77', 'name': 'guest1', 'host': 'node1',
     'power_state': 'running', 'memory_mb': 256, 'vcpus': 1, 'disk_gb': 1,
     'migration_id': None, 'created_at': '2024-05-01T11:03:10.412Z',
     'updated_at': '2024-05-01T12:00:03.215Z'},
    {'uuid': '7f0c7f3e-8a1d-4c39-9d61-0c2f1b8e4a79', 'name': 'busy', 'host': 'node2',
     'power_state': 'running', 'memory_mb': 512, 'vcpus': 1, 'disk_gb': 1,
     'migration_id': MIGRATION_RUNNING['id'], 'created_at': '2024-05-01T11:03:10.412Z',
     'updated_at': '2024-05-01T12:00:03.215Z'},
]

CONVERGENCE_DEFAULTS = {'max_downtime_ms': 500, 'downtime_steps': 10, 'bandwidth_mib': 0,
                        'auto_converge': False, 'post_copy': False,
                        'completion_timeout_per_gib': 800, 'timeout_action': 'abort'}


def dry_run(request, instance, target_host=None, migration_type='live'):
    """The scheduler of a three-host cluster where node3 has too little memory."""
    if target_host == 'node3':
        return {'possible': False, 'target_host': None,
                'reason': 'No host can take instance guest1: target node3 refused by '
                          'MemoryFilter: node3 has 128 MiB of memory free, the instance '
                          'needs 256 MiB'}
    return {'possible': True, 'target_host': target_host or 'node2',
            'reason': 'node2 passed all 12 filters', 'convergence': CONVERGENCE_DEFAULTS}

PLAN = {
    'id': '6a1d7c0e-3f55-4f5c-9d7e-0f3b8e2d9c11', 'goal': 'balance', 'status': 'planned',
    'max_moves': 100, 'min_gain': 1e-06, 'score_before': 0.8165, 'score_after': 0.2357,
    'memory_spread_before': 0.0104, 'memory_spread_after': 0.003,
    'vcpu_spread_before': 0.7071, 'vcpu_spread_after': 0.2357, 'predicted_seconds': 4.259,
    'jobsets': 2, 'stop_reason': 'no move of a movable instance to a host with room lowers '
                                 'the score',
    'conductor': 'conductor1', 'error': None, 'created_at': '2024-05-01T12:00:00.000Z',
    'updated_at': '2024-05-01T12:00:00.000Z', 'started_at': None, 'finished_at': None,
    'requester': {'user_name': 'alice'}, 'move_count': 2,
    'moves': [
        {'seq': 1, 'jobset': 0, 'instance_uuid': 'u1', 'instance_name': 'guest-2-1',
         'source_host': 'node1', 'target_host': 'node2', 'memory_mb': 1024, 'vcpus': 1,
         'disk_gb': 1, 'gain': 0.3727, 'score_after': 0.4438, 'predicted_seconds': 2.129,
         'status': 'planned', 'migration_id': None, 'reason': None},
        {'seq': 2, 'jobset': 1, 'instance_uuid': 'u2', 'instance_name': 'guest-2-2',
         'source_host': 'node1', 'target_host': 'node3', 'memory_mb': 512, 'vcpus': 1,
         'disk_gb': 1, 'gain': 0.2081, 'score_after': 0.2357, 'predicted_seconds': 2.13,
         'status': 'planned', 'migration_id': None, 'reason': None},
    ],
}

GROUP = {'id': '8c1d7c0e-3f55-4f5c-9d7e-0f3b8e2d9c11', 'name': 'web',
         'policy': 'anti-affinity', 'members': [INSTANCES[0]['uuid']],
         'created_at': '2024-05-01T12:00:00.000Z'}
