"""JSON schema of POST /v1/plans (validated with migrator.api.schemas.validate)."""

PLAN_CREATE = {
    'type': 'object',
    'properties': {
        'goal': {
            'type': 'string', 'enum': ['balance'], 'default': 'balance',
            'description': 'What the plan is for; "balance" evens out memory and vCPU use.',
        },
        'max_moves': {
            'type': ['integer', 'null'], 'minimum': 1, 'maximum': 10000, 'default': None,
            'description': 'At most this many moves; null: [planner] default_max_moves.',
        },
        'min_gain': {
            # The score is a sum of spreads (fractions) and counts of violated rules: a
            # gain above 1000 can never be reached, so a larger value is a mistake.
            'type': ['number', 'null'], 'minimum': 0, 'maximum': 1000, 'default': None,
            'description': 'Stop when the best move lowers the score by less than this '
                           '(0 to 1000); null: [planner] default_min_gain.',
        },
        'max_parallel': {
            'type': ['integer', 'null'], 'minimum': 1, 'maximum': 1000, 'default': None,
            'description': 'At most this many moves per jobset (1 to 1000); null: no cap '
                           'beyond the hosts being disjoint.',
        },
    },
    'additionalProperties': False,
}
