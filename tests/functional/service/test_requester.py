"""Who did what, end to end: api, conductor and two compute agents as separate processes
over the real RabbitMQ and PostgreSQL, a real live migration on the sandbox.

The requests carry the identity headers keystonemiddleware's auth_token sets for a valid
token (what reaches the API's pecan app whatever the auth_strategy): the requester of the
migration and of each of its events is that user, shown by the API and by
`migrator-manage migration show`; the API's request id (and the caller's, as the global
request id) appear on the conductor's and the source agent's log lines for the migration;
a reader is refused with a 403 that names the rule, and nothing is created.
"""

import os
import re
import subprocess
import uuid

import pytest
import requests

from migrator.sandbox import cluster as cluster_mod
from tests.functional.service import processes
from tests.functional.service.conftest import current_host, guest_name


def _identity(user, roles):
    return {'X-Identity-Status': 'Confirmed', 'X-User-Id': f'{user}-id', 'X-User-Name': user,
            'X-Project-Id': 'ops-id', 'X-Project-Name': 'ops', 'X-Roles': ','.join(roles),
            'X-User-Domain-Id': 'default', 'X-Project-Domain-Id': 'default'}


@pytest.fixture(scope='module')
def small_sandbox(tmp_path_factory):
    """Two sandbox hosts and one guest with a shared disk on host1."""
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    state_dir = str(tmp_path_factory.mktemp('requester-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared')
        yield cluster_mod.load(state_dir)
    finally:
        cluster_mod.down(state_dir)


def _start_services(sandbox, pg_url, rabbit_url, workdir):
    port = processes.free_port()
    base = {
        'DEFAULT': {'transport_url': rabbit_url},
        'database': {'connection': pg_url},
        'api': {'port': port},
        'compute': {'report_interval': 2, 'progress_interval': 0.2},
        'libvirt': {'virt_type': 'qemu'},
    }

    def conf(name, **extra):
        return processes.write_config(
            workdir / f'{name}.conf',
            {**base, 'DEFAULT': {**base['DEFAULT'], 'host': name}, **extra})

    api_conf = conf('api')
    subprocess.run([os.path.join(processes.BIN, 'migrator-manage'), '--config-file',
                    str(api_conf), 'db', 'sync'], check=True)
    started = [processes.ServiceProcess('migrator-api', api_conf, workdir / 'api.log'),
               processes.ServiceProcess('migrator-conductor', conf('conductor1'),
                                        workdir / 'conductor1.log')]
    for host in sandbox['hosts']:
        started.append(processes.ServiceProcess(
            'migrator-compute',
            conf(host['name'], libvirt={'virt_type': 'qemu', 'connection_uri': host['uri']}),
            workdir / f"{host['name']}.log"))
    return port, started


def test_requester_in_api_cli_events_and_request_id_in_service_logs(
        small_sandbox, pg_url, rabbit_url, workdir):
    port, started = _start_services(small_sandbox, pg_url, rabbit_url, workdir)
    url = f'http://127.0.0.1:{port}'
    api = processes.ApiClient(url)
    admin = _identity('fn-admin', ['admin', 'member', 'reader'])
    reader = _identity('fn-reader', ['reader'])
    name = guest_name(small_sandbox)
    try:
        processes.wait_until(api.answers, 180, 'the API to answer')
        processes.wait_until(
            lambda: api.hosts_up([h['name'] for h in small_sandbox['hosts']]), 120,
            'every compute agent to report')
        processes.wait_until(lambda: api.instance(name), 30, 'the guest to be reported')
        source = current_host(small_sandbox)

        # A reader may look but not migrate: 403 naming the rule, nothing created.
        refused = requests.post(f'{url}/v1/migrations', json={'instance': name},
                                headers=reader, timeout=60)
        assert refused.status_code == 403, refused.text
        assert "'migrator:migration:create'" in refused.json()['error']['message']
        listed = requests.get(f'{url}/v1/migrations', headers=reader, timeout=30)
        assert listed.status_code == 200 and listed.json()['migrations'] == []

        client_id = f'req-{uuid.uuid4()}'
        response = requests.post(
            f'{url}/v1/migrations', json={'instance': name, 'type': 'live'},
            headers={**admin, 'X-Openstack-Request-Id': client_id}, timeout=60)
        assert response.status_code == 202, response.text
        request_id = response.headers['X-Openstack-Request-Id']
        assert request_id.startswith('req-') and request_id != client_id
        migration = response.json()
        done = api.wait_for_migration(migration['id'])
        assert done['status'] == 'completed', done
        assert done['source_host'] == source

        expected = {'user_id': 'fn-admin-id', 'user_name': 'fn-admin',
                    'project_id': 'ops-id', 'project_name': 'ops',
                    'request_id': request_id, 'global_request_id': client_id}
        assert done['requester'] == expected
        # Every step, in the API and in the conductor, was done for that request.
        assert [e['to_state'] for e in done['events']] == [
            'accepted', 'scheduling', 'preparing', 'running', 'finishing', 'completed']
        assert all(e['requester'] == expected for e in done['events']), done['events']

        shown = subprocess.run(
            [os.path.join(processes.BIN, 'migrator-manage'), '--url', url, 'migration',
             'show', migration['id']], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert re.search(r'requested_by\s*\|\s*fn-admin \(id fn-admin-id\) of project ops',
                         shown.stdout), shown.stdout
        assert request_id in shown.stdout and client_id in shown.stdout
        events = shown.stdout.split('Events:')[1]
        assert events.count('fn-admin (id fn-admin-id) of project ops') == 6, events

        # The conductor's and the source agent's log lines for the migration carry the
        # API's request id and the caller's global request id.
        def logged(proc):
            return [line for line in proc.log().splitlines()
                    if request_id in line and client_id in line]
        conductor = next(p for p in started if p.script == 'migrator-conductor')
        agent = next(p for p in started if str(p.log_file).endswith(f'{source}.log'))
        conductor_lines = processes.wait_until(lambda: logged(conductor), 30,
                                               'conductor log lines with the request id')
        assert any(migration['id'] in line for line in conductor_lines), conductor_lines
        agent_lines = processes.wait_until(lambda: logged(agent), 30,
                                           'agent log lines with the request id')
        assert any('Starting live migration' in line and migration['id'] in line
                   for line in agent_lines), agent_lines
    except BaseException:
        for proc in started:
            print(f'--- {proc.script} {proc.log_file} ---\n{proc.log()[-4000:]}')
        raise
    finally:
        for proc in reversed(started):
            proc.stop()


pytestmark = pytest.mark.functional
