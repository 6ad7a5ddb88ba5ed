"""Rebalancing a skewed sandbox cluster through the whole service and the CLI.

Three sandbox hosts, three small guests all on the first: `plan create` proposes moves and
moves nothing; `plan apply --wait` runs them as live migrations, jobset by jobset; afterwards
the cluster's score is lower, and every guest runs (and ticks) on exactly one host.
"""

import json
import os
import subprocess
import sys

import pytest

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

MANAGE = os.path.join(os.path.dirname(sys.executable), 'migrator-manage')
GUESTS = 3


@pytest.fixture(scope='module')
def skewed(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('rebalance-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=3, guests_per_host=0, memory_mib=128, dirty_rate_mib=2,
                       state_dir=state_dir)
        names = [cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1',
                                       disks='shared', wait=False)['name']
                 for _ in range(GUESTS)]
        cluster = cluster_mod.load(state_dir)
        for name in names:
            probe.wait_for_tick(name, cluster=cluster, timeout=120)
        yield cluster
    finally:
        cluster_mod.down(state_dir)


def _manage(url, *argv, timeout=60):
    result = subprocess.run([MANAGE, '--url', url, *argv], capture_output=True, text=True,
                            timeout=timeout)
    assert 'Traceback' not in result.stderr, result.stderr
    return result


def _guests(cluster):
    return [g['name'] for g in cluster['guests']]


def test_rebalance_a_skewed_cluster(skewed, tmp_path):
    port = processes.free_port()
    url = f'http://127.0.0.1:{port}'
    conf = processes.write_config(tmp_path / 'all.conf', {
        'DEFAULT': {'host': 'all-in-one'},
        'database': {'connection': f'sqlite:///{tmp_path}/migrator.sqlite'},
        'api': {'port': port},
        'all': {'sandbox_state_dir': skewed['state_dir']},
        'compute': {'report_interval': 2, 'progress_interval': 0.2},
        'libvirt': {'virt_type': 'qemu'},
        'planner': {'apply_poll_interval': 0.2},
    })
    proc = processes.ServiceProcess('migrator-all', conf, tmp_path / 'all.log')
    try:
        api = processes.ApiClient(url)
        processes.wait_until(api.answers, 60, 'the API to answer')
        processes.wait_until(lambda: api.hosts_up([h['name'] for h in skewed['hosts']]), 60,
                             'every compute agent to report')
        processes.wait_until(lambda: all(api.instance(n) for n in _guests(skewed)), 30,
                             'the guests to be reported')
        ticks = {n: probe.latest_tick(n, cluster=skewed) for n in _guests(skewed)}

        created = _manage(url, 'plan', 'create', '-f', 'json')
        assert created.returncode == 0, created.stderr
        plan = json.loads(created.stdout)
        assert plan['status'] == 'planned'
        assert plan['score_after'] < plan['score_before']
        assert len(plan['moves']) == 2, plan
        assert {m['source_host'] for m in plan['moves']} == {'sandbox-host1'}
        assert {m['target_host'] for m in plan['moves']} == {'sandbox-host2', 'sandbox-host3'}
        # Planning moved nothing.
        assert all(probe.where(n, cluster=skewed) == ['sandbox-host1']
                   for n in _guests(skewed))

        applied = _manage(url, 'plan', 'apply', plan['id'], '--wait', '-f', 'json',
                          timeout=600)
        assert applied.returncode == 0, (applied.stdout, applied.stderr)
        done = json.loads(applied.stdout)
        assert done['status'] == 'applied', done
        for move in done['moves']:
            assert move['status'] == 'completed', move
            migration = api.get(f"/v1/migrations/{move['migration_id']}").json()
            assert migration['status'] == 'completed'
            assert probe.where(move['instance_name'], cluster=skewed) == [move['target_host']]
        first, second = sorted(done['moves'], key=lambda m: m['jobset'])
        assert first['jobset'] < second['jobset']  # both leave sandbox-host1
        assert first['finished_at'] <= second['started_at']

        # Every guest runs on exactly one host, defined nowhere else, and still ticks.
        for name in _guests(skewed):
            assert len(probe.where(name, cluster=skewed)) == 1, name
            assert len(probe.where(name, cluster=skewed, active_only=False)) == 1, name
            probe.wait_for_tick(name, above=ticks[name] + 1, cluster=skewed, timeout=60)

        # The cluster as the service now sees it scores lower than before the plan.
        spread = {probe.where(n, cluster=skewed)[0] for n in _guests(skewed)}
        assert spread == {'sandbox-host1', 'sandbox-host2', 'sandbox-host3'}
        processes.wait_until(
            lambda: {api.instance(n)['host'] for n in _guests(skewed)} == spread, 30,
            'the agents to report the guests on their new hosts')
        snapshot = _manage(url, 'cluster', 'snapshot')
        assert snapshot.returncode == 0, snapshot.stderr
        path = tmp_path / 'cluster.json'
        path.write_text(snapshot.stdout)
        now = _manage(url, 'rebalance', 'plan', '--snapshot', str(path), '-f', 'json')
        assert now.returncode == 0, now.stderr
        current = json.loads(now.stdout)
        # The offline plan has the shape of GET /v1/plans/{id}: scores are plain totals.
        assert current['score_before'] == pytest.approx(done['score_after'], abs=1e-6)
        assert current['score_before'] < plan['score_before']
        assert current['moves'] == []
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-6000:]}')
        raise
    finally:
        proc.stop()


pytestmark = pytest.mark.functional
