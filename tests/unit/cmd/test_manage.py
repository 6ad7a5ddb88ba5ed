"""migrator-manage against the real API served on a free port (and the DB for `db`)."""

import json
import socket
import threading

import pytest
from oslo_config import cfg

from migrator.cmd import client as api_client
from migrator.cmd import manage
from migrator.cmd.manage import migrations as manage_migrations
from migrator.common import states
from migrator.db import api as db_api
from tests.unit.api import fakes

CONF = cfg.CONF


@pytest.fixture
def run(api_url, capsys):
    """Runs migrator-manage with --url api_url; returns (exit code, stdout, stderr)."""

    def run(*argv, url=api_url):
        code = manage.main((['--url', url] if url else []) + list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(autouse=True)
def _fast_polling(monkeypatch):
    monkeypatch.setattr(manage_migrations, 'POLL_INTERVAL', 0.05)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# -- usage, connection and API errors -------------------------------------------------------


@pytest.mark.parametrize('argv', [[], ['host'], ['bogus'], ['migration', 'list', '--limit', '0'],
                                  ['host', 'list', '-f', 'yaml'], ['migration', 'show']])
def test_usage_errors_exit_2(run, argv):
    code, out, err = run(*argv)
    assert code == 2
    assert 'usage:' in err


def test_help_exits_0(run):
    code, out, err = run('--help')
    assert code == 0
    for command in ('db', 'host', 'instance', 'migration', 'sandbox'):
        assert command in out


def test_sandbox_commands_are_wired():
    args = manage.build_parser().parse_args(['sandbox', 'status', '-f', 'json'])
    assert callable(args.func)


def test_connection_refused(run):
    url = f'http://127.0.0.1:{_free_port()}'
    code, out, err = run('host', 'list', url=url)
    assert code == 1
    assert err.strip() == (f'ERROR: cannot reach the migrator API at {url}: is migrator-api '
                           'or migrator-all running?')
    assert 'Traceback' not in err


def test_url_from_environment(run, api_url, cluster, monkeypatch):
    monkeypatch.setenv('MIGRATOR_URL', api_url)
    code, out, err = run('host', 'list', url=None)
    assert code == 0, err
    assert 'host1' in out


def test_api_error_message_on_stderr(run, cluster):
    code, out, err = run('host', 'show', 'nope')
    assert code == 1
    assert out == ''
    assert "Host 'nope' is not known" in err
    assert 'Traceback' not in err


def test_missing_config_file(run, tmp_path):
    code, out, err = run('--config-file', str(tmp_path / 'missing.conf'), 'host', 'list')
    assert code == 1
    assert 'missing.conf' in err


# -- hosts and instances --------------------------------------------------------------------


def test_host_list_table(run, cluster):
    code, out, err = run('host', 'list')
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith('+-') and lines[1].startswith('| Name ')
    assert 'State' in lines[1] and 'Instances' in lines[1]
    host1 = next(line for line in lines if '| host1 ' in line)
    assert '| up ' in host1 and '| enabled ' in host1
    assert '1024 / 8192' in host1


def test_host_list_json(run, cluster):
    code, out, err = run('host', 'list', '-f', 'json')
    assert code == 0, err
    hosts = json.loads(out)['hosts']
    assert [h['name'] for h in hosts] == ['host1', 'host2', 'host3']


def test_host_show(run, cluster):
    code, out, err = run('host', 'show', 'host1')
    assert code == 0, err
    assert '| name ' in out and '| host1 ' in out
    assert '| memory_mb_free ' in out and '6656' in out


def test_instance_list_and_show(run, cluster):
    code, out, err = run('instance', 'list', '--host', 'host1')
    assert code == 0, err
    assert 'vm1' in out and 'vm2' in out and 'vm3' not in out
    code, out, err = run('instance', 'show', 'vm3', '-f', 'json')
    assert code == 0, err
    assert json.loads(out)['host'] == 'host2'


def test_instance_show_lists_what_its_live_migrations_showed(run, cluster):
    code, out, err = run('instance', 'show', 'vm3')
    assert code == 0, err
    assert 'Observed in live migrations: none yet' in out
    cluster.observation_create({'instance_uuid': fakes.uuid_of('vm3'), 'migration_id': 'm-7',
                                'dirty_rate': 3 * 2 ** 20, 'iterations': 5,
                                'duration_seconds': 25.3, 'downtime_ms': 31,
                                'bandwidth_mib': 8, 'overhead_seconds': 4.7,
                                'effective_rate': int(9.6 * 2 ** 20)})
    code, out, err = run('instance', 'show', 'vm3')
    assert code == 0, err
    table = out.split('Observed in live migrations (newest first):')[1]
    assert 'm-7' in table and '| 3.0 ' in table and '| 25.3 ' in table and '| 31 ' in table
    assert 'Overhead s' in table and '| 4.7 ' in table
    assert 'Effective MiB/s' in table and '| 9.6 ' in table
    code, out, err = run('instance', 'show', 'vm3', '-f', 'json')
    assert json.loads(out)['observations'][0]['iterations'] == 5


def test_dry_run_prints_the_convergence_forecast(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--dry-run', '--bandwidth', '8')
    assert code == 0, err
    forecast = out.split('Convergence forecast:')[1]
    assert 'Verdict:' in forecast and 'converges' in forecast
    assert 'Dirty rate:' in forecast and '(default' in forecast
    assert 'Bandwidth:' in forecast and '(bandwidth_mib)' in forecast
    assert 'Fixed overhead:      2.0 s (default: [planner] migration_overhead_seconds)' \
        in forecast
    assert 'Effective rate:      8.0 MiB/s (default: no migration observed under 8 MiB/s' \
        in forecast
    assert conductor.dry_run_controls[-1]['bandwidth_mib'] == 8
    assert 'BORDERLINE' not in forecast and 'Dirty rate interval' not in forecast


def _borderline_dry_run(run, conductor, rate_mib, low_mib, high_mib):
    """The forecast part of `migration create --dry-run --bandwidth 8` of a guest measured
    at rate_mib MiB/s within low_mib-high_mib."""
    conductor.dirty_rate = int(rate_mib * 2 ** 20)
    conductor.dirty_rate_interval = (int(low_mib * 2 ** 20), int(high_mib * 2 ** 20))
    code, out, err = run('migration', 'create', 'vm1', '--dry-run', '--bandwidth', '8')
    assert code == 0, err
    return out.split('Convergence forecast:')[1]


def test_dry_run_says_a_forecast_is_borderline(run, cluster, conductor):
    forecast = _borderline_dry_run(run, conductor, 7, 5, 9.5)
    assert ('Verdict:             converges_with_auto_converge (BORDERLINE: converges at the '
            "low end of the dirty rate's interval, converges_with_auto_converge at the high "
            'end)') in forecast
    assert 'Why:                 borderline: ' in forecast
    assert 'Dirty rate interval: 5.0 MiB/s to 9.5 MiB/s' in forecast
    assert 'Suggested action:    auto_converge' in forecast


def test_dry_run_of_a_borderline_guest_likely_to_converge(run, cluster, conductor):
    # 5 MiB/s against 8 converges; the interval reaches 7.5, where the passes stop shrinking.
    forecast = _borderline_dry_run(run, conductor, 5, 3, 7.5)
    assert ('Verdict:             converges (BORDERLINE: converges at the low end of the dirty '
            "rate's interval, converges_with_auto_converge at the high end)") in forecast
    assert 'With these controls: completes' in forecast
    # The help the high end needs, in case.
    assert 'Suggested action:    auto_converge' in forecast


def test_dry_run_says_whether_the_guest_writes_in_bursts(run, cluster, conductor):
    conductor.writes_in_bursts = True
    code, out, err = run('migration', 'create', 'vm1', '--dry-run', '--bandwidth', '8')
    assert code == 0, err
    assert 'Guest writes:        in bursts with quiet stretches between' in out
    conductor.writes_in_bursts = False
    code, out, err = run('migration', 'create', 'vm1', '--dry-run', '--bandwidth', '8')
    assert 'Guest writes:        steadily (no bursts that recur each second)' in out
    conductor.writes_in_bursts = None      # not measured: nothing said
    code, out, err = run('migration', 'create', 'vm1', '--dry-run', '--bandwidth', '8')
    assert 'Guest writes' not in out


# -- migrations -----------------------------------------------------------------------------


def test_migration_create(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--target-host', 'host2')
    assert code == 0, err
    [mid] = conductor.casts
    assert '| id ' in out and mid in out
    assert '| accepted ' in out
    assert 'Events:' in out


def test_migration_create_json(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--block-migration', 'yes',
                         '-f', 'json')
    assert code == 0, err
    migration = json.loads(out)
    assert migration['id'] == conductor.casts[0]
    assert migration['block_migration'] is True


def test_migration_create_cold(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--type', 'cold', '-f', 'json')
    assert code == 0, err
    migration = json.loads(out)
    assert migration['type'] == 'cold' and migration['id'] == conductor.casts[0]


def test_migration_create_refused(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--type', 'cold',
                         '--block-migration', 'no')
    assert code == 1
    assert "'block_migration' applies to live migrations only" in err
    conductor.select_error = fakes.no_valid_host('vm1', 'host3 has no room')
    code, out, err = run('migration', 'create', 'vm1', '--target-host', 'host3')
    assert code == 1
    assert 'host3 has no room' in err
    assert cluster.migration_list() == []


def test_migration_list_and_show(run, cluster):
    ids = []
    for name in ('vm1', 'vm2', 'vm3'):
        code, out, err = run('migration', 'create', name, '-f', 'json')
        assert code == 0, err
        ids.insert(0, json.loads(out)['id'])
    cluster.migration_transition(ids[0], [states.ACCEPTED], states.FAILED, detail='test',
                                 values={'error': 'broken'})

    code, out, err = run('migration', 'list')
    assert code == 0, err
    assert [line.split('|')[1].strip() for line in out.splitlines()[3:-1]] == ids

    code, out, err = run('migration', 'list', '--limit', '2')
    assert code == 0, err
    assert ids[0] in out and ids[1] in out and ids[2] not in out
    assert f'add --marker {ids[1]}' in out

    code, out, err = run('migration', 'list', '--limit', '2', '--marker', ids[1], '-f',
                         'json')
    assert code == 0, err
    page = json.loads(out)
    assert [m['id'] for m in page['migrations']] == [ids[2]]
    assert 'next' not in page

    code, out, err = run('migration', 'list', '--status', 'failed', '--host', 'host2')
    assert code == 0, err
    assert ids[0] in out and ids[1] not in out

    code, out, err = run('migration', 'show', ids[0])
    assert code == 0, err
    assert '| failed ' in out and '| broken ' in out
    events = out.split('Events:')[1]
    assert '| accepted ' in events and '| failed ' in events and '| test ' in events

    code, out, err = run('migration', 'list', '--status', 'done')
    assert code == 1
    assert "status 'done' is not a migration state" in err

    code, out, err = run('migration', 'show', 'nope')
    assert code == 1
    assert "Migration 'nope' is not known" in err


class _SeenByCli:
    """What `--wait` has fetched so far. The stand-in conductor moves on only once the CLI
    has seen its last step, so the CLI prints every step however slow the machine is."""

    def __init__(self, monkeypatch):
        self._changed = threading.Condition()
        self._seen = []
        fetch = api_client.Client.migration_get

        def migration_get(client, migration_id):
            migration = fetch(client, migration_id)
            with self._changed:
                self._seen.append((migration['status'], migration.get('progress')))
                self._changed.notify_all()
            return migration

        monkeypatch.setattr(api_client.Client, 'migration_get', migration_get)

    def wait_for(self, status, progress=None):
        # On a timeout the task goes on; the test's assertions then say what was missed.
        with self._changed:
            self._changed.wait_for(lambda: any(
                s == status and (progress is None or p == progress) for s, p in self._seen),
                timeout=30)


def _drive(db, outcome, seen):
    """A stand-in conductor task: moves the migration along in the DB, one step each time
    the CLI has seen the last."""

    def task(mid):
        seen.wait_for(states.ACCEPTED)
        db.migration_transition(mid, [states.ACCEPTED], states.SCHEDULING)
        seen.wait_for(states.SCHEDULING)
        if outcome == states.FAILED:
            db.migration_transition(mid, [states.SCHEDULING], states.FAILED, detail='test',
                                    values={'error': 'No host can take instance vm1: full'})
            return
        db.migration_transition(mid, [states.SCHEDULING], states.PREPARING,
                                values={'target_host': 'host2'})
        db.migration_transition(mid, [states.PREPARING], states.RUNNING)
        seen.wait_for(states.RUNNING)
        db.migration_update_progress(mid, {'progress': 50.0, 'eta_seconds': 1.5,
                                           'memory_total': 268435456})
        seen.wait_for(states.RUNNING, 50.0)
        db.migration_transition(mid, [states.RUNNING], states.FINISHING)
        seen.wait_for(states.FINISHING)
        db.migration_transition(mid, [states.FINISHING], states.COMPLETED)

    return task


def test_migration_create_wait_completed(run, cluster, conductor, monkeypatch):
    conductor.on_migrate = _drive(cluster, states.COMPLETED, _SeenByCli(monkeypatch))
    code, out, err = run('migration', 'create', 'vm1', '--wait')
    assert code == 0, (out, err)
    lines = out.splitlines()
    assert 'accepted' in lines[0] and 'accepted' in lines[1]
    assert any(' running 50% ETA 1.5 s' in line for line in lines), out
    assert any(' finishing' in line for line in lines), out
    assert ' completed 100%' in lines[-2]
    assert lines[-1].endswith('completed: instance vm1 now runs on host2.')
    assert err == ''
    assert cluster.instance_get('vm1')['host'] == 'host2'


def test_migration_create_wait_failed(run, cluster, conductor, monkeypatch):
    conductor.on_migrate = _drive(cluster, states.FAILED, _SeenByCli(monkeypatch))
    code, out, err = run('migration', 'create', 'vm1', '--wait', '-f', 'json')
    assert code == 1
    assert json.loads(out)['status'] == states.FAILED
    assert 'No host can take instance vm1: full' in err
    assert ' failed' in err  # the progress lines go to stderr with -f json


# -- db -------------------------------------------------------------------------------------


def test_db_sync_and_version(run, tmp_path, monkeypatch):
    previous = db_api.set_database(None)
    try:
        path = tmp_path / 'manage.sqlite'
        config = tmp_path / 'migrator.conf'
        config.write_text(f'[database]\nconnection = sqlite:///{path}\n')
        base = ['--config-file', str(config), 'db']
        code, out, err = run(*base, 'version', url=None)
        assert code == 0, err
        assert out.startswith('None')
        code, out, err = run(*base, 'sync', url=None)
        assert code == 0, err
        head = db_api.get_database().head()
        assert head in out and str(path) in out
        code, out, err = run(*base, 'version', '-f', 'json', url=None)
        assert code == 0, err
        assert json.loads(out) == {'revision': head}
    finally:
        db_api.set_database(previous)


def test_migration_abort_wait(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '-f', 'json')
    mid = json.loads(out)['id']

    code, out, err = run('migration', 'abort', mid, '--wait')

    assert code == 0, err
    assert f'Migration {mid} cancelled: instance vm1 runs on host1.' in out
    assert cluster.migration_get(mid)['status'] == states.CANCELLED


def test_migration_abort_refused(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '-f', 'json')
    mid = json.loads(out)['id']
    assert run('migration', 'abort', mid)[0] == 0

    code, out, err = run('migration', 'abort', mid)

    assert code == 1
    assert f'Migration {mid} already ended cancelled; there is nothing to abort.' in err
    assert 'Traceback' not in err
    code, out, err = run('migration', 'abort', 'nope')
    assert code == 1 and "Migration 'nope' is not known" in err


def test_client_lists_follow_pagination(api_url, cluster):
    """The CLI's host, instance and server-group lists show everything, page by page."""
    CONF.set_override('default_limit', 1, group='api')
    api = api_client.Client(api_url)
    try:
        first = api._request('GET', '/v1/hosts')[1]
        assert len(first['hosts']) == 1 and 'marker=host1' in first['next']
        assert [h['name'] for h in api.host_list()] == ['host1', 'host2', 'host3']
        assert [i['name'] for i in api.instance_list()] == ['vm1', 'vm2', 'vm3']
        assert [i['name'] for i in api.instance_list(host='host1')] == ['vm1', 'vm2']
        for name in ('g1', 'g2'):
            api.server_group_create(name, 'affinity')
        assert [g['name'] for g in api.server_group_list()] == ['g1', 'g2']
    finally:
        api.close()
        CONF.clear_override('default_limit', group='api')
