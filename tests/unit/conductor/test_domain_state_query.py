"""A task asks an agent where an instance runs in short tries, so that an answer lost in a
broker restart costs one try instead of [conductor] compute_rpc_timeout."""

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from migrator.common import exceptions, states
from migrator.conductor.tasks import base

CONF = cfg.CONF


class FlakyComputeAPI:
    """Answers get_domain_state after `lost` calls whose replies never came."""

    def __init__(self, lost, answer=None, error=None):
        self.lost, self.answer, self.error = lost, answer, error
        self.timeouts = []

    def get_domain_state(self, ctxt, host, uuid, rpc_timeout=None):
        self.timeouts.append(rpc_timeout)
        if self.error:
            raise self.error
        if len(self.timeouts) <= self.lost:
            raise messaging.MessagingTimeout('reply lost')
        return self.answer


def _task(compute_api):
    migration = {'id': 'm1', 'status': states.FINISHING, 'conductor': None, 'type': 'live'}
    return base.MigrationTask(ctxt=None, db=None, compute_api=compute_api, migration=migration)


@pytest.fixture
def timeouts():
    CONF.set_override('compute_rpc_timeout', 60, 'conductor')
    CONF.set_override('call_try_timeout', 10, 'conductor')
    yield
    CONF.clear_override('compute_rpc_timeout', 'conductor')
    CONF.clear_override('call_try_timeout', 'conductor')


def test_a_lost_answer_is_asked_again_with_the_short_timeout(timeouts):
    answer = {'exists': True, 'active': True, 'incoming': False}
    api = FlakyComputeAPI(lost=2, answer=answer)
    assert _task(api).domain_state('host2', 'uuid') == answer
    assert api.timeouts == [10, 10, 10]


def test_no_answer_within_compute_rpc_timeout_means_cannot_tell(timeouts):
    # The whole budget is one try: after it times out there is no time for another.
    CONF.set_override('compute_rpc_timeout', 5, 'conductor')
    api = FlakyComputeAPI(lost=100)
    assert _task(api).domain_state('host2', 'uuid') is None
    assert api.timeouts == [5]


def test_an_agent_whose_hypervisor_is_not_connected_yet_is_asked_again(timeouts):
    answer = {'exists': False, 'active': False, 'incoming': False}
    api = FlakyComputeAPI(lost=0, answer=answer)
    errors = [exceptions.HypervisorError(host='host1', reason='not connected')]

    def get_domain_state(ctxt, host, uuid, rpc_timeout=None):
        api.timeouts.append(rpc_timeout)
        if errors:
            raise errors.pop()
        return answer
    api.get_domain_state = get_domain_state
    assert _task(api).domain_state('host1', 'uuid') == answer
    assert api.timeouts == [10, 10]


def test_an_agent_error_is_not_asked_again(timeouts):
    api = FlakyComputeAPI(lost=0, error=RuntimeError('libvirt is down'))
    assert _task(api).domain_state('host2', 'uuid') is None
    assert api.timeouts == [10]
