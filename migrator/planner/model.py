"""The cluster as the planner sees it: hosts with capacity, instances with size and host.

Capacities and sizes are integers in the units the service stores (MiB of memory, vCPUs,
GiB of disk). A host that is not `enabled` (down, disabled, in maintenance) takes no new
guests but still counts in the score; an instance that is not `movable` (not running, a
migration in flight, its host down) stays where it is but still uses its host.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Host:
    name: str
    memory_mb: int          # usable by guests: physical memory less what is reserved
    vcpus: int
    disk_gb: int = 0
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class Instance:
    uuid: str
    name: str
    host: str
    memory_mb: int
    vcpus: int
    disk_gb: int = 0
    movable: bool = True
    # Instances of one anti-affinity group should run on different hosts.
    group: str | None = None
    # Bytes per second the guest dirties, as last observed; None: not known.
    dirty_rate_bps: float | None = None
    # Disks on storage both hosts see need no copy; local disks are copied (block migration).
    shared_disk: bool = True


@dataclasses.dataclass
class Cluster:
    hosts: list
    instances: list

    def host_names(self):
        return [h.name for h in self.hosts]
