"""The agent's outgoing reports, sent by a thread of their own.

Progress samples, job ends and host-down reports are produced by threads that must not wait
on the bus: libvirt's dispatch thread (a JOB_COMPLETED event), a job's monitor (which also
enforces the completion timeout and steps the downtime), the connection's close handling.
During a broker outage a cast blocks until oslo.messaging gets through; here only this
thread waits, and the others carry on.

- Messages go out in the order given.
- A message with a key replaces one with the same key still waiting (a newer progress
  sample makes the older one pointless), keeping its place in the line.
- A message marked `must_deliver` (a job's end) that fails is tried again with backoff for
  up to DELIVERY_WINDOW seconds; the conductor's own backstop (asking the agent whether the
  job still runs) covers a longer outage. Others are dropped on failure, with a log line.
"""

import collections
import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

DELIVERY_WINDOW = 900.0
RETRY_MAX_S = 10.0


class _Message:
    __slots__ = ('key', 'send', 'what', 'must_deliver', 'first_try', 'delay')

    def __init__(self, key, send, what, must_deliver):
        self.key, self.send, self.what, self.must_deliver = key, send, what, must_deliver
        self.first_try = None
        self.delay = 0.5


class Outbox:
    def __init__(self, name):
        self.name = name
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = None

    def start(self):
        """Starts the sending thread (put() starts it too, when a message comes first)."""
        with self._cond:
            self._start_locked()

    def _start_locked(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f'outbox-{self.name}',
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout=5.0):
        """Sends what is waiting (for up to timeout seconds), then stops."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def put(self, send, what, key=None, must_deliver=False):
        """send(): the cast; what: for the logs."""
        message = _Message(key, send, what, must_deliver)
        with self._cond:
            self._start_locked()
            if key is not None:
                for i, waiting in enumerate(self._queue):
                    if waiting.key == key:
                        self._queue[i] = message
                        return
            self._queue.append(message)
            self._cond.notify()

    def pending(self):
        with self._cond:
            return len(self._queue)

    def _run(self):
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                message = self._queue[0]
            if self._deliver(message):
                with self._cond:
                    if self._queue and self._queue[0] is message:
                        self._queue.popleft()
                    else:   # replaced meanwhile by a newer one of its key: that goes next
                        try:
                            self._queue.remove(message)
                        except ValueError:
                            pass

    def _deliver(self, message):
        """True when the message is done with (sent, or given up); False to try again."""
        now = time.monotonic()
        message.first_try = message.first_try or now
        try:
            message.send()
            return True
        except Exception as exc:
            if not message.must_deliver or now - message.first_try > DELIVERY_WINDOW \
                    or self._stopping:
                LOG.warning('Dropped %s: %s', message.what, exc)
                return True
            LOG.warning('Sending %s failed (%s); trying again in %.1fs', message.what, exc,
                        message.delay)
            with self._cond:
                self._cond.wait(message.delay)
            message.delay = min(message.delay * 2, RETRY_MAX_S)
            return False
