"""The API's access log: one line per request, at INFO, under the logger
`migrator.api.access`, with the request's own context (its X-Openstack-Request-Id and
caller) given explicitly.

Explicitly, because a line written for an answer from the read cache was formatted with
the thread's current context, which is the last uncached request that server thread
served: its id and caller, not the cached request's.

One logger for every request line, so that a deployment whose proxy already logs every
request can leave them out: `default_log_levels = ...,migrator.api.access=WARN`.

Written by a thread of its own: a request thread only makes the record (its time, its
message) and appends it to a queue; one writer thread formats the queued lines through
oslo.log and writes them, every FLUSH_SECONDS or sooner when _BATCH lines wait. Written by
the request threads themselves, the lines cost a cached read about 200 us of CPU under
`ab -c 8` (60 us of it the line itself, the rest the server threads queueing on the log
handler's lock and the GIL): more than the rest of a cached answer (issue 15; docs:
admin/performance.rst). The lines keep the time and order of their requests; a line still
queued when the process exits is written before it does (atexit).
"""

import atexit
import collections
import logging as std_logging
import threading

from oslo_log import log as logging

LOG = logging.getLogger('migrator.api.access')
# How long a line may wait for the writer, and how many may wait before it is woken: the
# writer is not woken per line, since a thread woken per request costs the request threads
# about as much as writing the line themselves (nginx buffers its access log the same way).
FLUSH_SECONDS = 0.2
_BATCH = 256


class AccessLogWriter:
    """The request records waiting to be written, and the thread that writes them."""

    def __init__(self, logger):
        self.logger = logger
        self._pending = collections.deque()
        self._wake = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def put(self, record, make_context=None):
        """Queues `record`; `make_context()`, when given, builds the line's context in the
        writer (a cached answer's context is made from its environ only if it is logged)."""
        if self._thread is None:
            self._start()
        self._pending.append((record, make_context))
        if len(self._pending) >= _BATCH:
            self._wake.set()

    def _start(self):
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name='api-access-log',
                                          daemon=True)
                thread.start()
                self._thread = thread

    def _run(self):
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            while self._pending:
                self._write(self._pending.popleft())

    def _write(self, item):
        record, make_context = item
        if isinstance(record, threading.Event):    # flush()'s marker
            record.set()
            return
        if make_context is not None:
            try:
                record.context = make_context()
            except Exception:   # the line is still written, without its caller
                record.context = None
        self.logger.handle(record)

    def flush(self, timeout=10.0):
        """Waits until every line queued before this call is written; False on timeout."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._pending.append((done, None))
        self._wake.set()
        return done.wait(timeout)


_WRITER = AccessLogWriter(LOG.logger)
atexit.register(_WRITER.flush)


def enabled():
    """False when the lines are not wanted (the logger is above INFO): nothing to make."""
    return LOG.isEnabledFor(std_logging.INFO)


def log(ctxt, msg, *args, make_context=None):
    """Logs `msg % args` at INFO with `ctxt` (a RequestContext, or None for none) as the
    line's context, whatever the current thread's is; or, with `make_context`, the context
    that callable returns (called in the writer thread)."""
    logger = LOG.logger
    if not logger.isEnabledFor(std_logging.INFO):
        return
    record = logger.makeRecord(logger.name, std_logging.INFO, __file__, 0, msg, args, None,
                               extra={'context': ctxt})
    _WRITER.put(record, make_context)


def flush(timeout=10.0):
    """Waits until the lines logged so far are written (tests; a process about to exit)."""
    return _WRITER.flush(timeout)
