"""JSON schemas of request bodies, and validation with messages that name the field."""

import json

import jsonschema

from migrator.api import request_body
from migrator.common import exceptions, kinds

SUPPORTED_TYPES = list(kinds.NAMES)

# Convergence controls of a live migration (migrator.common.convergence); null or absent takes
# the [libvirt] live_migration_* default.
CONVERGENCE_PROPERTIES = {
    'max_downtime_ms': {
        'type': ['integer', 'null'], 'minimum': 1, 'maximum': 60000,
        'description': 'Longest pause of the guest for the final copy, in ms; the job starts '
                       'at max_downtime_ms / downtime_steps and steps up while it does not '
                       'converge.',
    },
    'downtime_steps': {
        'type': ['integer', 'null'], 'minimum': 1, 'maximum': 100,
        'description': 'Steps from the first allowed downtime up to max_downtime_ms.',
    },
    'bandwidth_mib': {
        'type': ['integer', 'null'], 'minimum': 0, 'maximum': 1048576,
        'description': 'Bandwidth cap in MiB/s; 0 is unlimited.',
    },
    'auto_converge': {
        'type': ['boolean', 'null'],
        'description': 'Let QEMU throttle the guest\'s vCPUs while the copy does not converge.',
    },
    'post_copy': {
        'type': ['boolean', 'null'],
        'description': 'Permit a switch to post-copy (force-complete or the completion '
                       'timeout); a failure in post-copy loses the guest.',
    },
    'completion_timeout_per_gib': {
        'type': ['integer', 'null'], 'minimum': 0, 'maximum': 86400,
        'description': 'Seconds per GiB of guest memory (plus copied disks) the job may run '
                       'before timeout_action; 0 disables the timeout.',
    },
    'timeout_action': {
        'type': ['string', 'null'], 'enum': ['abort', 'force_complete', None],
        'description': 'At the completion timeout: abort (the migration ends cancelled, the '
                       'guest runs on the source) or force_complete.',
    },
}

MIGRATION_CREATE = {
    'type': 'object',
    'properties': {
        'instance': {
            'type': 'string', 'minLength': 1, 'maxLength': 255,
            'description': 'UUID or name of the instance to move.',
        },
        'type': {
            'type': 'string', 'enum': SUPPORTED_TYPES, 'default': kinds.DEFAULT,
            'description': 'Kind of migration: live (the guest keeps running) or cold (the '
                           'guest is shut down, its local disks copied, and it starts again '
                           'on the target).',
        },
        'target_host': {
            'type': ['string', 'null'], 'minLength': 1, 'maxLength': 255, 'default': None,
            'description': 'Host to move to; null lets the scheduler choose.',
        },
        'block_migration': {
            'enum': ['auto', True, False, None], 'default': 'auto',
            'description': 'Live migration only. "auto" (the default; null means the same) '
                           'copies the disks that are not on storage both hosts see; true '
                           'asks for that copy too; false allows shared storage only, and '
                           'is refused when a disk would have to be copied.',
        },
        **CONVERGENCE_PROPERTIES,
        'priority': {
            'type': 'integer', 'minimum': -100, 'maximum': 100, 'default': 0,
            'description': 'Queued migrations start highest priority first, oldest first '
                           'within a priority.',
        },
        'dry_run': {
            'type': 'boolean', 'default': False,
            'description': 'Only ask the scheduler: answer the target it would choose and why, '
                           'or why no host fits; create and move nothing.',
        },
        'forecast': {
            'type': 'boolean', 'default': True,
            'description': 'A live dry run only (microversion 1.9): false answers without '
                           'the convergence forecast, and so without waiting the seconds '
                           "([convergence] dirty_rate_measure_seconds) the source spends "
                           "measuring the guest's dirty rate for it.",
        },
    },
    'required': ['instance'],
    'additionalProperties': False,
}

# POST /v1/migrations/{id}/action: exactly one action, named by the only key.
MIGRATION_ACTION = {
    'type': 'object',
    'properties': {
        'force_complete': {
            'type': 'null',
            'description': 'Make a running live migration finish: switch to post-copy when '
                           'it was started with post_copy permitted, else pause the guest.',
        },
        'reset_state': {
            'type': 'object',
            'description': 'Administrators only: end a migration in flight that nothing '
                           'will settle (bookkeeping only; no host is touched), giving back '
                           'its instance lock, slots and claims. Recorded as an event.',
            'properties': {
                'state': {'enum': ['error', 'failed']},
                'reason': {'type': 'string', 'minLength': 1, 'maxLength': 1000},
            },
            'required': ['state', 'reason'],
            'additionalProperties': False,
        },
    },
    'minProperties': 1,
    'maxProperties': 1,
    'additionalProperties': False,
}

_JSON_TYPES = {
    dict: 'an object', list: 'an array', str: 'a string', bool: 'a boolean',
    int: 'an integer', float: 'a number', type(None): 'null',
}


def _describe(value):
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return kind
    return f'{kind} ({json.dumps(value)})'


def _expected(schema_type):
    names = {'object': 'an object', 'array': 'an array', 'string': 'a string',
             'boolean': 'a boolean', 'integer': 'an integer', 'number': 'a number',
             'null': 'null'}
    if isinstance(schema_type, list):
        return ' or '.join(names.get(t, t) for t in schema_type)
    return names.get(schema_type, schema_type)


def _message(error):
    path = '.'.join(str(p) for p in error.absolute_path)
    field = f"field '{path}'" if path else 'request body'
    if error.validator == 'additionalProperties':
        allowed = error.schema.get('properties', {})
        unknown = sorted(k for k in error.instance if k not in allowed)
        names = ', '.join(f"'{k}'" for k in unknown)
        plural = 's' if len(unknown) > 1 else ''
        return f"unknown field{plural} {names}; the fields are: {', '.join(allowed)}"
    if error.validator == 'required':
        missing = [k for k in error.validator_value if k not in error.instance]
        return "missing required field '%s'" % (missing[0] if missing else error.message)
    if error.validator == 'type':
        return (f'{field} must be {_expected(error.validator_value)}, '
                f'not {_describe(error.instance)}')
    if error.validator == 'enum':
        if path == 'type':
            return (f"field 'type': {json.dumps(error.instance)} is not a migration type; the "
                    f"types are: {', '.join(SUPPORTED_TYPES)}")
        choices = ', '.join(json.dumps(v) for v in error.validator_value)
        return f'{field} must be one of {choices}, not {json.dumps(error.instance)}'
    if error.validator == 'minimum':
        return f'{field} must be at least {error.validator_value}, not {error.instance}'
    if error.validator == 'maximum':
        return f'{field} must be at most {error.validator_value}, not {error.instance}'
    if error.validator == 'minProperties':
        return f"request body must name an action: {', '.join(error.schema['properties'])}"
    if error.validator == 'maxProperties':
        return 'request body must name exactly one action'
    if error.validator == 'minLength':
        return f'{field} must not be empty'
    if error.validator == 'minimum':
        return f'{field} must be at least {error.validator_value}, not {error.instance}'
    if error.validator == 'maximum':
        return f'{field} must be at most {error.validator_value}, not {error.instance}'
    if error.validator == 'maxLength':
        return f'{field} must be at most {error.validator_value} characters long'
    return f'{field}: {error.message}'


def validate(schema, body):
    """Raises Invalid naming every problem of `body`; returns it with defaults filled in."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(body),
                    key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        raise exceptions.Invalid('; '.join(_message(e) for e in errors))
    result = dict(body)
    for name, prop in schema.get('properties', {}).items():
        if 'default' in prop:
            result.setdefault(name, prop['default'])
    return result


def parse_json(body):
    """The decoded JSON of a request body, or Invalid saying what to fix (request_body)."""
    return request_body.parse(body)
