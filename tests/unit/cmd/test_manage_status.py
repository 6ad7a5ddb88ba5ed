"""migrator-manage status: readiness, and each agent with its heartbeat and version."""

import datetime
import json

import pytest
from oslo_config import cfg

from migrator.api import health, microversion
from migrator.cmd import manage
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
