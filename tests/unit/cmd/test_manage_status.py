"""migrator-manage status: readiness, and each conductor and agent with its heartbeat and
version."""

import datetime
import json

import pytest
from oslo_config import cfg

from migrator.api import health, microversion, openapi
from migrator.cmd import manage
from migrator.cmd.manage import status as status_cmd
from migrator.common import version
from tests.unit.api import fakes

CONF = cfg.CONF


@pytest.fixture
def run(api_url, capsys, monkeypatch):
    monkeypatch.setattr(health, 'CACHE_SECONDS', 0)

    def run(*argv):
        # The bus is the in-process one here (always there); main() re-reads the config.
        code = manage.main(['--url', api_url] + list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(autouse=True)
def in_process_bus():
    import oslo_messaging as messaging
    messaging.TransportURL.parse(CONF)
    CONF.set_override('transport_url', 'fake://')
    yield
    CONF.clear_override('transport_url')


def test_status_shows_agents_heartbeats_and_versions(run, db):
    fakes.add_host(db, 'host1', agent_version=version.version_string())
    fakes.add_host(db, 'host2')
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    db.host_report('host3', {'memory_mb': 1024}, reported_at=old)
    with db._write() as conn:  # an agent silent for an hour
        import sqlalchemy as sa

        from migrator.db.models import hosts
        conn.execute(sa.update(hosts).where(hosts.c.name == 'host3')
                     .values(last_heartbeat=old.replace(tzinfo=None)))
    code, out, err = run('status', '-f', 'json')
    status = json.loads(out)
    assert status['ready'] is True and status['readiness'] == ['OK', 'OK']
    assert status['api']['max_version'] == str(microversion.MAX_VERSION)
    by_host = {s['host']: s for s in status['services']}
    assert by_host['host1']['version'] == version.version_string()
    assert by_host['host1']['state'] == 'up'
    assert by_host['host1']['heartbeat_age_seconds'] < 60
    assert by_host['host2']['version'] is None
    assert by_host['host3']['state'] == 'down'
    assert by_host['host3']['heartbeat_age_seconds'] >= 3500
    # A service down: exit status 2, so a monitoring script notices.
    assert code == 2
    code, out, err = run('status')
    assert 'Ready: yes' in out and 'migrator-compute' in out and 'host3' in out


def test_status_all_up_is_0(run, db):
    fakes.add_host(db, 'host1', agent_version='0.1.0')
    code, out, err = run('status')
    assert code == 0, err
    assert '0.1.0' in out


def test_status_without_an_api_is_an_error(capsys):
    code = manage.main(['--url', 'http://127.0.0.1:1', 'status'])
    assert code == 1
    assert 'cannot reach the migrator API' in capsys.readouterr().err


def _age_conductor(db, name, seconds):
    import sqlalchemy as sa

    from migrator.db.models import conductors
    with db._write() as conn:
        conn.execute(sa.update(conductors).where(conductors.c.name == name).values(
            heartbeat_at=(datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                          - datetime.timedelta(seconds=seconds))))


def test_status_shows_conductors_alive_dead_and_stopped(run, db):
    fakes.add_host(db, 'host1', agent_version='0.1.0')
    takeover = CONF.conductor.takeover_after
    db.conductor_register('cond-a', 'inc-a', takeover, machine='m1', pid=11, version='0.1.0')
    db.conductor_register('cond-b', 'inc-b', takeover, machine='m2', pid=22, version='0.0.9')
    db.conductor_register('cond-c', 'inc-c', takeover, machine='m3', pid=33)
    db.conductor_stopped('cond-c', 'inc-c')
    code, out, err = run('status', '-f', 'json')
    by_host = {(s['binary'], s['host']): s for s in json.loads(out)['services']}
    a = by_host['migrator-conductor', 'cond-a']
    assert (a['state'], a['version']) == ('alive', '0.1.0')
    assert 0 <= a['heartbeat_age_seconds'] < 60 and a['last_heartbeat'].endswith('Z')
    assert by_host['migrator-conductor', 'cond-b']['version'] == '0.0.9'
    # A conductor stopped cleanly is no fault: exit status 0.
    assert by_host['migrator-conductor', 'cond-c']['state'] == 'stopped'
    assert code == 0, err
    code, out, err = run('status')
    assert 'migrator-conductor | cond-a' in out and 'alive' in out and '0.0.9' in out

    # One that died (its heartbeat older than takeover_after) is: exit status 2.
    _age_conductor(db, 'cond-b', takeover + 5)
    code, out, err = run('status', '-f', 'json')
    by_host = {(s['binary'], s['host']): s for s in json.loads(out)['services']}
    assert by_host['migrator-conductor', 'cond-b']['state'] == 'dead'
    assert by_host['migrator-conductor', 'cond-b']['heartbeat_age_seconds'] >= takeover
    assert code == 2


def test_status_with_no_conductor_alive_is_2(run, db):
    fakes.add_host(db, 'host1', agent_version='0.1.0')
    db.conductor_register('cond-a', 'inc-a', CONF.conductor.takeover_after)
    db.conductor_stopped('cond-a', 'inc-a')
    code, out, err = run('status')
    assert code == 2
    assert 'stopped' in out


def test_status_against_an_api_before_conductors_shows_agents_only(run, db, monkeypatch):
    """An API older than GET /v1/conductors: status does not ask for it."""
    major, minor = status_cmd.CONDUCTORS_MICROVERSION.split('.')
    monkeypatch.setattr(microversion, 'MAX_VERSION', microversion.Version(major, int(minor) - 1))
    fakes.add_host(db, 'host1', agent_version='0.1.0')
    db.conductor_register('cond-a', 'inc-a', CONF.conductor.takeover_after)
    code, out, err = run('status', '-f', 'json')
    status = json.loads(out)
    assert code == 0, err
    assert status['api']['max_version'] == f'{major}.{int(minor) - 1}'
    assert [s['binary'] for s in status['services']] == ['migrator-compute']


def test_the_cli_asks_for_the_microversion_the_api_serves_conductors_at():
    assert status_cmd.CONDUCTORS_MICROVERSION == openapi.CONDUCTORS_SINCE
