"""Target selection, for now by the simplest correct rule.

A host qualifies when it is up (heartbeat within service_down_time), enabled, not the source,
and has room for the guest's memory after what runs there and what is already on its way
there. Among those the one with the most free memory wins. Filters, weighers and atomic claims
replace this in the scheduler issue.
"""

import datetime

from oslo_config import cfg

from migrator.common import exceptions, states

CONF = cfg.CONF


def is_up(host, now=None):
    now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    heartbeat = host.get('last_heartbeat')
    if heartbeat is None:
        return False
    if heartbeat.tzinfo is not None:
        heartbeat = heartbeat.astimezone(datetime.UTC).replace(tzinfo=None)
    return (now - heartbeat).total_seconds() <= CONF.conductor.service_down_time


def free_memory_mb(host, incoming_mb=0):
    return (host['memory_mb'] - host.get('reserved_memory_mb', 0) - host['memory_mb_used']
            - incoming_mb)


def _incoming_memory(db, host_name, exclude_migration=None):
    """Memory of guests already on their way to host_name, not yet in its report."""
    in_flight = db.migration_list(host=host_name, limit=10_000,
                                  status=sorted(states.ALL - states.TERMINAL))
    total = 0
    for migration in in_flight:
        if migration['target_host'] == host_name and migration['id'] != exclude_migration:
            try:
                total += db.instance_get(migration['instance_uuid'])['memory_mb']
            except exceptions.InstanceNotFound:
                continue
    return total


def refusal(db, host, instance, exclude_migration=None):
    """Why host cannot take instance now, or None when it can."""
    if host['name'] == instance['host']:
        return f"{host['name']} is the source"
    if not is_up(host):
        return f"{host['name']} is down (no heartbeat for {CONF.conductor.service_down_time}s)"
    if host['status'] != 'enabled':
        reason = f": {host['status_reason']}" if host.get('status_reason') else ''
        return f"{host['name']} is {host['status']}{reason}"
    free = free_memory_mb(host, _incoming_memory(db, host['name'], exclude_migration))
    if free < instance['memory_mb']:
        return (f"{host['name']} has {free} MiB of memory free, the instance needs "
                f"{instance['memory_mb']} MiB")
    return None


def select_destination(db, instance, target_host=None, exclude_migration=None):
    """The name of the host instance should move to; raises NoValidHost saying why not."""
    if target_host is not None:
        host = db.host_get(target_host)
        reason = refusal(db, host, instance, exclude_migration)
        if reason:
            raise exceptions.NoValidHost(instance=instance['name'], reason=reason)
        return host['name']
    candidates = []
    reasons = []
    for host in db.host_list():
        reason = refusal(db, host, instance, exclude_migration)
        if reason:
            reasons.append(reason)
        else:
            candidates.append(host)
    if not candidates:
        raise exceptions.NoValidHost(instance=instance['name'],
                                     reason='; '.join(reasons) or 'no hosts are known')
    best = max(candidates, key=lambda h: (free_memory_mb(h), h['name']))
    return best['name']
