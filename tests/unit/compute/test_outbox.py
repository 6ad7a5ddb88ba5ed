"""The agent's outbox: reports leave in order from a thread of their own."""

import threading

from migrator.compute import outbox as outbox_mod


def _drain(box, timeout=10):
    done = threading.Event()
    box.put(done.set, 'marker')
    assert done.wait(timeout), 'the outbox did not send its messages'


def test_messages_leave_in_order():
    box = outbox_mod.Outbox('t')
    sent = []
    for i in range(5):
        box.put(lambda i=i: sent.append(i), f'message {i}')
    _drain(box)
    assert sent == [0, 1, 2, 3, 4]
    box.stop()


def test_put_returns_while_a_send_blocks_and_a_newer_sample_replaces_the_waiting_one():
    box = outbox_mod.Outbox('t')
    release = threading.Event()
    blocked = threading.Event()
    sent = []

    def stuck():
        blocked.set()
        release.wait(10)
        sent.append('first')

    box.put(stuck, 'a send that blocks (the broker is down)')
    assert blocked.wait(10)
    # These return at once although the sending thread is stuck.
    box.put(lambda: sent.append('progress 1'), 'p1', key='progress')
    box.put(lambda: sent.append('job end'), 'end', must_deliver=True)
    box.put(lambda: sent.append('progress 2'), 'p2', key='progress')
    assert box.pending() == 3     # the stuck one, one progress sample, the job end
    release.set()
    _drain(box)
    assert sent == ['first', 'progress 2', 'job end']
    box.stop()


def test_a_job_end_that_fails_is_sent_again(monkeypatch):
    box = outbox_mod.Outbox('t')
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError('broker unreachable')

    monkeypatch.setattr(outbox_mod._Message, '__init__', _fast_retry(outbox_mod._Message.__init__))
    box.put(flaky, 'the job end', must_deliver=True)
    _drain(box)
    assert len(attempts) == 3
    box.stop()


def test_a_progress_sample_that_fails_is_dropped():
    box = outbox_mod.Outbox('t')
    attempts = []

    def failing():
        attempts.append(1)
        raise RuntimeError('broker unreachable')

    box.put(failing, 'a sample', key='progress')
    _drain(box)
    assert attempts == [1]
    box.stop()


def _fast_retry(init):
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.delay = 0.01
    return wrapped
