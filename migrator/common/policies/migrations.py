"""Rules of /v1/migrations."""

from migrator.common.policies.base import ADMIN, READER, operation

PREFIX = 'migrator:migration:%s'

rules = [
    operation(PREFIX % 'create', ADMIN, 'Start a migration of an instance.',
              'POST', '/v1/migrations'),
    operation(PREFIX % 'dry_run', READER,
              'Ask the scheduler where a migration would go now (dry_run: true); nothing is '
              'created or moved.', 'POST', '/v1/migrations'),
    operation(PREFIX % 'list', READER, 'List migrations.', 'GET', '/v1/migrations'),
    operation(PREFIX % 'get', READER, 'Show a migration and its events.',
              'GET', '/v1/migrations/{migration_id}'),
    operation(PREFIX % 'abort', ADMIN, 'Abort a migration.',
              'DELETE', '/v1/migrations/{migration_id}'),
    operation(PREFIX % 'force_complete', ADMIN,
              'Make a running live migration finish (post-copy, or pause the guest).',
              'POST', '/v1/migrations/{migration_id}/action'),
    operation(PREFIX % 'reset_state', ADMIN,
              'End a migration in flight that nothing will settle by itself (bookkeeping '
              'only), recorded as an event with the reason.',
              'POST', '/v1/migrations/{migration_id}/action'),
    operation(PREFIX % 'samples:list', READER, "List a migration's progress samples.",
              'GET', '/v1/migrations/{migration_id}/samples'),
]


def list_rules():
    return rules

