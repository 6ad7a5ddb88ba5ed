"""When a migration can be aborted, and the words for when it cannot.

Shared by the API (which refuses before asking anyone) and the conductor (which checks again
when the request reaches the task, because the migration may have moved on meanwhile).
"""

from migrator.common import states

# A migration nobody has started work on: an abort only has to record it.
UNSTARTED = frozenset({states.ACCEPTED, states.QUEUED})

API_REASON = 'an operator asked to abort it'


def refusal(migration):
    """Why `migration` cannot be aborted now, or None when it can."""
    status = migration['status']
    ident = migration['id']
    if states.can_abort(status):
        return None
    if status in states.TERMINAL:
        return (f'Migration {ident} already ended {status}; there is nothing to abort.')
    if status in (states.CANCELLING, states.ROLLING_BACK):
        return (f'Migration {ident} is already being undone ({status}); it ends with the '
                f'instance on its source host.')
    return (f'Migration {ident} is {status}: past the point of no return (the instance may '
            f'already run on {migration.get("target_host") or "the target"}), so it can only '
            f'finish. Wait for it to end.')
