"""The convergence controls of a live migration: what a request may set, and their defaults.

A live migration whose guest dirties memory faster than it can be sent never finishes on its
own. These controls make it finish (or give up) and are settled once, when the migration is
accepted: the request's fields over the `[libvirt] live_migration_*` defaults. The result is
recorded on the migration (`convergence` in the API) and handed to the source agent, which
applies it to the libvirt job and watches the job with it.
"""

import math
from collections.abc import Mapping
from typing import Any

from oslo_config import cfg

from migrator.common import payloads

CONF = cfg.CONF

TIMEOUT_ACTIONS = ('abort', 'force_complete')

# Request field -> the [libvirt] option that gives its default.
FIELDS = {
    'max_downtime_ms': 'live_migration_downtime',
    'downtime_steps': 'live_migration_downtime_steps',
    'bandwidth_mib': 'live_migration_bandwidth',
    'auto_converge': 'live_migration_permit_auto_converge',
    'post_copy': 'live_migration_permit_post_copy',
    'completion_timeout_per_gib': 'live_migration_completion_timeout',
    'timeout_action': 'live_migration_timeout_action',
}

# libvirt's version number of QEMU 9.0.0, the first QEMU whose TCG dirty-page tracking is
# coherent with the migration's bitmap sync (see live_migration_downtime_stepping).
TCG_COHERENT_QEMU = 9_000_000

INTEGER_FIELDS = ('max_downtime_ms', 'downtime_steps', 'bandwidth_mib',
                  'completion_timeout_per_gib')


def requested(body: Mapping[str, Any]) -> dict[str, Any]:
    """The control fields a request body sets (not None), by name."""
    return {name: body[name] for name in FIELDS if body.get(name) is not None}


def effective(body: Mapping[str, Any]) -> payloads.MigrationControls:
    """The settings a live migration runs with: the request's fields over the defaults."""
    settings = {name: getattr(CONF.libvirt, option) for name, option in FIELDS.items()}
    settings.update(requested(body))
    for name in INTEGER_FIELDS:
        settings[name] = int(settings[name])    # JSON's 500.0 is an integer too
    return payloads.MigrationControls(
        max_downtime_ms=settings['max_downtime_ms'],
        downtime_steps=settings['downtime_steps'],
        bandwidth_mib=settings['bandwidth_mib'],
        auto_converge=settings['auto_converge'],
        post_copy=settings['post_copy'],
        completion_timeout_per_gib=settings['completion_timeout_per_gib'],
        timeout_action=settings['timeout_action'])


def downtime_steps(max_downtime_ms, steps):
    """The allowed downtimes, lowest first: max/steps, 2*max/steps, ... max.

    The job starts at the first; every memory iteration that ends without converging moves it
    one step up, so a guest that converges easily is paused only briefly and a busy one gets
    a longer pause only once shorter ones failed.
    """
    steps = max(1, int(steps))
    return [max(1, math.ceil(max_downtime_ms * i / steps)) for i in range(1, steps + 1)]


def completion_timeout(per_gib, data_bytes):
    """Seconds the job may run for data_bytes of memory (and copied disks); None: no limit."""
    if not per_gib or not data_bytes:
        return None
    return per_gib * data_bytes / 2 ** 30


def stepping_safe(virt_type: str | None, hypervisor_version: int | None) -> bool:
    """Whether a job on a hypervisor of this type and QEMU version may have its allowed
    downtime changed while it runs, by `[libvirt] live_migration_downtime_stepping`.
    An unknown version (0: the host has not reported) of a TCG host counts as old."""
    setting = CONF.libvirt.live_migration_downtime_stepping
    if setting != 'auto':
        return setting == 'always'
    return not (virt_type == 'qemu' and (hypervisor_version or 0) < TCG_COHERENT_QEMU)


def for_source(controls: payloads.MigrationControls | None,
               source: Mapping[str, Any]) -> payloads.MigrationControls | None:
    """`controls` as a job on the `source` host record runs them: one downtime step, set
    before the job starts, where stepping it mid-job is not safe on that hypervisor."""
    if controls is None or controls['downtime_steps'] <= 1:
        return controls
    if stepping_safe(source.get('virt_type'), source.get('hypervisor_version')):
        return controls
    return payloads.MigrationControls(**{**controls, 'downtime_steps': 1})
