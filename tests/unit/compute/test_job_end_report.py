"""Which job ends wake the agent's host report at once.

A live job's end moves a domain, so the host is reported at once. A cold migration's disk
copy moves none, and the conductor defines and starts the guest on this host the moment it
hears of the end: a report woken then would run against this daemon beside that start.
"""

from unittest import mock

from migrator.compute import manager as compute_manager

OUTCOME = {'success': True, 'error': None, 'stats': {}, 'volumes': ['/local/vm1.qcow2']}


def _agent():
    agent = compute_manager.ComputeManager('host2', mock.Mock(), mock.Mock())
    agent.outbox = mock.Mock()      # records what would be cast to the conductor
    return agent


def test_a_disk_copys_end_reaches_the_conductor_without_waking_a_report():
    agent = _agent()
    agent.copy_disks(None, 'm1', 'qemu+tcp://127.0.0.2/system',
                     [{'path': '/local/vm1.qcow2', 'target_path': '/local/vm1.qcow2'}],
                     None, 'conductor1')
    on_done = agent.driver.copy_disks.call_args.args[4]

    on_done(OUTCOME)

    assert not agent._wake.is_set()
    agent.outbox.put.assert_called_once()
    assert agent.outbox.put.call_args.kwargs['must_deliver'] is True
    assert agent.disk_copy_state(None, 'm1')['outcome'] == OUTCOME


def test_a_live_jobs_end_wakes_a_report():
    agent = _agent()
    _on_progress, on_done = agent._job_callbacks('m2', 'conductor1')

    on_done({'success': True, 'error': None, 'stats': {}})

    assert agent._wake.is_set()
    agent.outbox.put.assert_called_once()
