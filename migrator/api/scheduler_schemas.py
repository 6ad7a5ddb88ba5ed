"""JSON schemas of the scheduler's resources: host status, server groups."""

from migrator.db import models

HOST_UPDATE = {
    'type': 'object',
    'properties': {
        'status': {
            'type': 'string', 'enum': list(models.HOST_STATUSES),
            'description': 'enabled: a migration target; disabled or maintenance: never '
                           'chosen (nor accepted as a forced target).',
        },
        'reason': {
            'type': ['string', 'null'], 'maxLength': 1000, 'default': None,
            'description': 'Why; shown with the host and in the scheduler\'s refusals.',
        },
    },
    'required': ['status'],
    'additionalProperties': False,
}

SERVER_GROUP_CREATE = {
    'type': 'object',
    'properties': {
        'name': {'type': 'string', 'minLength': 1, 'maxLength': 255,
                 'description': 'Unique name of the group.'},
        'policy': {'type': 'string', 'enum': list(models.SERVER_GROUP_POLICIES),
                   'description': 'affinity: members stay on one host; anti-affinity: never '
                                  'two members on one host.'},
        'members': {'type': 'array', 'items': {'type': 'string', 'minLength': 1,
                                               'maxLength': 255},
                    'default': [], 'description': 'Instances (UUID or name) to put in it.'},
    },
    'required': ['name', 'policy'],
    'additionalProperties': False,
}

SERVER_GROUP_MEMBER = {
    'type': 'object',
    'properties': {
        'instance': {'type': 'string', 'minLength': 1, 'maxLength': 255,
                     'description': 'UUID or name of the instance to add.'},
    },
    'required': ['instance'],
    'additionalProperties': False,
}
