"""A move's predicted duration, from the guest's memory, disks and dirty rate.

Pre-copy live migration sends all of memory once, then again what the guest dirtied while
the previous pass was on the wire, until what is left fits in the allowed downtime. With
bandwidth B and dirty rate D, pass k sends M * (D/B)^k, so the passes shrink geometrically
when D < B; when they do not shrink fast enough the job is cut at max_iterations (libvirt
would go on; auto-converge or post-copy are an operator's call). Disks that are not on
shared storage are copied first, at the same bandwidth. A fixed overhead covers starting
the target's QEMU and the hand-over.
"""

import dataclasses

MIB = 2 ** 20
GIB = 2 ** 30


@dataclasses.dataclass(frozen=True)
class DurationModel:
    bandwidth_bps: float = 1000.0 * MIB
    default_dirty_rate_bps: float = 8.0 * MIB
    overhead_seconds: float = 2.0
    max_downtime_seconds: float = 0.3
    max_iterations: int = 30


def predict(instance, model=DurationModel()):
    """Seconds a live migration of instance (model.Instance) is expected to take."""
    bandwidth = model.bandwidth_bps
    dirty = (instance.dirty_rate_bps if instance.dirty_rate_bps is not None
             else model.default_dirty_rate_bps)
    seconds = model.overhead_seconds
    if not instance.shared_disk:
        seconds += instance.disk_gb * GIB / bandwidth
    remaining = float(instance.memory_mb * MIB)
    stop_at = bandwidth * model.max_downtime_seconds
    for _ in range(model.max_iterations):
        pass_seconds = remaining / bandwidth
        seconds += pass_seconds
        # What the guest dirtied meanwhile, but never more than its memory.
        remaining = min(dirty * pass_seconds, instance.memory_mb * MIB)
        if remaining <= stop_at:
            break
    return round(seconds + remaining / bandwidth, 3)
