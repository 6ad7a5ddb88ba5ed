"""`inproc://`: the in-process bus of migrator-all.

oslo.messaging's own in-process driver (`fake://`) hands messages over correctly, but its
listeners look for new messages every 50 ms: in migrator-all every cast and every call waited
25 ms on average before anyone read it, and one live migration makes about ten of them — a
quarter of a second of orchestration overhead for nothing. This driver is that one with the
polling replaced by a wake-up: a sender notifies, a listener waiting for work wakes at once.

It builds on oslo.messaging's private `impl_fake` module (pinned in requirements.txt): a
change there shows up in the unit tests of this module, not in production.
"""

import threading
import time

import oslo_messaging
from oslo_messaging._drivers import base, impl_fake

# Longest a listener sleeps without news: bounds how late it notices stop() even if a
# notification were lost.
_MAX_WAIT = 1.0


class _Doorbell:
    """A generation counter with a condition: no wake-up is lost between a listener's last
    look at the queues and its going to sleep."""

    def __init__(self):
        self._cond = threading.Condition()
        self._generation = 0

    def ring(self):
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    @property
    def generation(self):
        return self._generation

    def wait(self, seen, timeout):
        with self._cond:
            if self._generation == seen:
                self._cond.wait(timeout)


DOORBELL = _Doorbell()


class InProcessListener(impl_fake.FakeListener):
    @base.batch_poll_helper
    def poll(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stopped.is_set():
            seen = DOORBELL.generation
            for target in self._targets:
                exchange = self._exchange_manager.get_exchange(target.exchange)
                ctxt, message, reply_q, requeue = exchange.poll(target, self._pool)
                if message is not None:
                    return impl_fake.FakeIncomingMessage(ctxt, message, reply_q, requeue)
            wait = _MAX_WAIT
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            DOORBELL.wait(seen, wait)
        return None

    def stop(self):
        super().stop()
        DOORBELL.ring()


class InProcessExchange(impl_fake.FakeExchange):
    def deliver_message(self, topic, ctxt, message, server=None, fanout=False,
                        reply_q=None):
        super().deliver_message(topic, ctxt, message, server=server, fanout=fanout,
                                reply_q=reply_q)
        DOORBELL.ring()


class InProcessExchangeManager(impl_fake.FakeExchangeManager):
    # Our own registry: fake:// users in the same process keep theirs.
    _exchanges_lock = threading.Lock()
    _exchanges: dict[str, impl_fake.FakeExchange] = {}

    def get_exchange(self, name):
        if name is None:
            name = self._default_exchange
        with self._exchanges_lock:
            if name not in self._exchanges:
                self._exchanges[name] = InProcessExchange(name)
            return self._exchanges[name]


class InProcessDriver(impl_fake.FakeDriver):
    def __init__(self, conf, url, default_exchange=None, allowed_remote_exmods=None):
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        self._exchange_manager = InProcessExchangeManager(default_exchange)

    def listen(self, target, batch_size, batch_timeout):
        exchange = target.exchange or self._default_exchange
        listener = InProcessListener(
            self._exchange_manager,
            [oslo_messaging.Target(topic=target.topic, server=target.server,
                                   exchange=exchange),
             oslo_messaging.Target(topic=target.topic, exchange=exchange)])
        return base.PollStyleListenerAdapter(listener, batch_size, batch_timeout)

    def listen_for_notifications(self, targets_and_priorities, pool, batch_size,
                                 batch_timeout):
        raise NotImplementedError('migrator sends no notifications over inproc://')
