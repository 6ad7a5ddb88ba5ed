"""What a decision needs to know about the guest and its migration, gathered once."""

import dataclasses

from migrator.common import kinds


@dataclasses.dataclass
class RequestSpec:
    instance_uuid: str
    instance_name: str
    source_host: str
    migration_type: str = 'live'
    memory_mb: int = 0
    vcpus: int = 0
    disk_gb: int = 0
    cpu_model: str | None = None
    # The disks are copied (cold, or block live migration): the target needs disk room.
    copies_disks: bool = False
    # The server group of the instance, if any: policy and the hosts its other members run
    # on or are on their way to.
    group_name: str | None = None
    group_policy: str | None = None
    group_hosts: frozenset = frozenset()
    # Filled per decision by the scheduler.
    source: object = None          # the source's HostState, if known
    heartbeat_after: object = None  # a host whose last heartbeat is older is down

    @classmethod
    def from_instance(cls, instance, migration_type='live', block_migration=None, group=None,
                      in_flight_targets=None):
        spec = cls(instance_uuid=instance['uuid'], instance_name=instance.get('name') or
                   instance['uuid'], source_host=instance.get('host'),
                   migration_type=migration_type,
                   memory_mb=int(instance.get('memory_mb') or 0),
                   vcpus=int(instance.get('vcpus') or 0),
                   disk_gb=int(instance.get('disk_gb') or 0),
                   cpu_model=instance.get('cpu_model'),
                   copies_disks=(kinds.get(migration_type).copies_disks
                                 or bool(block_migration)))
        if group is not None:
            hosts = {h for h in group['member_hosts'].values() if h}
            # A member on its way somewhere will be there: count both ends while in flight.
            hosts.update((in_flight_targets or {}).values())
            spec.group_name = group['name']
            spec.group_policy = group['policy']
            spec.group_hosts = frozenset(hosts)
        return spec
