"""`migrator-manage audit [--fix]` and `migration reset-state` against the real API (the
conductor's side of the audit is tests/unit/conductor/test_audit.py)."""

import json

import oslo_messaging as messaging
import pytest

from migrator.cmd import manage
from migrator.common import states


@pytest.fixture
def run(api_url, capsys):
    def run(*argv):
        code = manage.main(['--url', api_url] + list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run

WRONG_HOST = {'kind': 'wrong_host', 'subject': 'instance vm1 (u1)', 'fix': 'safe',
              'detail': 'runs on host1 but the DB says host3'}
TWICE = {'kind': 'running_twice', 'subject': 'instance vm2 (u2)', 'fix': 'person',
         'detail': 'runs on host1 and host2'}


def _answers(conductor, before, after, fixed=()):
    conductor.audit_answer = lambda fix: {
        'discrepancies': after if fix else before, 'fixed': list(fixed) if fix else [],
        'hosts_checked': ['host1', 'host2']}


def test_audit_lists_discrepancies_and_exits_3(run, cluster, conductor):
    _answers(conductor, [WRONG_HOST, TWICE], [])
    code, out, err = run('audit')
    assert code == 3, err
    assert '2 discrepancies (hosts checked: host1, host2):' in out
    assert 'runs on host1 but the DB says host3' in out
    assert 'safe: `audit --fix` repairs it' in out and 'a person must look' in out
    assert 'migrator-manage audit --fix' in out
    assert conductor.audits == [False]


def test_audit_fix_says_what_it_repaired_and_what_is_left(run, cluster, conductor):
    _answers(conductor, [WRONG_HOST, TWICE], [TWICE],
             fixed=['instance vm1 (u1): host set to host1 (was host3)'])
    code, out, err = run('audit', '--fix')
    assert code == 3
    assert 'Repaired (1):\n  instance vm1 (u1): host set to host1 (was host3)' in out
    assert '1 discrepancy left' in out and 'running_twice' in out
    assert 'reset-state' in out
    assert conductor.audits == [True]


def test_a_clean_audit_exits_0(run, cluster, conductor):
    _answers(conductor, [], [])
    code, out, err = run('audit')
    assert code == 0
    assert out.strip() == ('No discrepancies: the DB agrees with the hypervisors '
                           '(host1, host2).')
    code, out, err = run('audit', '-f', 'json')
    assert code == 0 and json.loads(out)['discrepancies'] == []


def test_audit_when_no_conductor_answers(run, cluster, conductor):
    conductor.audit_answer = messaging.MessagingTimeout('nobody')
    code, out, err = run('audit')
    assert code == 1
    assert err.startswith('ERROR: ') and 'Traceback' not in err


def test_audit_fix_body_is_validated(api_url, cluster, conductor):
    import requests
    resp = requests.post(api_url + '/v1/audit', json={'fix': 'yes'}, timeout=10)
    assert resp.status_code == 400
    assert "field 'fix' must be a boolean" in resp.json()['error']['message']
    assert conductor.audits == []


def test_reset_state(run, cluster, conductor):
    migration = cluster.migration_create({'instance_uuid': cluster.instance_get('vm1')['uuid'],
                                          'type': 'live'})
    code, out, err = run('migration', 'reset-state', migration['id'], '--state', 'failed',
                         '--reason', 'guest checked: on host1')
    assert code == 0, err
    assert f"Migration {migration['id']} reset to failed" in out
    assert cluster.migration_get(migration['id'])['status'] == states.FAILED

    code, out, err = run('migration', 'reset-state', migration['id'], '--state', 'error',
                         '--reason', 'again')
    assert code == 1
    assert 'has already ended (failed)' in err


def test_reset_state_usage(run, cluster):
    code, out, err = run('migration', 'reset-state', 'x', '--state', 'completed',
                         '--reason', 'r')
    assert code == 2 and "invalid choice: 'completed'" in err
    code, out, err = run('migration', 'reset-state', 'x', '--state', 'error')
    assert code == 2 and '--reason' in err
