"""Cancelling a migration that no conductor has started yet (a mixin of db.api.Database)."""

from migrator.common import aborts, states


class MigrationAbortMixin:
    def migration_cancel_unstarted(self, mig_id, reason):
        """`accepted`/`queued` -> cancelling -> cancelled, each step a compare-and-swap.

        The first step races the conductor that would take the migration (accepted ->
        scheduling): exactly one of them wins. Raises InvalidStateTransition when the
        migration is no longer unstarted (the caller then asks the conductor that has it).
        """
        migration = self.migration_get(mig_id)
        detail = f'{reason}; nothing had started'
        self.migration_transition(mig_id, sorted(aborts.UNSTARTED), states.CANCELLING,
                                  detail=detail, values={'error': f'aborted: {reason}'})
        # Nothing else moves a migration that no conductor took out of `cancelling`.
        return self.migration_transition(
            mig_id, [states.CANCELLING], states.CANCELLED,
            detail=f"aborted before it started; the instance stays on "
                   f"{migration['source_host']}")
