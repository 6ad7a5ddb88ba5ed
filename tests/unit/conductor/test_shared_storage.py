"""The shared-storage proof (migrator.conductor.shared_storage): the answer does not wait
for the probe's removal, and the probe is still removed, or the failure logged."""

import logging
import threading

from migrator.conductor import shared_storage


class Agents:
    """create/check/remove_shared_probe of a target that writes the probe and a source
    that sees it; removal waits until `release` is set."""

    def __init__(self, fail_removal=False):
        self.release = threading.Event()
        self.removed = threading.Event()
        self.fail_removal = fail_removal
        self.calls = []

    def create_shared_probe(self, ctxt, host, directory):
        self.calls.append(('create', host))
        return '.migrator-shared-probe-0123456789abcdef'

    def check_shared_probe(self, ctxt, host, directory, name):
        self.calls.append(('check', host))
        return True

    def remove_shared_probe(self, ctxt, host, directory, name):
        self.release.wait(30)
        self.calls.append(('remove', host))
        self.removed.set()
        if self.fail_removal:
            raise RuntimeError('the agent went away')


def test_the_answer_comes_before_the_probe_is_removed():
    agents = Agents()
    assert shared_storage.is_shared(None, agents, 'src', 'dst', '/shared') is True
    # Answered while the removal is still held back.
    assert not agents.removed.is_set()
    agents.release.set()
    assert agents.removed.wait(30)
    assert agents.calls == [('create', 'dst'), ('check', 'src'), ('remove', 'dst')]


def test_a_probe_that_cannot_be_removed_is_logged(caplog):
    agents = Agents(fail_removal=True)
    agents.release.set()
    with caplog.at_level(logging.WARNING, logger='migrator.conductor.shared_storage'):
        assert shared_storage.is_shared(None, agents, 'src', 'dst', '/shared') is True
        assert agents.removed.wait(30)
        for thread in threading.enumerate():
            if thread.name.startswith('remove-probe-'):
                thread.join(30)
    assert 'Could not remove the shared-storage probe' in caplog.text
    assert 'the agent went away' in caplog.text
