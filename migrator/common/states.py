"""The one vocabulary of migration states, shared by every kind of migration.

live:  accepted -> [queued ->] scheduling -> preparing -> running -> [post_copy ->] finishing
       -> completed
cold:  accepted -> [queued ->] scheduling -> preparing -> stopping -> copying -> starting
       -> finishing -> completed
abort:    any non-terminal -> cancelling -> cancelled   (the VM keeps running on the source)
failure:  -> rolling_back -> failed                     (the VM keeps running on the source)
unknown:  -> error        (we cannot tell where the VM is: an operator must look; events say why)

Rebalance plans (PLAN_*, their moves MOVE_*) and host drains (DRAIN_*, their per-guest items
DRAIN_ITEM_*) have vocabularies of their own, kept here too: one module for every state a
record can be in.

The DB enforces ALLOWED on every transition (compare-and-swap on the current state), so two
conductors can never drive one migration down two paths.
"""

ACCEPTED = 'accepted'
QUEUED = 'queued'
SCHEDULING = 'scheduling'
PREPARING = 'preparing'
RUNNING = 'running'
POST_COPY = 'post_copy'
STOPPING = 'stopping'
COPYING = 'copying'
STARTING = 'starting'
FINISHING = 'finishing'
COMPLETED = 'completed'
CANCELLING = 'cancelling'
CANCELLED = 'cancelled'
ROLLING_BACK = 'rolling_back'
FAILED = 'failed'
ERROR = 'error'

TERMINAL = frozenset({COMPLETED, CANCELLED, FAILED, ERROR})

ALL = frozenset({
    ACCEPTED, QUEUED, SCHEDULING, PREPARING, RUNNING, POST_COPY, STOPPING, COPYING,
    STARTING, FINISHING, COMPLETED, CANCELLING, CANCELLED, ROLLING_BACK, FAILED, ERROR,
})

# Once the guest may already run on the target (post-copy, finishing) an abort is no longer
# possible: the only ways out are forward or to an operator.
_ABORTABLE = frozenset({ACCEPTED, QUEUED, SCHEDULING, PREPARING, RUNNING, STOPPING, COPYING,
                        STARTING})

ALLOWED = {
    ACCEPTED: frozenset({QUEUED, SCHEDULING, FAILED}),
    QUEUED: frozenset({SCHEDULING, FAILED}),
    # scheduling -> queued: the only hosts that fit are at their inbound limit; the
    # migration gives its slot back and waits.
    SCHEDULING: frozenset({QUEUED, PREPARING, ROLLING_BACK, FAILED}),
    PREPARING: frozenset({RUNNING, STOPPING, ROLLING_BACK, ERROR}),
    RUNNING: frozenset({POST_COPY, FINISHING, ROLLING_BACK, ERROR}),
    POST_COPY: frozenset({FINISHING, ERROR}),
    STOPPING: frozenset({COPYING, ROLLING_BACK, ERROR}),
    COPYING: frozenset({STARTING, ROLLING_BACK, ERROR}),
    STARTING: frozenset({FINISHING, ROLLING_BACK, ERROR}),
    FINISHING: frozenset({COMPLETED, ERROR}),
    CANCELLING: frozenset({CANCELLED, ERROR}),
    ROLLING_BACK: frozenset({FAILED, ERROR}),
    COMPLETED: frozenset(),
    CANCELLED: frozenset(),
    FAILED: frozenset(),
    ERROR: frozenset(),
}
for _state in _ABORTABLE:
    ALLOWED[_state] = ALLOWED[_state] | {CANCELLING}
# Losing track of the guest can happen in any state; `error` hands it to an operator.
for _state in ALL - TERMINAL:
    ALLOWED[_state] = ALLOWED[_state] | {ERROR}


def is_terminal(state):
    return state in TERMINAL


def can_abort(state):
    return state in _ABORTABLE


# -- rebalance plans (migrator.db.plans) ----------------------------------------------------

PLAN_PLANNED = 'planned'
PLAN_APPLYING = 'applying'
PLAN_APPLIED = 'applied'
PLAN_PARTIAL = 'partial'
PLAN_FAILED = 'failed'
PLAN_CANCELLED = 'cancelled'
PLAN_STATUSES = (PLAN_PLANNED, PLAN_APPLYING, PLAN_APPLIED, PLAN_PARTIAL, PLAN_FAILED,
                 PLAN_CANCELLED)
# planned -> applying -> applied (every move completed) | partial (some did) | failed (none)
# planned -> cancelled (an operator dropped it after review; it can never be applied then)
PLAN_ALLOWED = {
    PLAN_PLANNED: frozenset({PLAN_APPLYING, PLAN_CANCELLED}),
    PLAN_APPLYING: frozenset({PLAN_APPLIED, PLAN_PARTIAL, PLAN_FAILED}),
}

MOVE_PLANNED = 'planned'
MOVE_RUNNING = 'running'
MOVE_COMPLETED = 'completed'
MOVE_FAILED = 'failed'
MOVE_SKIPPED = 'skipped'
MOVE_STATUSES = (MOVE_PLANNED, MOVE_RUNNING, MOVE_COMPLETED, MOVE_FAILED, MOVE_SKIPPED)


# -- host drains and returns (migrator.db.drains) -------------------------------------------

# Job states. `accepted` until a conductor takes it; `cancelling` after DELETE while
# migrations it started still run.
DRAIN_ACCEPTED = 'accepted'
DRAIN_RUNNING = 'running'
DRAIN_CANCELLING = 'cancelling'
DRAIN_COMPLETED = 'completed'   # every guest left the host (moved, or gone by itself)
DRAIN_PARTIAL = 'partial'       # some guests could not move; their items say why
DRAIN_CANCELLED = 'cancelled'
DRAIN_FAILED = 'failed'         # the job itself could not run (no conductor reachable)
DRAIN_STATES = (DRAIN_ACCEPTED, DRAIN_RUNNING, DRAIN_CANCELLING, DRAIN_COMPLETED, DRAIN_PARTIAL,
                DRAIN_CANCELLED, DRAIN_FAILED)
DRAIN_TERMINAL = frozenset({DRAIN_COMPLETED, DRAIN_PARTIAL, DRAIN_CANCELLED, DRAIN_FAILED})

# Item (per guest) states.
DRAIN_ITEM_PENDING = 'pending'
DRAIN_ITEM_RUNNING = 'running'
DRAIN_ITEM_MOVED = 'moved'
DRAIN_ITEM_GONE = 'gone'        # no longer on the host when its turn came (moved or deleted)
DRAIN_ITEM_FAILED = 'failed'
DRAIN_ITEM_CANCELLED = 'cancelled'
DRAIN_ITEM_STATES = (DRAIN_ITEM_PENDING, DRAIN_ITEM_RUNNING, DRAIN_ITEM_MOVED, DRAIN_ITEM_GONE,
                     DRAIN_ITEM_FAILED, DRAIN_ITEM_CANCELLED)
DRAIN_ITEM_TERMINAL = frozenset({DRAIN_ITEM_MOVED, DRAIN_ITEM_GONE, DRAIN_ITEM_FAILED,
                                 DRAIN_ITEM_CANCELLED})
DRAIN_ITEM_SUCCESS = frozenset({DRAIN_ITEM_MOVED, DRAIN_ITEM_GONE})
