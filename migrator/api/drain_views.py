"""The JSON shape of a drain job (a drain, or an undrain's return of guests)."""

from migrator.api.views import isotime, requester
from migrator.common import states

DRAIN_FIELDS = (
    'id', 'kind', 'host', 'mode', 'status', 'max_parallel', 'target_hosts', 'origin_id',
    'conductor', 'reason', 'created_at', 'updated_at', 'finished_at',
)
ITEM_FIELDS = (
    'instance_uuid', 'instance_name', 'source_host', 'target_host', 'status', 'migration_id',
    'migration_type', 'attempts', 'reason', 'started_at', 'finished_at',
)


def _item(record):
    view = {f: isotime(record.get(f)) for f in ITEM_FIELDS}
    if record.get('migration_status') is None:
        view['migration'] = None
    else:
        view['migration'] = {'status': record['migration_status'],
                             'progress': record.get('migration_progress'),
                             'eta_seconds': record.get('migration_eta_seconds')}
    return view


def drain(record):
    view = {f: isotime(record.get(f)) for f in DRAIN_FIELDS}
    view['requester'] = requester(record)
    items = record.get('items') or []
    summary = {'total': len(items)}
    summary.update({state: 0 for state in states.DRAIN_ITEM_STATES})
    for item in items:
        summary[item['status']] = summary.get(item['status'], 0) + 1
    view['summary'] = summary
    view['items'] = [_item(i) for i in items]
    return view
