"""The libvirt event loop, its hand-off queue and libvirt's error handler: one of each per
process.

libvirt delivers domain events (lifecycle, job completed), connection-closed callbacks and
keep-alives only while someone runs virEventRunDefaultImpl, and the default implementation
must be registered before the first connection is opened. migrator-all runs several agents
in one process, so this is process-wide and started once.

The event-loop thread must never wait: while it is stuck in a callback, no other event is
delivered and no keep-alive is answered, so libvirtd drops the connection after a few missed
ones. Every callback therefore only hands its work to a queue (dispatch()); a second thread,
libvirt-dispatch, runs it. Whatever that work sends on the bus goes through the agent's own
outbox (compute.outbox), so a broker outage stalls neither thread.
"""

import queue
import threading

import libvirt
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_thread = None
_dispatcher = None
_queue = queue.SimpleQueue()

# Errors every caller expects and handles (a lookup miss, no job to abort): libvirt's default
# handler prints each one to stderr ("libvirt: Storage Driver error : ..."), which reads like
# a fault when it is the normal answer to "is it here?".
EXPECTED_ERRORS = {
    libvirt.VIR_ERR_NO_DOMAIN,
    libvirt.VIR_ERR_NO_STORAGE_VOL,
    libvirt.VIR_ERR_NO_STORAGE_POOL,
    libvirt.VIR_ERR_OPERATION_INVALID,
    libvirt.VIR_ERR_NO_DOMAIN_METADATA,
}


def _error_handler(_ctx, error):
    """Replaces libvirt's printing to stderr. Errors of API calls also reach their caller as a
    libvirtError, which decides whether it is a fault: only their text is kept, at debug
    level. Errors of the connection itself (RPC: a daemon gone, a keep-alive timeout) happen
    in the event loop, where nobody else sees them: those are logged as warnings."""
    code, domain, message = error[0], error[1], error[2]
    if code in EXPECTED_ERRORS:
        return
    if domain == libvirt.VIR_FROM_RPC:
        LOG.warning('libvirt connection error: %s', message)
    else:
        LOG.debug('libvirt error %s (domain %s): %s', code, domain, message)


def register_error_handler():
    libvirt.registerErrorHandler(_error_handler, None)


def start_event_loop():
    global _thread, _dispatcher
    with _lock:
        if _thread is not None:
            return
        register_error_handler()
        libvirt.virEventRegisterDefaultImpl()
        _dispatcher = threading.Thread(target=_dispatch_forever, name='libvirt-dispatch',
                                       daemon=True)
        _dispatcher.start()
        _thread = threading.Thread(target=_run, name='libvirt-events', daemon=True)
        _thread.start()


def dispatch(func, *args):
    """Runs func(*args) in the dispatch thread, in the order given; returns at once."""
    _queue.put((func, args))


def _dispatch_forever():
    while True:
        func, args = _queue.get()
        try:
            func(*args)
        except Exception:
            LOG.exception('Handling a libvirt event failed')


def _run():
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:
            LOG.exception('libvirt event loop iteration failed')
