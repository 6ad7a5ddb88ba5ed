"""The CI slice of the fault suite: one scenario of each fault class on a live migration
in its running state -- a conductor killed and started again, the source's libvirtd
restarted, the broker restarted, a conductor killed for good while the other takes over,
and the job's end message lost. Each then passes the checks of scenarios.run: the migration
ends (within SETTLE_BOUND s of the fault clearing), the guest runs on exactly one host and
ticks, audit finds nothing, no slot or claim is held.

Real parts only: a two-host sandbox, a private RabbitMQ node and PostgreSQL cluster, and
api, two conductors and two agents as separate processes. The whole matrix runs as
`python -m benchmarks.faults`.
"""

import os

import pytest
from oslo_config import cfg

from migrator import conf  # noqa: F401 - registers the options
from tests.functional.faults import deployment, scenarios

CONF = cfg.CONF


def _missing(option, group='conductor'):
    """The mechanism behind [group] option is not on this branch."""
    return option not in CONF[group]


@pytest.fixture(scope='module')
def dep(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    d = deployment.Deployment(tmp_path_factory.mktemp('faults'))
    d.start()
    try:
        yield d
    finally:
        d.stop()


def _passes(dep, fault, kind='live', point='running', outcomes=('completed', 'failed')):
    result = scenarios.run(dep, scenarios.Scenario(scenarios.fault(fault), kind, point))
    if not result.ok or result.outcome not in outcomes:
        print(dep.logs())
    assert result.ok, result.problems
    assert result.outcome in outcomes, result
    return result


def test_conductor_killed_while_running(dep):
    _passes(dep, 'conductor_kill')


def test_source_libvirtd_restarted_while_running(dep):
    _passes(dep, 'source_libvirtd_restart')


def test_rabbitmq_restarted_while_running(dep):
    _passes(dep, 'rabbitmq_restart')


@pytest.mark.skipif(_missing('takeover_after'),
                    reason='conductor takeover ([conductor] takeover_after, branch '
                           'faults-conductor) is not on this branch')
def test_conductor_taken_over_while_running(dep):
    _passes(dep, 'conductor_takeover')


@pytest.mark.skipif(_missing('job_poll_interval'),
                    reason='the backstop for a lost job end ([conductor] job_poll_interval, '
                           'branch faults-conductor) is not on this branch')
def test_job_end_message_lost(dep):
    _passes(dep, 'job_end_dropped')


pytestmark = pytest.mark.functional
