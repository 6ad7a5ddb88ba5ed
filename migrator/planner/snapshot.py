"""The cluster snapshot: a JSON document of hosts and instances, for offline planning.

    {"hosts": [{"name": "node1", "memory_mb": 65536, "reserved_memory_mb": 512,
                "vcpus": 16, "disk_gb": 500, "enabled": true}],
     "instances": [{"uuid": "...", "name": "web1", "host": "node1", "memory_mb": 4096,
                    "vcpus": 2, "disk_gb": 20, "movable": true, "group": null,
                    "dirty_rate_bps": null, "shared_disk": true}]}

Required: a host's name, memory_mb and vcpus; an instance's uuid, host, memory_mb and vcpus.
Optional with defaults: reserved_memory_mb 0, disk_gb 0, enabled true; an instance's name
(its uuid), disk_gb 0, movable true, group null (no anti-affinity group), dirty_rate_bps null
(unknown: the configured default), shared_disk true. Unknown fields are ignored, so the
records of GET /v1/hosts and GET /v1/instances can be pasted in as they are.

`parse` raises SnapshotError naming the record and field to fix.
"""

import json

from migrator.planner import model


class SnapshotError(ValueError):
    """The snapshot cannot be planned from; the message says what to fix."""


def _where(kind, position, record):
    name = record.get('name') if kind == 'host' else (record.get('name') or record.get('uuid'))
    label = f' ({name!r})' if isinstance(name, str) and name else ''
    return f'{kind} #{position + 1}{label}'


def _int(record, field, where, required=True, default=0, minimum=0):
    if field not in record or record[field] is None:
        if required:
            raise SnapshotError(f"{where}: missing field '{field}'")
        return default
    value = record[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"{where}: field '{field}' must be an integer, not "
                            f"{json.dumps(value)}")
    if value < minimum:
        raise SnapshotError(f"{where}: field '{field}' must be {minimum} or more, not {value}")
    return value


def _bool(record, field, where, default):
    value = record.get(field, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SnapshotError(f"{where}: field '{field}' must be true or false, not "
                            f"{json.dumps(value)}")
    return value


def _str(record, field, where, required=True):
    value = record.get(field)
    if value is None:
        if required:
            raise SnapshotError(f"{where}: missing field '{field}'")
        return None
    if not isinstance(value, str) or not value:
        raise SnapshotError(f"{where}: field '{field}' must be a non-empty string, not "
                            f"{json.dumps(value)}")
    return value


def _list(document, field):
    value = document.get(field)
    if value is None:
        raise SnapshotError(f"missing field '{field}' at the top level (a list of {field})")
    if not isinstance(value, list):
        raise SnapshotError(f"field '{field}' must be a list, not {type(value).__name__}")
    return value


def parse_host(record, position):
    if not isinstance(record, dict):
        raise SnapshotError(f'host #{position + 1} must be an object')
    where = _where('host', position, record)
    name = _str(record, 'name', where)
    memory_mb = _int(record, 'memory_mb', where)
    reserved = _int(record, 'reserved_memory_mb', where, required=False)
    usable = memory_mb - reserved
    if usable <= 0:
        raise SnapshotError(f'{where}: no memory for guests (memory_mb {memory_mb} less '
                            f'reserved_memory_mb {reserved}); give its real capacity or leave '
                            f'it out')
    vcpus = _int(record, 'vcpus', where, minimum=1)
    return model.Host(name=name, memory_mb=usable, vcpus=vcpus,
                      disk_gb=_int(record, 'disk_gb', where, required=False),
                      enabled=_bool(record, 'enabled', where, True))


def parse_instance(record, position, host_names):
    if not isinstance(record, dict):
        raise SnapshotError(f'instance #{position + 1} must be an object')
    where = _where('instance', position, record)
    uuid = _str(record, 'uuid', where)
    host = _str(record, 'host', where)
    if host not in host_names:
        raise SnapshotError(f"{where}: host {host!r} is not one of the snapshot's hosts")
    dirty = record.get('dirty_rate_bps')
    if dirty is not None and (isinstance(dirty, bool) or not isinstance(dirty, (int, float))
                              or dirty < 0):
        raise SnapshotError(f"{where}: field 'dirty_rate_bps' must be a number of bytes per "
                            f"second (0 or more) or null, not {json.dumps(dirty)}")
    return model.Instance(
        uuid=uuid, name=_str(record, 'name', where, required=False) or uuid, host=host,
        memory_mb=_int(record, 'memory_mb', where), vcpus=_int(record, 'vcpus', where),
        disk_gb=_int(record, 'disk_gb', where, required=False),
        movable=_bool(record, 'movable', where, True),
        group=_str(record, 'group', where, required=False),
        dirty_rate_bps=float(dirty) if dirty is not None else None,
        shared_disk=_bool(record, 'shared_disk', where, True))


def parse(document):
    """The model.Cluster of a decoded snapshot document."""
    if not isinstance(document, dict):
        raise SnapshotError('the snapshot must be a JSON object with "hosts" and "instances"')
    hosts = [parse_host(r, i) for i, r in enumerate(_list(document, 'hosts'))]
    if not hosts:
        raise SnapshotError('the snapshot has no hosts')
    names = set()
    for host in hosts:
        if host.name in names:
            raise SnapshotError(f'host {host.name!r} appears twice')
        names.add(host.name)
    instances = [parse_instance(r, i, names)
                 for i, r in enumerate(_list(document, 'instances'))]
    seen = set()
    for inst in instances:
        if inst.uuid in seen:
            raise SnapshotError(f'instance {inst.uuid!r} appears twice')
        seen.add(inst.uuid)
    return model.Cluster(hosts, instances)


def load(path):
    """The model.Cluster of the snapshot file at path."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError as exc:
        raise SnapshotError(f'cannot read the snapshot {path}: {exc.strerror}') from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SnapshotError(f'{path} is not valid JSON: {exc}') from None
    return parse(document)


def document(hosts, instances, up, dirty_rates=None):
    """A snapshot document from host and instance records (of the DB or of the REST API).

    up: {host name: bool} whether its agent reports. A host takes guests when up and
    `enabled`; hosts that never reported capacity are left out with their instances. An
    instance moves when it runs, has no migration in flight and its host is up.
    dirty_rates: {instance uuid: bytes/s last observed}.
    """
    dirty_rates = dirty_rates or {}
    host_docs = []
    for h in hosts:
        if (h.get('memory_mb') or 0) - (h.get('reserved_memory_mb') or 0) <= 0 or not h.get(
                'vcpus'):
            continue
        host_docs.append({
            'name': h['name'], 'memory_mb': h['memory_mb'],
            'reserved_memory_mb': h.get('reserved_memory_mb') or 0, 'vcpus': h['vcpus'],
            'disk_gb': h.get('disk_gb') or 0,
            'enabled': bool(up.get(h['name'])) and h.get('status', 'enabled') == 'enabled'})
    names = {h['name'] for h in host_docs}
    instance_docs = []
    for i in instances:
        if i.get('host') not in names:
            continue
        instance_docs.append({
            'uuid': i['uuid'], 'name': i.get('name') or i['uuid'], 'host': i['host'],
            'memory_mb': i.get('memory_mb') or 0, 'vcpus': i.get('vcpus') or 0,
            'disk_gb': i.get('disk_gb') or 0,
            'movable': (i.get('power_state') == 'running' and not i.get('migration_id')
                        and bool(up.get(i['host']))),
            'group': None, 'dirty_rate_bps': dirty_rates.get(i['uuid']), 'shared_disk': True})
    return {'hosts': host_docs, 'instances': instance_docs}
