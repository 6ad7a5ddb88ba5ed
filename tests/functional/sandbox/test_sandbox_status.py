"""`sandbox status`, `add-guest`, and `up` on a sandbox that is already up."""

import json

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe, process
from tests.functional.sandbox.conftest import run_cli


def test_status_json_matches_libvirt(sandbox):
    r = run_cli('status', '-f', 'json', '--state-dir', sandbox['state_dir'])
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert [h['up'] for h in st['hosts']] == [True] * 3
    for guest in sandbox['guests']:
        entry = next(g for g in st['guests'] if g['name'] == guest['name'])
        assert entry['hosts'] == probe.where(guest['name'], sandbox)
        assert len(entry['hosts']) == 1
        assert entry['tick'] and entry['tick'] > 0
    r = run_cli('status', '--state-dir', sandbox['state_dir'])
    assert r.returncode == 0 and 'sandbox-host3' in r.stdout and 'guest-1-1' in r.stdout


def test_up_when_already_up(sandbox):
    r = run_cli('up', '--state-dir', sandbox['state_dir'])
    assert r.returncode == 1
    assert r.stderr.strip() == (f'error: sandbox already up in {sandbox["state_dir"]}; '
                                f'run `migrator-manage sandbox down` first')
    # and nothing was disturbed
    for h in sandbox['hosts']:
        assert process.belongs_to(h['pid'], h['root'])


def test_add_guest(sandbox):
    r = run_cli('add-guest', '--host', 'sandbox-host2', '--memory', 128, '--dirty-rate', 1,
                '--state-dir', sandbox['state_dir'])
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip()
    assert name == 'guest-2-1'
    assert probe.where(name, sandbox) == ['sandbox-host2']
    record = next(g for g in cluster_mod.load(sandbox['state_dir'])['guests']
                  if g['name'] == name)
    assert record['memory_mib'] == 128 and record['disk_mode'] == 'shared'
    assert probe.latest_tick(record['console_log']) >= 1
