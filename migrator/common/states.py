"""The one vocabulary of migration states, shared by every kind of migration.

live:  accepted -> [queued ->] scheduling -> preparing -> running -> [post_copy ->] finishing
       -> completed
cold:  accepted -> [queued ->] scheduling -> preparing -> stopping -> copying -> starting
       -> finishing -> completed
abort:    any non-terminal -> cancelling -> cancelled   (the VM keeps running on the source)
failure:  -> rolling_back -> failed                     (the VM keeps running on the source)
unknown:  -> error        (we cannot tell where the VM is: an operator must look; events say why)

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
