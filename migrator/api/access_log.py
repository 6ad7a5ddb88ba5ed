"""The API's access log: one line per request, written by a thread of its own.

Why a thread: with [api] threads (8) answering at once, each writing its line through the
log handlers itself (format, take the handler's lock, write, flush), the threads queued on
that lock and on the GIL it hands over at every write: about 250 us of CPU a request under
`ab -c 8`, more than a cached answer costs otherwise, and half the cost of a GET of
/v1/hosts (issue 15). A request thread now only appends the line's values to a queue
(waking the writer only when the queue was empty, so a burst costs one wake-up, not one
a line); one writer formats and writes them in order, uncontended.

What stays true:
- every request has its line, in the order the requests ended; the line carries the
  request's own context (its X-Openstack-Request-Id and caller), given explicitly, never
  taken from the writer thread (before this, a cached answer's line carried the id of the
  last uncached request its server thread had served);
- nothing is dropped: past MAX_PENDING lines waiting, a request thread writes its line
  itself (the old cost, only under a backlog); the lines still waiting when the process
  exits are written then (atexit);
- a line's time stamp is when it is written, microseconds (a few milliseconds at worst)
  after the request ended; the request's own duration is in the line.
"""

import atexit
import collections
import logging as std_logging
import threading

from oslo_log import log as logging

# Lines waiting for the writer beyond which a request thread writes its own.
MAX_PENDING = 10000
# Seconds the process waits at exit for the writer to write what is waiting.
EXIT_FLUSH = 5.0


class AccessLog:
    def __init__(self, logger, max_pending=MAX_PENDING):
        self.logger = logger
        self.max_pending = max_pending
        self._pending = collections.deque()
        self._wake = threading.Event()
        self._stop = None             # the running writer's: set, it ends after a drain
        self._lock = threading.Lock()
        self._writer = None

    def log(self, ctxt, msg, *args):
        """Logs `msg % args` at INFO with `ctxt` (a RequestContext, or None) as its
        context."""
        if not self.logger.isEnabledFor(std_logging.INFO):
            return
        if self._writer is None:
            self._start()
        if len(self._pending) >= self.max_pending:
            self._write(ctxt, msg, args)
            return
        self._pending.append((ctxt, msg, args))
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout=EXIT_FLUSH):
        """Writes what is waiting (the writer ends), within `timeout` seconds; a later
        line starts a new writer."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                self._stop.set()
                self._wake.set()
        if writer is not None:
            writer.join(timeout)

    def _start(self):
        with self._lock:
            if self._writer is None:
                self._stop = threading.Event()
                self._writer = threading.Thread(target=self._run, args=(self._stop,),
                                                name='api-access-log', daemon=True)
                self._writer.start()

    def _run(self, stop):
        while True:
            self._wake.wait()
            # Cleared before draining: a line appended after the drain sets it again.
            self._wake.clear()
            while self._pending:
                ctxt, msg, args = self._pending.popleft()
                try:
                    self._write(ctxt, msg, args)
                except Exception:  # noqa: BLE001 - the writer must outlive a bad line
                    # Handlers report their own failures (Handler.handleError): this is a
                    # line that could not be made at all.
                    LOG.exception('Could not write an access log line %r', msg)
            if stop.is_set():
                return

    def _write(self, ctxt, msg, args):
        # The record's context, even None ("no context"): oslo.log's formatter otherwise
        # takes the current thread's (the writer's: nobody's).
        self.logger.info(msg, *args, extra={'context': ctxt})


LOG = logging.getLogger(__name__)
_access_log = AccessLog(logging.getLogger('migrator.api.access'))
atexit.register(_access_log.flush)


def log(ctxt, msg, *args):
    _access_log.log(ctxt, msg, *args)


def flush(timeout=EXIT_FLUSH):
    _access_log.flush(timeout)
