"""The JSON shapes of the API's resources, built from the DB API's plain dicts.

Fields are listed explicitly, so a new DB column does not leak into the API by accident.
Timestamps are ISO 8601 UTC with millisecond precision and a Z (2024-05-01T12:00:00.125Z).
"""

import datetime
import json

from oslo_config import cfg

from migrator.api import microversion
from migrator.common import figures

CONF = cfg.CONF

HOST_FIELDS = (
    'name', 'address', 'hypervisor_uri', 'virt_type', 'hypervisor_version', 'cpu_model',
    'memory_mb', 'memory_mb_used', 'reserved_memory_mb', 'vcpus', 'vcpus_used', 'disk_gb',
    'disk_gb_used', 'status', 'status_reason', 'last_heartbeat', 'created_at', 'updated_at',
)

INSTANCE_FIELDS = (
    'uuid', 'name', 'host', 'power_state', 'memory_mb', 'vcpus', 'disk_gb', 'cpu_model',
    'migration_id',
    'created_at', 'updated_at',
)

MIGRATION_FIELDS = (
    'id', 'instance_uuid', 'instance_name', 'type', 'block_migration', 'status',
    'source_host', 'target_host', 'requested_target', 'conductor', 'priority', 'error',
    'progress',
    'memory_total', 'memory_processed', 'memory_remaining', 'disk_total', 'disk_processed',
    'disk_remaining', 'dirty_rate', 'iteration', 'downtime_ms', 'eta_seconds', 'created_at',
    'updated_at', 'started_at', 'finished_at', 'memory_progress', 'disk_progress',
    'data_total', 'data_processed', 'data_remaining', 'transfer_rate', 'downtime_limit_ms',
    'convergence',
)

SAMPLE_FIELDS = (
    'id', 'time', 'elapsed_ms', 'progress', 'memory_progress', 'disk_progress',
    'memory_total', 'memory_processed', 'memory_remaining', 'disk_total', 'disk_processed',
    'disk_remaining', 'data_total', 'data_processed', 'data_remaining', 'dirty_rate',
    'transfer_rate', 'iteration', 'downtime_ms', 'downtime_limit_ms', 'eta_seconds',
)

EVENT_FIELDS = ('time', 'from_state', 'to_state', 'detail')

# Who asked for a migration, drain or plan, or on whose request an event happened: user,
# project, this API's request id and the caller's global request id. All null for what the
# services did on their own (settling migrations after a restart).
REQUESTER_FIELDS = ('user_id', 'user_name', 'project_id', 'project_name', 'request_id',
                    'global_request_id')


def utc_naive(value):
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def isotime(value):
    if isinstance(value, datetime.datetime):
        return utc_naive(value).isoformat(timespec='milliseconds') + 'Z'
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _pick(record, fields):
    return {field: isotime(record.get(field)) for field in fields}


def _utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _up_or_down(last_heartbeat, now, down_time):
    if not isinstance(last_heartbeat, datetime.datetime):
        return 'down'
    age = (now - utc_naive(last_heartbeat)).total_seconds()
    return 'up' if age <= down_time else 'down'


def host_state(last_heartbeat, now=None):
    """'up' when the host's agent reported within [conductor] service_down_time seconds."""
    return _up_or_down(last_heartbeat, now or _utcnow(), CONF.conductor.service_down_time)


def _cpu_models(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


class HostSettings:
    """What every host document of one response reads from the configuration and the
    request: read once per response, not once per host (a page has up to [api] max_limit
    hosts, and oslo.config look-ups are not free)."""

    def __init__(self, now=None):
        sched = CONF.scheduler
        self.ram_ratio = sched.ram_allocation_ratio
        self.cpu_ratio = sched.cpu_allocation_ratio
        self.disk_ratio = sched.disk_allocation_ratio
        self.reserved_disk_gb = CONF.compute.reserved_host_disk_gb
        self.down_time = CONF.conductor.service_down_time
        self.now = now or _utcnow()
        self.agent_version = microversion.at_least('1.2')


def _scheduling(record, in_flight, settings):
    """What the scheduler sees of a host: capacity after the allocation ratios, claims of
    migrations on their way there, and the migrations in flight from or to it."""
    memory_mb = record.get('memory_mb') or 0
    return {
        'cpu_models': _cpu_models(record.get('cpu_models')),
        'memory_mb_capacity': int(memory_mb * settings.ram_ratio
                                  - (record.get('reserved_memory_mb') or 0)),
        'vcpus_capacity': int((record.get('vcpus') or 0) * settings.cpu_ratio),
        'disk_gb_capacity': int((record.get('disk_gb') or 0) * settings.disk_ratio
                                - settings.reserved_disk_gb),
        'memory_mb_claimed': record.get('claimed_memory_mb') or 0,
        'vcpus_claimed': record.get('claimed_vcpus') or 0,
        'disk_gb_claimed': record.get('claimed_disk_gb') or 0,
        'migrations_inbound': record.get('inbound_migrations') or 0,
        'migrations_outbound': record.get('outbound_migrations') or 0,
        'migrations_in_flight': sorted(in_flight or ()),
    }


def requester(record):
    return {field: record.get(field) for field in REQUESTER_FIELDS}


def _event(record):
    view = _pick(record, EVENT_FIELDS)
    view['requester'] = requester(record)
    return view


def host(record, instances, in_flight=None, now=None, settings=None):
    """A host's document; `settings` (a HostSettings) when several are made at once."""
    settings = settings or HostSettings(now)
    view = _pick(record, HOST_FIELDS)
    memory_mb = record.get('memory_mb')
    if memory_mb is None:
        view['memory_mb_free'] = None
    else:
        view['memory_mb_free'] = (memory_mb - (record.get('reserved_memory_mb') or 0)
                                  - (record.get('memory_mb_used') or 0))
    view['state'] = _up_or_down(record.get('last_heartbeat'), settings.now,
                                settings.down_time)
    if settings.agent_version:
        view['agent_version'] = record.get('agent_version')
    view['instances'] = instances
    view.update(_scheduling(record, in_flight, settings))
    return view


def hosts(entries, now=None):
    """The documents of [(host row, instance count, [migration ids in flight])]."""
    settings = HostSettings(now)
    return [host(record, count, in_flight, settings=settings)
            for record, count, in_flight in entries]


def instance(record):
    return _pick(record, INSTANCE_FIELDS)


CONDUCTOR_FIELDS = ('name', 'incarnation', 'machine', 'pid', 'version', 'started_at',
                    'stopped_at')


def conductor_state(record, now=None):
    """'stopped' after a clean stop; else 'alive' while its heartbeat is at most
    [conductor] takeover_after seconds old, 'dead' after that (its work is adopted)."""
    if record.get('stopped_at') is not None:
        return 'stopped'
    beat = record.get('heartbeat_at')
    if not isinstance(beat, datetime.datetime):
        return 'dead'
    now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    age = (now - utc_naive(beat)).total_seconds()
    return 'alive' if age <= CONF.conductor.takeover_after else 'dead'


def conductor(record, now=None):
    now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    view = _pick(record, CONDUCTOR_FIELDS)
    beat = record.get('heartbeat_at')
    view['last_heartbeat'] = isotime(beat)
    view['heartbeat_age_seconds'] = (
        round(max(0.0, (now - utc_naive(beat)).total_seconds()), 1)
        if isinstance(beat, datetime.datetime) else None)
    view['state'] = conductor_state(record, now)
    return view


def server_group(record):
    return {'id': record['id'], 'name': record['name'], 'policy': record['policy'],
            'members': list(record.get('members') or ()),
            'created_at': isotime(record.get('created_at'))}


_NOT_SHOWN = object()


def migration(record, with_events=True, samples_count=None, convergence_verdict=_NOT_SHOWN):
    """convergence_verdict: the stall diagnosis (migrator.common.stall) of a migration shown
    alone, from 1.5."""
    view = _pick(record, MIGRATION_FIELDS)
    view['requester'] = requester(record)
    if microversion.at_least('1.1'):
        view['duration_seconds'] = figures.duration_seconds(record)
        view['bytes_transferred'] = figures.bytes_transferred(record)
    if with_events:
        view['events'] = [_event(event) for event in record.get('events') or ()]
    if samples_count is not None:
        view['samples_count'] = samples_count
    if convergence_verdict is not _NOT_SHOWN and \
            microversion.at_least(microversion.CONVERGENCE_SINCE):
        view['convergence_verdict'] = convergence_verdict
    return view


def dry_run(answer):
    """The conductor's dry-run answer; the convergence forecast from 1.5."""
    view = dict(answer)
    if not microversion.at_least(microversion.CONVERGENCE_SINCE):
        view.pop('forecast', None)
    elif view.get('forecast'):
        view['forecast'] = _forecast(view['forecast'])
    return view


def _forecast(forecast):
    """A forecast as the request's microversion shows it."""
    forecast = dict(forecast)
    cautious = forecast.pop('cautious', None)
    hidden = set()
    if not microversion.at_least(microversion.FORECAST_OVERHEAD_SINCE):
        hidden.update(FORECAST_OVERHEAD_FIELDS)
    if not microversion.at_least(microversion.EFFECTIVE_RATE_SINCE):
        hidden.update(FORECAST_EFFECTIVE_FIELDS)
    if microversion.at_least(microversion.WRITE_BURSTS_SINCE):
        forecast['figures'] = {**dict.fromkeys(FORECAST_BURST_FIELDS),
                               **forecast.get('figures', {})}
    else:
        hidden.update(FORECAST_BURST_FIELDS)
    if microversion.at_least(microversion.LIKELIEST_VERDICT_SINCE):
        forecast['figures'] = {**dict.fromkeys(FORECAST_SHAPE_FIELDS),
                               **forecast.get('figures', {})}
        if forecast.get('borderline') and 'verdict_at_high' not in forecast:
            # A conductor of the release before (a rolling upgrade) answered the high end.
            forecast['verdict_at_high'] = forecast['verdict']
    else:
        hidden.update(FORECAST_SHAPE_FIELDS)
        if cautious:
            # Before 1.10 a borderline forecast is the one at the high end.
            forecast.update(cautious)
        forecast.pop('verdict_at_high', None)
    if not microversion.at_least(microversion.BORDERLINE_SINCE):
        hidden.update(FORECAST_INTERVAL_FIELDS)
        forecast = {k: v for k, v in forecast.items() if k not in FORECAST_BORDERLINE_FIELDS}
    else:
        # A conductor of an earlier release judged no interval.
        forecast = {'borderline': False, 'verdict_at_low': None, 'borderline_note': None,
                    **({'verdict_at_high': None} if microversion.at_least(
                        microversion.LIKELIEST_VERDICT_SINCE) else {}),
                    **forecast}
        forecast['figures'] = {**dict.fromkeys(FORECAST_INTERVAL_FIELDS),
                               **forecast.get('figures', {})}
    if hidden:
        forecast['figures'] = {k: v for k, v in forecast.get('figures', {}).items()
                               if k not in hidden}
    return forecast


# Added to a forecast's figures in microversion 1.7.
FORECAST_OVERHEAD_FIELDS = ('overhead_source', 'overhead_note')
# Added to a forecast's figures in microversion 1.8.
FORECAST_EFFECTIVE_FIELDS = ('effective_bandwidth', 'effective_bandwidth_source',
                             'effective_bandwidth_note')
# Added in microversion 1.9: to a forecast, and to its figures; verdict_at_high in 1.10.
FORECAST_BORDERLINE_FIELDS = ('borderline', 'verdict_at_low', 'verdict_at_high',
                              'borderline_note')
FORECAST_INTERVAL_FIELDS = ('dirty_rate_low', 'dirty_rate_high')
# Added to a forecast's figures in microversion 1.10.
FORECAST_SHAPE_FIELDS = ('working_set_source', 'vcpu_busy')
# Added to a forecast's figures in microversion 1.11.
FORECAST_BURST_FIELDS = ('writes_in_bursts',)


OBSERVATION_FIELDS = (
    'id', 'migration_id', 'time', 'source_host', 'target_host', 'memory_bytes', 'dirty_rate',
    'transfer_rate', 'working_set_bytes', 'iterations', 'duration_seconds', 'downtime_ms',
    'bandwidth_mib',
)


def observation(record):
    view = _pick(record, OBSERVATION_FIELDS)
    if microversion.at_least(microversion.FORECAST_OVERHEAD_SINCE):
        view['overhead_seconds'] = record.get('overhead_seconds')
    if microversion.at_least(microversion.EFFECTIVE_RATE_SINCE):
        view['effective_rate'] = record.get('effective_rate')
    return view


def sample(record):
    return _pick(record, SAMPLE_FIELDS)


PLAN_FIELDS = (
    'id', 'goal', 'status', 'max_moves', 'min_gain', 'score_before', 'score_after',
    'memory_spread_before', 'memory_spread_after', 'vcpu_spread_before', 'vcpu_spread_after',
    'predicted_seconds', 'jobsets', 'stop_reason', 'conductor', 'error', 'created_at',
    'updated_at', 'started_at', 'finished_at',
)

MOVE_FIELDS = (
    'seq', 'jobset', 'instance_uuid', 'instance_name', 'source_host', 'target_host',
    'memory_mb', 'vcpus', 'disk_gb', 'gain', 'score_after', 'predicted_seconds', 'status',
    'migration_id', 'reason', 'started_at', 'finished_at',
)


# Added in microversion 1.4.
PLAN_REMAINING_FIELDS = ('truncated', 'remaining_gain', 'remaining_moves')


def plan(record, with_moves=True):
    view = _pick(record, PLAN_FIELDS)
    if microversion.at_least('1.4'):
        view.update(_pick(record, PLAN_REMAINING_FIELDS))
        view['truncated'] = bool(view['truncated'])
    view['requester'] = requester(record)
    if with_moves:
        view['moves'] = [_pick(m, MOVE_FIELDS) for m in record.get('moves') or ()]
        view['move_count'] = len(view['moves'])
    else:
        view['move_count'] = record.get('move_count', 0)
    return view
