"""JSON schemas of the API's responses, by microversion.

The field lists come from the views (migrator.api.views, drain_views): a field added to a
view without a type here fails tests/unit/api/test_response_schemas.py, which validates
every view's output against these schemas; the OpenAPI document (openapi.py) is built from
them and from the request schemas. Nothing is written twice.
"""

from migrator.api import drain_views, microversion, views
from migrator.common import forecast, states
from migrator.db import models


def _t(*types, **extra):
    return {'type': list(types) if len(types) > 1 else types[0], **extra}


TIME = _t('string', format='date-time', description='ISO 8601 UTC, e.g. '
                                                    '2024-05-01T12:00:00.125Z')
TIME_OR_NULL = _t('string', 'null', description='ISO 8601 UTC, or null')
STR = _t('string')
STR_OR_NULL = _t('string', 'null')
INT = _t('integer')
INT_OR_NULL = _t('integer', 'null')
NUM = _t('number')
NUM_OR_NULL = _t('number', 'null')
BOOL_OR_NULL = _t('boolean', 'null')


def _obj(properties, required=None, additional=False, **extra):
    return {'type': 'object', 'properties': properties,
            'required': sorted(properties) if required is None else required,
            'additionalProperties': additional, **extra}


def _fields(names, types, default=None):
    """{name: schema} for every name of a view's field list; a name without a type is a
    mistake that must not go unnoticed."""
    result = {}
    for name in names:
        if name in types:
            result[name] = types[name]
        elif default is not None:
            result[name] = default
        else:
            raise KeyError(f'response_schemas: no type for field {name!r}')
    return result


_PROGRESS_TYPES = {
    'progress': NUM_OR_NULL, 'memory_progress': NUM_OR_NULL, 'disk_progress': NUM_OR_NULL,
    'memory_total': INT_OR_NULL, 'memory_processed': INT_OR_NULL,
    'memory_remaining': INT_OR_NULL, 'disk_total': INT_OR_NULL, 'disk_processed': INT_OR_NULL,
    'disk_remaining': INT_OR_NULL, 'data_total': INT_OR_NULL, 'data_processed': INT_OR_NULL,
    'data_remaining': INT_OR_NULL, 'dirty_rate': INT_OR_NULL, 'transfer_rate': INT_OR_NULL,
    'iteration': INT_OR_NULL, 'downtime_ms': INT_OR_NULL, 'downtime_limit_ms': INT_OR_NULL,
    'eta_seconds': NUM_OR_NULL, 'elapsed_ms': INT_OR_NULL,
}

MIGRATION_STATUS = _t('string', enum=sorted(states.ALL))

_MIGRATION_TYPES = {
    **_PROGRESS_TYPES,
    'id': STR, 'instance_uuid': STR, 'instance_name': STR_OR_NULL,
    'type': _t('string', enum=list(models.MIGRATION_TYPES)), 'block_migration': BOOL_OR_NULL,
    'status': MIGRATION_STATUS, 'source_host': STR, 'target_host': STR_OR_NULL,
    'requested_target': STR_OR_NULL, 'conductor': STR_OR_NULL, 'priority': INT,
    'error': STR_OR_NULL, 'created_at': TIME, 'updated_at': TIME,
    'started_at': TIME_OR_NULL, 'finished_at': TIME_OR_NULL,
    'convergence': _t('object', 'null', description='The convergence controls in force.'),
}

# Who asked for what a record holds (null fields for what the services did on their own).
# Part of 1.0: it came in the same release as microversions themselves.
REQUESTER = _obj({field: STR_OR_NULL for field in views.REQUESTER_FIELDS},
                 description='Who asked: user, project, and the request ids of the call.')

EVENT = _obj({**_fields(views.EVENT_FIELDS, {
    'time': TIME, 'from_state': STR_OR_NULL, 'to_state': MIGRATION_STATUS,
    'detail': STR_OR_NULL}), 'requester': REQUESTER})

# Fields that came with a microversion: {version: {field: schema}}.
MIGRATION_ADDED = {
    '1.1': {
        'duration_seconds': _t('number', 'null', description='Seconds from started_at to '
                                                             'finished_at, or to now while it '
                                                             'runs; null before it started.'),
        'bytes_transferred': _t('integer', 'null', description='Memory and disk bytes '
                                                               'copied.'),
    },
}


def _added(table, version):
    extra = {}
    for since, fields in table.items():
        if version >= microversion.Version.parse(since):
            extra.update(fields)
    return extra


CONVERGENCE_VERDICT = _t('object', 'null', description=(
    'From 1.5, in one migration\'s document: null, or the diagnosis of a running live '
    'migration whose remaining data stopped falling: verdict "stalled", the iteration, the '
    'reason in figures, the action that finishes it now (force_complete) and its effect, '
    'the alternatives for a new attempt (auto_converge, post_copy, raise_bandwidth) and '
    'bandwidth_needed_mib.'), properties={
        'verdict': _t('string', enum=['stalled']), 'iteration': INT, 'reason': STR,
        'action': STR, 'action_effect': STR, 'alternatives': _t('array', items=STR),
        'bandwidth_needed_mib': NUM_OR_NULL, 'dirty_rate': INT_OR_NULL,
        'transfer_rate': INT_OR_NULL})


def migration(version, with_events=True, samples_count=False, forced=False,
              convergence_verdict=False):
    props = {**_fields(views.MIGRATION_FIELDS, _MIGRATION_TYPES),
             'requester': REQUESTER, **_added(MIGRATION_ADDED, version)}
    if with_events:
        props['events'] = _t('array', items=EVENT)
    if samples_count:
        props['samples_count'] = INT
    if forced:
        props['forced'] = _t('string', 'null', enum=['post_copy', 'paused', None])
    if convergence_verdict and version >= microversion.Version.parse(
            microversion.CONVERGENCE_SINCE):
        props['convergence_verdict'] = CONVERGENCE_VERDICT
    return _obj(props)


SAMPLE = _obj(_fields(views.SAMPLE_FIELDS, {**_PROGRESS_TYPES, 'id': INT, 'time': TIME}))

INSTANCE = _obj(_fields(views.INSTANCE_FIELDS, {
    'uuid': STR, 'name': STR, 'host': STR_OR_NULL, 'power_state': STR, 'memory_mb': INT,
    'vcpus': INT, 'disk_gb': INT, 'cpu_model': STR_OR_NULL, 'migration_id': STR_OR_NULL,
    'created_at': TIME, 'updated_at': TIME}))

_HOST_TYPES = {
    'name': STR, 'address': STR_OR_NULL, 'hypervisor_uri': STR_OR_NULL, 'virt_type': STR,
    'hypervisor_version': INT_OR_NULL, 'cpu_model': STR_OR_NULL, 'status':
        _t('string', enum=list(models.HOST_STATUSES)), 'status_reason': STR_OR_NULL,
    'last_heartbeat': TIME_OR_NULL, 'created_at': TIME, 'updated_at': TIME,
    'memory_mb_free': INT_OR_NULL, 'state': _t('string', enum=['up', 'down']),
    'instances': INT, 'cpu_models': _t('array', 'null', items=STR),
    'migrations_in_flight': _t('array', items=STR),
}

HOST_ADDED = {
    '1.2': {'agent_version': _t('string', 'null',
                                description='The migrator version of the host\'s agent.')},
}


def host(version):
    return _obj({**_fields(
        views.HOST_FIELDS + ('memory_mb_free', 'state', 'instances', 'cpu_models',
                             'memory_mb_capacity', 'vcpus_capacity', 'disk_gb_capacity',
                             'memory_mb_claimed', 'vcpus_claimed', 'disk_gb_claimed',
                             'migrations_inbound', 'migrations_outbound',
                             'migrations_in_flight'),
        _HOST_TYPES, default=INT), **_added(HOST_ADDED, version)})

SERVER_GROUP = _obj({
    'id': STR, 'name': STR, 'policy': _t('string', enum=list(models.SERVER_GROUP_POLICIES)),
    'members': _t('array', items=STR), 'created_at': TIME})

_DRAIN_ITEM = _obj({
    **_fields(drain_views.ITEM_FIELDS, {
        'instance_uuid': STR, 'instance_name': STR_OR_NULL, 'source_host': STR,
        'target_host': STR_OR_NULL, 'status': _t('string', enum=list(states.DRAIN_ITEM_STATES)),
        'migration_id': STR_OR_NULL, 'migration_type': STR_OR_NULL, 'attempts': INT_OR_NULL,
        'reason': STR_OR_NULL, 'started_at': TIME_OR_NULL, 'finished_at': TIME_OR_NULL}),
    'migration': {'oneOf': [{'type': 'null'}, _obj({
        'status': MIGRATION_STATUS, 'progress': NUM_OR_NULL, 'eta_seconds': NUM_OR_NULL})]},
})

DRAIN = _obj({
    **_fields(drain_views.DRAIN_FIELDS, {
        'id': STR, 'kind': STR, 'host': STR, 'mode': STR, 'status': STR,
        'max_parallel': INT_OR_NULL, 'target_hosts': _t('array', 'null', items=STR),
        'origin_id': STR_OR_NULL, 'conductor': STR_OR_NULL, 'reason': STR_OR_NULL,
        'created_at': TIME, 'updated_at': TIME, 'finished_at': TIME_OR_NULL}),
    'summary': _t('object', additionalProperties=INT,
                  description='How many items there are, in total and per item state.'),
    'items': _t('array', items=_DRAIN_ITEM),
    'requester': REQUESTER,
})

_MOVE = _obj(_fields(views.MOVE_FIELDS, {
    'seq': INT, 'jobset': INT, 'instance_uuid': STR, 'instance_name': STR_OR_NULL,
    'source_host': STR, 'target_host': STR, 'memory_mb': INT, 'vcpus': INT, 'disk_gb': INT,
    'gain': NUM, 'score_after': NUM, 'predicted_seconds': NUM,
    'status': _t('string', enum=list(states.MOVE_STATUSES)), 'migration_id': STR_OR_NULL,
    'reason': STR_OR_NULL, 'started_at': TIME_OR_NULL, 'finished_at': TIME_OR_NULL}))

_PLAN_TYPES = {
    'id': STR, 'goal': STR, 'status': _t('string', enum=list(states.PLAN_STATUSES)),
    'max_moves': INT_OR_NULL, 'jobsets': INT_OR_NULL, 'stop_reason': STR_OR_NULL,
    'conductor': STR_OR_NULL, 'error': STR_OR_NULL, 'created_at': TIME, 'updated_at': TIME,
    'started_at': TIME_OR_NULL, 'finished_at': TIME_OR_NULL, 'move_count': INT,
}


PLAN_ADDED = {
    '1.4': {
        'truncated': _t('boolean', description='The search stopped at max_moves with moves '
                                               'still worth making.'),
        'remaining_gain': _t('number', 'null', description='What the moves left out would '
                                                          'still take off the score; null '
                                                          'when not truncated.'),
        'remaining_moves': _t('integer', 'null', description='How many moves those are.'),
    },
}


def plan(version=microversion.MAX_VERSION, with_moves=True):
    props = _fields(views.PLAN_FIELDS + ('move_count',), _PLAN_TYPES, default=NUM_OR_NULL)
    props.update(_added(PLAN_ADDED, version))
    props['requester'] = REQUESTER
    if with_moves:
        props['moves'] = _t('array', items=_MOVE)
    return _obj(props)


ERROR = _obj({'error': _obj({'code': INT, 'title': STR, 'message': STR})},
             description='Every error the API answers.')

LINK = _obj({'rel': STR, 'href': STR, 'type': STR}, required=['rel', 'href'])

VERSION = _obj({
    'id': STR, 'status': STR, 'links': _t('array', items=LINK),
    'min_version': _t('string', description='Oldest microversion served (header '
                                            'OpenStack-API-Version: migration X.Y).'),
    'version': _t('string', description='Newest microversion served.'),
})

VERSIONS = _obj({'versions': _t('array', items=VERSION)})

FORECAST_FIGURES_ADDED = {
    microversion.FORECAST_OVERHEAD_SINCE: {
        'overhead_source': _t('string', enum=['host_pair', 'cluster', 'default'],
                              description='Where overhead_seconds came from: the median '
                                          'residual of recent migrations between the same '
                                          'hosts, of the cluster, or the configured default.'),
        'overhead_note': STR_OR_NULL},
    microversion.EFFECTIVE_RATE_SINCE: {
        'effective_bandwidth': _t('integer', description=(
            'Bytes/s the job is expected to reach under bandwidth, which the model uses: the '
            'median effective rate of recent migrations under the same cap.')),
        'effective_bandwidth_source': _t('string', enum=['host_pair', 'cluster', 'default'],
                                         description='Where effective_bandwidth came from: '
                                                     'migrations between the same hosts, of '
                                                     'the cluster, or bandwidth itself.'),
        'effective_bandwidth_note': STR_OR_NULL},
    microversion.BORDERLINE_SINCE: {
        'dirty_rate_low': _t('integer', 'null', description=(
            'Bytes/s: the low end of the interval the measurement of the dirty rate allows '
            '(from the pages QEMU sampled); null when the rate was not measured now.')),
        'dirty_rate_high': _t('integer', 'null', description=(
            'Bytes/s: the high end of that interval; null when the rate was not measured '
            'now.'))},
    microversion.LIKELIEST_VERDICT_SINCE: {
        'working_set_source': _t('string', 'null', enum=['measured', 'last_migration', 'memory',
                                                         None], description=(
            'Where working_set_bytes came from: the long sampling period of the measurement '
            'now, the guest\'s last migration, or nothing (memory: a pass may find all of '
            'memory dirty); null from a conductor of an earlier release.')),
        'vcpu_busy': _t('number', 'null', description=(
            'The share of its time the guest\'s busiest vCPU ran while its dirty rate was '
            'measured (0-1); the forecast of auto-converge takes it for how soon the '
            'throttle slows the guest. Null when not measured.'))},
    microversion.WRITE_BURSTS_SINCE: {
        'writes_in_bursts': _t('boolean', 'null', description=(
            'Whether the guest writes its memory in bursts with quiet stretches between '
            '(its busiest vCPU, read every 50 ms while the dirty rate was measured, ran at '
            'least half of a slot in most seconds and little between): a later pass that '
            'falls between two bursts can end a migration whose guest dirties as fast as '
            'the bandwidth. Null when not measured (an agent of an earlier release, or the '
            'rate not measured now).'))},
}

FORECAST_ADDED = {
    microversion.BORDERLINE_SINCE: {
        'borderline': _t('boolean', description=(
            'The verdict differs between the ends of the interval the dirty rate\'s '
            'measurement allows (figures.dirty_rate_low, dirty_rate_high): the guest is '
            'within the measurement\'s resolution of what the bandwidth absorbs. From 1.10 '
            'verdict, predicted_seconds, iterations, downtime_ms and expected_outcome are '
            'still those at the measured rate (the likeliest), and suggested_action is the '
            'help the high end needs; before 1.10 all are those at the high end (the '
            'cautious side, never converges).')),
        'verdict_at_low': _t('string', 'null', enum=[*forecast.VERDICTS, None], description=(
            'When borderline: the verdict at the low end of the interval; else null.')),
        'borderline_note': STR_OR_NULL},
    microversion.LIKELIEST_VERDICT_SINCE: {
        'verdict_at_high': _t('string', 'null', enum=[*forecast.VERDICTS, None], description=(
            'When borderline: the verdict at the high end of the interval (the cautious '
            'side); else null.'))},
}


def forecast_schema(version=microversion.MAX_VERSION):
    return _obj({
        'verdict': _t('string', enum=list(forecast.VERDICTS)),
    'predicted_seconds': NUM, 'iterations': INT, 'downtime_ms': NUM_OR_NULL, 'reason': STR,
        'expected_outcome': STR, 'suggested_action': STR_OR_NULL,
        **_added(FORECAST_ADDED, version),
        'figures': _obj({
            'memory_bytes': INT, 'dirty_rate': INT,
            'dirty_rate_source': _t('string', enum=['measured', 'last_migration', 'default']),
            'dirty_rate_note': STR_OR_NULL, 'working_set_bytes': INT_OR_NULL, 'bandwidth': INT,
            'bandwidth_source': STR, 'max_downtime_ms': INT, 'downtime_steps': INT,
            'completion_timeout_seconds': NUM_OR_NULL, 'overhead_seconds': NUM,
            **_added(FORECAST_FIGURES_ADDED, version)}),
    }, description='From 1.5, for a live migration: will it converge, and how long will it '
                   'take.')


def dry_run(version=microversion.MAX_VERSION):
    return _obj({'dry_run': _obj({
        'possible': _t('boolean'), 'target_host': STR_OR_NULL,
        'hosts_considered': INT_OR_NULL, 'filters': _t('array'), 'weights': _t('array'),
        'reason': STR_OR_NULL, 'slots': _t('object'), 'forecast': forecast_schema(version),
        'convergence': _t('object', description=(
            'From 1.6, for a live migration: the convergence controls it would run with (the '
            "request's fields over the [libvirt] live_migration_* defaults).")),
    }, required=['possible', 'target_host'], additional=True)})

OBSERVATION_ADDED = {
    microversion.FORECAST_OVERHEAD_SINCE: {'overhead_seconds': _t(
        'number', 'null', description='Request to completion minus what its passes explain '
                                      'at the rate they went: the residual the forecast '
                                      'learns its fixed overhead from.')},
    microversion.EFFECTIVE_RATE_SINCE: {'effective_rate': _t(
        'integer', 'null', description='Bytes/s at which the job worked its passes off, bitmap '
                                       'syncs and waits for a CPU included: what the '
                                       'forecast learns a cap really gives.')},
}


def observations(version=microversion.MAX_VERSION):
    return _obj({'instance_uuid': STR, 'observations': _t('array', items=_obj({**_fields(
        views.OBSERVATION_FIELDS, {
            'id': INT, 'migration_id': STR, 'time': TIME, 'source_host': STR_OR_NULL,
            'target_host': STR_OR_NULL, 'memory_bytes': INT_OR_NULL, 'dirty_rate': INT_OR_NULL,
            'transfer_rate': INT_OR_NULL, 'working_set_bytes': INT_OR_NULL,
            'iterations': INT_OR_NULL, 'duration_seconds': NUM_OR_NULL,
            'downtime_ms': INT_OR_NULL, 'bandwidth_mib': INT_OR_NULL}),
            **_added(OBSERVATION_ADDED, version)}))},
        description='From 1.5: what the completed live migrations of an instance showed, '
                    'newest first.')


CONDUCTOR_STATES = ('alive', 'dead', 'stopped')

CONDUCTOR = _obj({**_fields(views.CONDUCTOR_FIELDS, {
    'name': _t('string', description='[DEFAULT] host of the conductor.'),
    'incarnation': _t('string', description='The process running under the name now.'),
    'machine': STR_OR_NULL, 'pid': INT_OR_NULL,
    'version': _t('string', 'null', description='The migrator version it runs.'),
    'started_at': TIME, 'stopped_at': TIME_OR_NULL}),
    'last_heartbeat': TIME,
    'heartbeat_age_seconds': NUM_OR_NULL,
    'state': _t('string', enum=list(CONDUCTOR_STATES),
                description='alive: its heartbeat is at most [conductor] takeover_after '
                            'seconds old; dead: older (its work is adopted by a live '
                            'conductor); stopped: it stopped cleanly.'),
})

CONDUCTORS = _obj({'conductors': _t('array', items=CONDUCTOR)})

AUDIT_DISCREPANCY = _obj({
    'kind': _t('string', description='What is wrong: host_unreachable, running_twice, '
                                     'not_running, wrong_host, stale_lock, stale_claim, '
                                     'counter_mismatch, no_job or not_started.'),
    'subject': _t('string', description='What it is about, e.g. "instance web1 (uuid)".'),
    'detail': STR,
    'fix': _t('string', enum=['safe', 'person'],
              description='safe: POST /v1/audit {"fix": true} repairs it (bookkeeping '
                          'only); person: an operator must look.'),
    'instance': STR, 'migration': STR, 'host': STR, 'db_host': STR_OR_NULL,
    'hosts': _t('array', items=STR),
}, required=['kind', 'subject', 'detail', 'fix'])

AUDIT = _obj({
    'discrepancies': _t('array', items=AUDIT_DISCREPANCY),
    'fixed': _t('array', items=STR, description='The repairs made (POST with fix).'),
    'hosts_checked': _t('array', items=STR,
                        description='The hosts whose agents answered.'),
})


def paged(key, item, next_link=True):
    """A list document; `next` is there when a further page may exist."""
    props = {key: _t('array', items=item)}
    if next_link:
        props['next'] = _t('string', description='URL of the next page.')
    return _obj(props, required=[key])


def migration_list(version):
    return paged('migrations', migration(version, with_events=False))


def samples():
    return _obj({'migration_id': STR, 'samples': _t('array', items=SAMPLE)})


def undrain(version):
    return _obj({'host': host(version), 'return': {'oneOf': [{'type': 'null'}, DRAIN]}})
