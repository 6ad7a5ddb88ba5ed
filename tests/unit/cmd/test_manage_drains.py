"""migrator-manage host drain|undrain|drain-status|drain-cancel against the real API."""

import json
import threading

import pytest

from migrator.cmd import manage
from migrator.cmd.manage import drains as manage_drains
from migrator.common import states
from tests.unit.api import fakes


@pytest.fixture
def run(api_url, capsys):
    def run(*argv):
        code = manage.main(['--url', api_url] + list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(autouse=True)
def _fast_polling(monkeypatch):
    monkeypatch.setattr(manage_drains, 'POLL_INTERVAL', 0.05)


@pytest.fixture
def conductor_moves(cluster, conductor, monkeypatch):
    """A conductor that, for each job cast to it, moves every guest to host3 except those
    named in `refuse` (which fail with a reason), as the real one records outcomes."""
    refuse = set()
    threads = []

    def drain(ctxt, drain_id):
        conductor.drains.append(drain_id)

        def work():
            job = cluster.drain_transition(drain_id, [states.DRAIN_ACCEPTED], states.DRAIN_RUNNING,
                                           values={'conductor': 'c1'})
            for item in job['items']:
                if item['instance_name'] in refuse:
                    cluster.drain_item_update(item['id'], [states.DRAIN_ITEM_PENDING], {
                        'status': states.DRAIN_ITEM_FAILED,
                        'reason': 'live: no host can take it: host3 has 0 MiB free'})
                    continue
                target = item['target_host'] or 'host3'
                cluster.drain_item_update(item['id'], [states.DRAIN_ITEM_PENDING], {
                    'status': states.DRAIN_ITEM_MOVED, 'target_host': target,
                    'migration_type': 'live',
                    'reason': 'live migration completed'})
                cluster.instance_set_host(item['instance_uuid'], target)
            end = states.DRAIN_PARTIAL if refuse & {i['instance_name'] for i in job['items']} \
                else states.DRAIN_COMPLETED
            cluster.drain_transition(drain_id, [states.DRAIN_RUNNING], end, conductor='c1')

        thread = threading.Thread(target=work)
        thread.start()
        threads.append(thread)

    monkeypatch.setattr(conductor, 'drain', drain)
    yield refuse
    for thread in threads:
        thread.join(10)


def test_drain_without_wait_prints_the_accepted_job(run, cluster, conductor):
    code, out, err = run('host', 'drain', 'host1', '--mode', 'live_then_cold',
                         '--target-host', 'host2', '--target-host', 'host3',
                         '--max-parallel', '3')
    assert code == 0, err
    assert 'live_then_cold' in out and 'vm1' in out and 'vm2' in out
    job = cluster.drain_latest('host1')
    assert job['target_hosts'] == ['host2', 'host3'] and job['max_parallel'] == 3
    assert conductor.drains == [job['id']]


def test_drain_wait_follows_to_completed(run, cluster, conductor_moves):
    code, out, err = run('host', 'drain', 'host1', '--wait')
    assert code == 0, err
    assert 'accepted; waiting for it to end' in out
    assert 'vm1: moved to host3' in out and 'vm2: moved to host3' in out
    assert out.strip().splitlines()[-1].endswith('ended completed: 2 guests: 2 moved.')


def test_drain_wait_partial_exits_1_with_reasons(run, cluster, conductor_moves):
    conductor_moves.add('vm2')
    code, out, err = run('host', 'drain', 'host1', '--wait')
    assert code == 1
    assert 'ended partial: 2 guests: 1 moved, 1 failed.' in err
    assert 'vm2: failed: live: no host can take it: host3 has 0 MiB free' in err


def test_drain_status_and_json(run, cluster, conductor_moves):
    run('host', 'drain', 'host1', '--wait')
    code, out, err = run('host', 'drain-status', 'host1')
    assert code == 0, err
    assert 'completed' in out and 'moved' in out and 'host3' in out
    code, out, err = run('host', 'drain-status', 'host1', '-f', 'json')
    assert json.loads(out)['status'] == 'completed'


def test_drain_errors(run, cluster, conductor):
    code, out, err = run('host', 'drain', 'nohost')
    assert code == 1 and "Host 'nohost' is not known" in err
    code, out, err = run('host', 'drain', 'host1', '--max-parallel', '0')
    assert code == 2 and 'usage:' in err
    code, out, err = run('host', 'drain-status', 'host2')
    assert code == 1 and 'has never been drained' in err
    run('host', 'drain', 'host1')
    code, out, err = run('host', 'drain', 'host1')
    assert code == 1 and 'already has a drain job' in err
    code, out, err = run('host', 'drain-cancel', 'host1')
    assert code == 0, err
    assert 'cancelled' in out


def test_undrain_return_wait_brings_guests_back(run, cluster, conductor_moves):
    run('host', 'drain', 'host1', '--wait')
    assert fakes.uuid_of('vm1') in {i['uuid'] for i in cluster.instance_list(host='host3')}

    code, out, err = run('host', 'undrain', 'host1', '--return-guests', '--wait')
    assert code == 0, err
    assert 'Host host1 is enabled.' in out
    assert 'vm1: moved to host1' in out and 'vm2: moved to host1' in out
    assert sorted(i['name'] for i in cluster.instance_list(host='host1')) == ['vm1', 'vm2']


def test_undrain_without_return(run, cluster, conductor):
    code, out, err = run('host', 'undrain', 'host2')
    assert code == 0, err
    assert out.strip() == 'Host host2 is enabled.'
