"""JSON schemas of the drain and undrain request bodies (validated by schemas.validate)."""

DRAIN_CREATE = {
    'type': 'object',
    'properties': {
        'mode': {
            'type': 'string', 'enum': ['live', 'live_then_cold', 'cold'], 'default': 'live',
            'description': 'live: live-migrate every guest; live_then_cold: a guest whose '
                           'live migration fails or is refused is migrated cold; cold: '
                           'cold-migrate every guest.',
        },
        'target_hosts': {
            'type': ['array', 'null'], 'minItems': 1, 'maxItems': 1000, 'uniqueItems': True,
            'items': {'type': 'string', 'minLength': 1, 'maxLength': 255}, 'default': None,
            'description': 'Hosts the guests may go to; null: any host the scheduler picks.',
        },
        'max_parallel': {
            'type': ['integer', 'null'], 'minimum': 1, 'maximum': 64, 'default': None,
            'description': 'Migrations at a time; null: [drain] max_parallel.',
        },
    },
    'additionalProperties': False,
}

UNDRAIN = {
    'type': 'object',
    'properties': {
        'return_guests': {
            'type': 'boolean', 'default': False,
            'description': 'Move back the guests the last drain took away (those still on '
                           'the host they were moved to).',
        },
    },
    'additionalProperties': False,
}
