"""Versioned notifications over oslo.messaging, in the manner of Nova's.

Every notification's payload is a versioned object:

    {"migrator_object.name": "MigrationPayload", "migrator_object.namespace": "migrator",
     "migrator_object.version": "1.0", "migrator_object.data": {...}}

A payload's version goes up (minor: a field added; major: a field changed or removed)
with every change of its fields; doc/notification_samples/ holds a sample of each event,
checked by tests/unit/common/test_notifications.py.

Events (event_type):
  migration.create, migration.start, migration.progress (at most one per
  [notifications] progress_interval per migration), migration.end (with the outcome),
  migration.abort, migration.force_complete;
  host.drain.start, host.drain.end, host.undrain.start, host.undrain.end;
  plan.create, plan.apply.start, plan.apply.end.

Most are sent from what the database records (install() observes the Database), so a
migration that ends by any path (its task, the recovery after a restart, an abort before it
started) sends its migration.end once, from the process that recorded it. Notifications are
sent only when [oslo_messaging_notifications] driver is set; a notification that cannot be
sent is logged, never allowed to fail the work it describes.
"""

import threading
import time

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_log import log as logging
from oslo_messaging import opts as messaging_opts

from migrator.common import figures, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

NAMESPACE = 'migrator'

# name -> version of each payload; bump with every change of its fields.
PAYLOAD_VERSIONS = {
    'MigrationPayload': '1.0',
    'HostDrainPayload': '1.0',
    'PlanPayload': '1.0',
}

MIGRATION_EVENTS = ('migration.create', 'migration.start', 'migration.progress',
                    'migration.end', 'migration.abort', 'migration.force_complete')
DRAIN_EVENTS = ('host.drain.start', 'host.drain.end', 'host.undrain.start',
                'host.undrain.end')
PLAN_EVENTS = ('plan.create', 'plan.apply.start', 'plan.apply.end')

_DRAIN_TERMINAL = frozenset({'completed', 'partial', 'cancelled', 'failed'})
_PLAN_TERMINAL = frozenset({'applied', 'partial', 'failed'})

_lock = threading.Lock()
_notifiers: dict[str, messaging.Notifier] = {}


def register_opts(conf):
    """oslo.messaging's [oslo_messaging_notifications] (driver, topics, transport_url),
    registered up front so tests and services can set them before the first notification."""
    for group, opts in messaging_opts.list_opts():
        if group == 'oslo_messaging_notifications':
            conf.register_opts(opts, group=group)


register_opts(CONF)


class _NotConfigured(Exception):
    """No notification driver: nothing is sent, and no transport is made."""


def _publisher():
    return f'migrator:{CONF.host}'


def get_notifier():
    """The process's Notifier (None when no driver is configured)."""
    with _lock:
        if 'notifier' not in _notifiers:
            notifier = None
            drivers = [d for d in CONF.oslo_messaging_notifications.driver if d != 'noop']
            try:
                if not drivers:
                    raise _NotConfigured()
                transport = messaging.get_notification_transport(CONF)
                notifier = messaging.Notifier(
                    transport, publisher_id=_publisher(),
                    topics=CONF.notifications.versioned_notifications_topics)
            except _NotConfigured:
                pass
            except Exception:
                LOG.exception('Notifications are off: the notification transport could not '
                              'be set up ([oslo_messaging_notifications] transport_url)')
            _notifiers['notifier'] = notifier
        return _notifiers['notifier']


def reset():
    """Forgets the notifier (tests, and a service that re-reads its configuration)."""
    with _lock:
        notifier = _notifiers.pop('notifier', None)
        _throttle.clear()
    if notifier is not None:
        try:
            notifier.transport.cleanup()
        except Exception:
            LOG.debug('Notification transport cleanup failed', exc_info=True)


def versioned(name, data):
    return {'migrator_object.name': name, 'migrator_object.namespace': NAMESPACE,
            'migrator_object.version': PAYLOAD_VERSIONS[name], 'migrator_object.data': data}


def requester(ctxt=None, record=None):
    """Who asked: the requester recorded with the resource when there is one, else the
    request context of the thread (the API request, the RPC call, the task)."""
    record = record or {}
    ctxt = ctxt if ctxt is not None else oslo_context.get_current()
    stored = record.get('requester') if isinstance(record.get('requester'), dict) else {}

    def pick(name):
        for source in (stored, record):
            if source.get(name) is not None:
                return source[name]
        return getattr(ctxt, name, None) if ctxt is not None else None

    # The request id recorded with the resource is the API request that asked for it; the
    # thread's own is the fallback (a record from before requesters were kept).
    return {'user_id': pick('user_id'), 'project_id': pick('project_id'),
            'request_id': pick('request_id')}


def _time(value):
    if value is None or isinstance(value, str):
        return value
    return value.isoformat(timespec='milliseconds') + 'Z'


def migration_payload(migration, ctxt=None, outcome=None, reason=None, forced=None):
    duration = (figures.duration_seconds(migration)
                if migration.get('started_at') is not None else None)
    downtime = migration.get('downtime_ms')
    return versioned('MigrationPayload', {
        'id': migration['id'],
        'instance': {'uuid': migration.get('instance_uuid'),
                     'name': migration.get('instance_name')},
        'source_host': migration.get('source_host'),
        'target_host': migration.get('target_host'),
        'requested_target': migration.get('requested_target'),
        'type': migration.get('type'),
        'block_migration': migration.get('block_migration'),
        'status': migration.get('status'),
        'outcome': outcome,
        'reason': reason if reason is not None else migration.get('error'),
        'forced': forced,
        'requester': requester(ctxt, migration),
        'conductor': migration.get('conductor'),
        'progress': migration.get('progress'),
        'figures': {
            'duration_seconds': duration,
            'downtime_ms': downtime,
            'bytes_transferred': figures.bytes_transferred(migration),
            'memory_total': migration.get('memory_total'),
            'disk_total': migration.get('disk_total'),
            'iteration': migration.get('iteration'),
        },
        'created_at': _time(migration.get('created_at')),
        'started_at': _time(migration.get('started_at')),
        'finished_at': _time(migration.get('finished_at')),
    })


def drain_payload(drain, ctxt=None):
    items = drain.get('items') or []
    summary: dict[str, int] = {}
    for item in items:
        summary[item['status']] = summary.get(item['status'], 0) + 1
    return versioned('HostDrainPayload', {
        'id': drain.get('id'),
        'kind': drain.get('kind'),
        'host': drain.get('host'),
        'mode': drain.get('mode'),
        'status': drain.get('status'),
        'max_parallel': drain.get('max_parallel'),
        'target_hosts': drain.get('target_hosts'),
        'reason': drain.get('reason'),
        'requester': requester(ctxt, drain),
        'guests': len(items),
        'summary': summary,
        'created_at': _time(drain.get('created_at')),
        'finished_at': _time(drain.get('finished_at')),
    })


def plan_payload(plan, ctxt=None):
    moves = plan.get('moves') or []
    return versioned('PlanPayload', {
        'id': plan.get('id'),
        'goal': plan.get('goal'),
        'status': plan.get('status'),
        'moves': len(moves),
        'moves_completed': sum(1 for m in moves if m.get('status') == 'completed'),
        'jobsets': plan.get('jobsets'),
        'score_before': plan.get('score_before'),
        'score_after': plan.get('score_after'),
        'predicted_seconds': plan.get('predicted_seconds'),
        'error': plan.get('error'),
        'requester': requester(ctxt, plan),
        'created_at': _time(plan.get('created_at')),
        'started_at': _time(plan.get('started_at')),
        'finished_at': _time(plan.get('finished_at')),
    })


def send(event_type, payload, ctxt=None, priority='info'):
    """Sends one notification; never raises."""
    notifier = get_notifier()
    if notifier is None:
        return False
    ctxt = ctxt if ctxt is not None else oslo_context.get_current()
    context_dict = ctxt.to_dict() if ctxt is not None else {}
    try:
        getattr(notifier, priority)(context_dict, event_type, payload)
    except Exception:
        LOG.exception('Could not send notification %s', event_type)
        return False
    return True


# -- the events --------------------------------------------------------------------------

def migration_event(event_type, migration, ctxt=None, **fields):
    priority = 'error' if fields.get('outcome') in (states.FAILED, states.ERROR) else 'info'
    return send(event_type, migration_payload(migration, ctxt, **fields), ctxt, priority)


class _Throttle:
    """Remembers when each migration last sent its progress."""

    def __init__(self):
        self._sent = {}
        self._lock = threading.Lock()

    def allow(self, migration_id, interval, now=None):
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._sent.get(migration_id)
            if last is not None and now - last < interval:
                return False
            self._sent[migration_id] = now
            return True

    def forget(self, migration_id):
        with self._lock:
            self._sent.pop(migration_id, None)

    def clear(self):
        with self._lock:
            self._sent.clear()


_throttle = _Throttle()


def migration_progress(migration, ctxt=None):
    """migration.progress, at most once per [notifications] progress_interval."""
    interval = CONF.notifications.progress_interval
    if interval <= 0 or get_notifier() is None:
        return False
    if not _throttle.allow(migration['id'], interval):
        return False
    return migration_event('migration.progress', migration, ctxt)


def undrain(host_name, phase, return_job=None, ctxt=None):
    """host.undrain.start|end of an undrain (the API's; the end of a return job comes from
    the DB observer)."""
    job = return_job or {'id': None, 'kind': 'undrain', 'host': host_name, 'mode': None,
                         'status': 'completed' if phase == 'end' else 'accepted'}
    return send(f'host.undrain.{phase}', drain_payload(job, ctxt), ctxt)


def on_change(change):
    """The DB observer: the events that follow from what was recorded."""
    if change.conflict or change.record is None:
        return
    record = change.record
    status = record.get('status')
    if change.resource == 'migration':
        if change.action == 'migration_create':
            migration_event('migration.create', record)
        elif status == states.PREPARING:
            migration_event('migration.start', record)
        elif status in states.TERMINAL:
            _throttle.forget(record['id'])
            migration_event('migration.end', record, outcome=status)
    elif change.resource == 'drain':
        kind = record.get('kind')
        if change.action == 'drain_create':
            return
        if kind == 'drain' and status == 'running':
            send('host.drain.start', drain_payload(record))
        elif status in _DRAIN_TERMINAL:
            prefix = 'host.drain' if kind == 'drain' else 'host.undrain'
            send(f'{prefix}.end', drain_payload(record))
    elif change.resource == 'plan':
        if change.action == 'plan_create':
            send('plan.create', plan_payload(record))
        elif status == 'applying':
            send('plan.apply.start', plan_payload(record))
        elif status in _PLAN_TERMINAL:
            send('plan.apply.end', plan_payload(record))


def install(db):
    """Sends the notifications that follow from `db`'s changes (once per Database)."""
    if hasattr(db, 'add_observer'):  # test doubles of the DB may not observe
        db.add_observer(on_change, key='notifications')
