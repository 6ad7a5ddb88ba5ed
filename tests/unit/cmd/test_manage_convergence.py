"""migrator-manage: convergence options, force-complete and the samples in `show`."""

import json

import pytest

from migrator.cmd import manage
from migrator.cmd.manage import migrations as manage_migrations
from migrator.common import states


@pytest.fixture
def run(api_url, capsys, monkeypatch):
    """Runs migrator-manage against the API; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(manage_migrations, 'POLL_INTERVAL', 0.05)

    def run(*argv):
        code = manage.main(['--url', api_url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _running(db, mid):
    db.migration_transition(mid, [states.ACCEPTED], states.SCHEDULING)
    db.migration_transition(mid, [states.SCHEDULING], states.PREPARING,
                            values={'target_host': 'host2'})
    db.migration_transition(mid, [states.PREPARING], states.RUNNING)


def test_create_with_controls(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--max-downtime', '300',
                         '--downtime-steps', '3', '--bandwidth', '16', '--auto-converge',
                         '--no-post-copy', '--completion-timeout', '120',
                         '--timeout-action', 'force_complete', '-f', 'json')
    assert code == 0, err
    assert json.loads(out)['convergence'] == {
        'max_downtime_ms': 300, 'downtime_steps': 3, 'bandwidth_mib': 16,
        'auto_converge': True, 'post_copy': False, 'completion_timeout_per_gib': 120,
        'timeout_action': 'force_complete'}


def test_create_with_a_bad_control_is_refused(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--max-downtime', '0')
    assert code == 1
    assert "field 'max_downtime_ms' must be at least 1, not 0" in err
    assert cluster.migration_list() == []


def test_force_complete(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '-f', 'json')
    mid = json.loads(out)['id']

    code, out, err = run('migration', 'force-complete', mid)
    assert code == 1
    assert 'is a live migration in state accepted' in err
    assert conductor.force_completes == []

    _running(cluster, mid)
    code, out, err = run('migration', 'force-complete', mid)
    assert code == 0, err
    assert out.strip() == (f'Migration {mid} forced to complete: the guest is paused on the '
                           'source so the last copy finishes; it resumes on the target.')
    assert conductor.force_completes == [mid]


def test_force_complete_wait_follows_to_the_end(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '-f', 'json')
    mid = json.loads(out)['id']
    _running(cluster, mid)
    conductor.force_result = {'forced': 'post_copy'}

    def finish(*_args):
        cluster.migration_transition(mid, [states.RUNNING], states.POST_COPY)
        cluster.migration_transition(mid, [states.POST_COPY], states.FINISHING)
        cluster.migration_transition(mid, [states.FINISHING], states.COMPLETED)
        return conductor.force_result

    conductor.force_complete = finish
    code, out, err = run('migration', 'force-complete', mid, '--wait')
    assert code == 0, err
    assert 'switched to post-copy' in out.splitlines()[0]
    assert out.splitlines()[-1].endswith('completed: instance vm1 now runs on host2.')


def test_show_lists_the_newest_samples(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--bandwidth', '8', '-f', 'json')
    mid = json.loads(out)['id']
    _running(cluster, mid)
    for i in range(12):
        cluster.migration_update_progress(mid, {
            'progress': 5.0 * i, 'data_remaining': (12 - i) * 2 ** 20, 'iteration': 1 + i // 4,
            'dirty_rate': 2 ** 20, 'transfer_rate': 8 * 2 ** 20, 'downtime_limit_ms': 50,
            'eta_seconds': 12.0 - i}, sample=True)

    code, out, err = run('migration', 'show', mid)
    assert code == 0, err
    assert 'bandwidth_mib=8' in out
    assert '| samples_count ' in out and '| 12 ' in out
    assert 'Samples (12 kept; the newest 10' in out
    table = out.split('Samples (')[1]
    assert '| 55% ' in table and '| 5% ' not in table   # the two oldest are left out
    assert '8.0 MiB/s' in table and '1.0 MiB/s' in table and '50 ms' in table
