"""Handing a job the API created to a conductor.

The API writes the job (a migration, a drain, a plan being applied) and then casts it to a
conductor. When the cast fails no conductor will ever run the job, so it must not stay
waiting (a migration would block its instance, a drain its host): it is marked failed, and
the caller's error goes back to the client.
"""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def unreachable_reason(exc):
    """The reason recorded on a job the API could not hand over."""
    return f'could not reach migrator-conductor: {exc}'


def hand_over(cast, mark_failed, what):
    """Calls cast(); when it raises, calls mark_failed(exc) and re-raises the cast's error.

    `what` names the job in the log ("migration 12", "drain <id>"). A failure of
    mark_failed itself is logged, never raised over the cast's error: the client must learn
    that the conductor was unreachable, not that the bookkeeping after it failed.
    """
    try:
        cast()
    except Exception as exc:
        try:
            mark_failed(exc)
        except Exception:
            LOG.exception('Could not mark %s failed after the cast to a conductor failed', what)
        raise
