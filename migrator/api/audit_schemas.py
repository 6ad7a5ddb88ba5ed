"""The request body of POST /v1/audit (the controller validates with it; the OpenAPI
document describes it)."""

AUDIT_FIX = {
    'type': 'object',
    'properties': {
        'fix': {'type': 'boolean',
                'description': 'Repair what is safe (bookkeeping only) before answering.'},
    },
    'additionalProperties': False,
}
