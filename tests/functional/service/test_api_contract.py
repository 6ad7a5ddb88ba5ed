"""schemathesis (from PyPI) against a live migrator-all on the sandbox, from the API's own
/v1/openapi.json: every operation, valid and invalid requests, at the newest microversion.
No server error and no response outside the documented status codes, content types and
schemas. Bounded in examples per operation (a CI run, not a soak)."""

import json
import os
import subprocess

import pytest

from migrator.api import microversion
from migrator.sandbox import cluster as cluster_mod
from tests.functional.service import processes

# Per operation and phase; with 30 operations this is some 500 requests.
MAX_EXAMPLES = 3


@pytest.fixture(scope='module')
def two_hosts(tmp_path_factory):
    """Two sandbox hosts and no guest: requests reach real hosts and agents, and no
    generated request can move a guest."""
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('contract-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
        yield cluster_mod.load(state_dir)
    finally:
        cluster_mod.down(state_dir)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(two_hosts, workdir):
    proc, api = processes.start_migrator_all(workdir, two_hosts['state_dir'], timeout=180)
    try:
        processes.wait_until(lambda: api.hosts_up([h['name'] for h in two_hosts['hosts']]),
                             180, 'the agents to report')
        # Real names for the path parameters that name a host, so drain, undrain and host
        # updates reach a real host; ids stay generated (mostly 404s, which must be JSON
        # errors as documented too).
        config = workdir / 'schemathesis.toml'
        config.write_text(f'[parameters]\nhost_name = "{two_hosts["hosts"][1]["name"]}"\n')
        report = workdir / 'schemathesis.json'
        run = subprocess.run(
            [os.path.join(processes.BIN, 'schemathesis'), '--config-file', str(config), 'run',
             f'{api.url}/v1/openapi.json',
             '--header', f'{microversion.HEADER}: migration {microversion.MAX_VERSION}',
             '--checks', 'not_a_server_error,response_schema_conformance,'
                         'status_code_conformance,content_type_conformance',
             '--phases', 'examples,coverage,fuzzing', '--max-examples', str(MAX_EXAMPLES),
             '--workers', '1', '--request-timeout', '60', '--seed', '1',
             '--report', 'json', '--report-json-path', str(report)],
            capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
            cwd=workdir)  # its cache directory goes there, not into the tree
        summary = json.loads(report.read_text())
        generated = summary['test_cases']['generated']
        print(f'schemathesis: {generated} requests generated in '
              f"{summary['running_time']:.0f}s, {summary['test_cases']['with_failures']} "
              'with failures')
        assert run.returncode == 0, run.stdout[-6000:]
        assert summary['test_cases']['with_failures'] == 0, run.stdout[-6000:]
        assert summary['operations']['tested'] == summary['operations']['total']
        assert generated >= 100
    except BaseException:
        print(f'--- migrator-all log ---\n{proc.log()[-6000:]}')
        raise
    finally:
        proc.stop()


pytestmark = pytest.mark.functional
