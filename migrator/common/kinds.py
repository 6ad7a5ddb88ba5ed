"""The kinds of migration: each one a unit, registered here once.

A kind names its task (the conductor runs it), its recovery (the method of
migrator.conductor.recovery.MigrationRecovery that settles a migration of that kind left in
flight when its conductor stopped) and its scheduling traits. The API's `type` enum, the
DB's choices, the CLI's --type choices and the metrics' labels are derived from KINDS. The
task is a dotted name resolved in the conductor only, so the API, the DB and the CLI read
the registry without importing the conductor.

Adding a kind: its task class in migrator/conductor/tasks/, its settle method on
migrator.conductor.recovery.MigrationRecovery, and one MigrationKind below.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class MigrationKind:
    name: str
    #: One line for the CLI's and the API's help.
    summary: str
    #: The dotted name of its migrator.conductor.tasks.base.MigrationTask.
    task: str
    #: The migrator.conductor.recovery.MigrationRecovery method settling one left in flight.
    recovery: str
    #: The guest keeps running while it moves: it takes convergence controls and a
    #: block_migration choice (shared storage only, copy the disks, or auto).
    live: bool
    #: It always copies the disks that are not shared with the target, so the scheduler
    #: asks for disk room there (a live migration does only when block_migration is true).
    copies_disks: bool


LIVE = MigrationKind(
    name='live', summary='live keeps the guest running',
    task='migrator.conductor.tasks.live.LiveMigrationTask', recovery='_settle_live',
    live=True, copies_disks=False)
COLD = MigrationKind(
    name='cold', summary='cold shuts it down, copies its local disks and starts it on the '
                         'target',
    task='migrator.conductor.tasks.cold.ColdMigrationTask', recovery='_settle_cold',
    live=False, copies_disks=True)

KINDS = {kind.name: kind for kind in (LIVE, COLD)}
#: The names, in the order the API and the CLI list them (the first is the default).
NAMES = tuple(KINDS)
DEFAULT = LIVE.name


def get(name):
    """The kind called `name`; KeyError for an unknown one (callers validated it)."""
    return KINDS[name]
