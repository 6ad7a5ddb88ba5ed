"""migrator-manage host set/enable/disable/maintenance, server-group, migration --dry-run."""

import json

import pytest

from migrator.cmd import manage
from tests.unit.api import fakes


@pytest.fixture
def run(api_url, capsys):
    def run(*argv):
        code = manage.main(['--url', api_url] + list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_host_maintenance_and_enable(run, cluster):
    code, out, err = run('host', 'maintenance', 'host2', '--reason', 'new disks')
    assert code == 0, err
    assert 'maintenance' in out and 'new disks' in out
    assert cluster.host_get('host2')['status'] == 'maintenance'
    code, out, _ = run('host', 'list')
    assert 'maintenance (new disks)' in out
    assert run('host', 'enable', 'host2')[0] == 0
    assert cluster.host_get('host2')['status_reason'] is None
    code, out, _ = run('host', 'set', 'host2', '--status', 'disabled', '--reason', 'x',
                       '-f', 'json')
    assert code == 0 and json.loads(out)['status'] == 'disabled'


def test_host_status_errors(run, cluster):
    code, _, err = run('host', 'disable', 'nope')
    assert code == 1 and "'nope' is not known" in err
    assert run('host', 'set', 'host2', '--status', 'off')[0] == 2


def test_server_group_commands(run, cluster):
    code, out, err = run('server-group', 'create', 'web', '--policy', 'anti-affinity',
                         '--member', 'vm1', '-f', 'json')
    assert code == 0, err
    group = json.loads(out)
    assert group['members'] == [fakes.uuid_of('vm1')]
    assert run('server-group', 'add-member', 'web', 'vm3')[0] == 0
    code, out, _ = run('server-group', 'list')
    assert 'web' in out and fakes.uuid_of('vm3') in out
    assert run('server-group', 'remove-member', 'web', 'vm1')[0] == 0
    assert cluster.server_group_get('web')['members'] == [fakes.uuid_of('vm3')]
    code, out, _ = run('server-group', 'delete', 'web')
    assert code == 0 and 'deleted' in out
    code, _, err = run('server-group', 'show', 'web')
    assert code == 1 and "'web' is not known" in err


def test_migration_dry_run(run, cluster, conductor):
    code, out, err = run('migration', 'create', 'vm1', '--dry-run')
    assert code == 0, err
    assert 'Target: host2' in out
    assert cluster.migration_list() == [] and conductor.casts == []
