"""Who did what, end to end: api, conductor and two compute agents as separate processes
over the real RabbitMQ and PostgreSQL, a real live migration on the sandbox.

The callers authenticate with auth_strategy http_basic (an admin and a reader of project
ops), which hands pecan the identity the way keystonemiddleware's auth_token does; in a tree
without the authentication layer they send those identity headers themselves. The requester
of the migration and of each of its events is the admin, shown by the API and by
`migrator-manage migration show`; the API's request id (and the caller's, as the global
request id) appear on the conductor's and the source agent's log lines for the migration;
the reader is refused with a 403 that names the rule, and nothing is created.
"""

import os
import re
import subprocess
import uuid

import pytest
import requests

from migrator.common import htpasswd
from migrator.sandbox import cluster as cluster_mod
from tests.functional.service import processes
from tests.functional.service.conftest import current_host, guest_name

USERS = {'fn-admin': ['admin', 'member', 'reader'], 'fn-reader': ['reader']}
PASSWORD = 'fn-secret'


class Caller:
    """How a user's requests authenticate, and who the API then records."""

    def __init__(self, user):
        self.user = user
        # auth_strategy http_basic: user and project ids are their names.
        self.auth = (user, PASSWORD)
        self.headers = {}
        self.requester = {'user_id': user, 'user_name': user, 'project_id': 'ops',
                          'project_name': 'ops'}

    def request(self, method, url, **kwargs):
        headers = {**self.headers, **kwargs.pop('headers', {})}
        return requests.request(method, url, headers=headers, auth=self.auth, timeout=60,
                                **kwargs)

    def cli_env(self):
        return {**os.environ, 'MIGRATOR_USERNAME': self.user, 'MIGRATOR_PASSWORD': PASSWORD}

    def who(self):
        text = self.user
        if self.requester['user_id'] != self.user:
            text += f" (id {self.requester['user_id']})"
        text += ' of project ops'
        if self.requester['project_id'] != 'ops':
            text += f" (id {self.requester['project_id']})"
        return text


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
    api_options = {'port': port}
    default = {'transport_url': rabbit_url}
    users_file = str(workdir / 'users')
    for user, roles in USERS.items():
        htpasswd.set_user(users_file, user, PASSWORD, roles, 'ops', rounds=4)
    api_options['http_basic_auth_user_file'] = users_file
    default['auth_strategy'] = 'http_basic'
    base = {
        'DEFAULT': default,
        'database': {'connection': pg_url},
        'api': api_options,
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
    admin, reader = Caller('fn-admin'), Caller('fn-reader')
    name = guest_name(small_sandbox)

    def answers():
        try:
            return reader.request('GET', f'{url}/v1/hosts').status_code == 200
        except requests.ConnectionError:
            return False

    def hosts_up():
        hosts = reader.request('GET', f'{url}/v1/hosts').json()['hosts']
        return {h['name'] for h in hosts if h['state'] == 'up'} == {
            h['name'] for h in small_sandbox['hosts']}

    def migration(migration_id):
        return reader.request('GET', f'{url}/v1/migrations/{migration_id}').json()

    try:
        processes.wait_until(answers, 180, 'the API to answer')
        processes.wait_until(hosts_up, 120, 'every compute agent to report')
        processes.wait_until(
            lambda: reader.request('GET', f'{url}/v1/instances/{name}').status_code == 200,
            30, 'the guest to be reported')
        source = current_host(small_sandbox)

        # A reader may look but not migrate: 403 naming the rule, nothing created.
        refused = reader.request('POST', f'{url}/v1/migrations', json={'instance': name})
        assert refused.status_code == 403, refused.text
        assert "'migrator:migration:create'" in refused.json()['error']['message']
        listed = reader.request('GET', f'{url}/v1/migrations')
        assert listed.status_code == 200 and listed.json()['migrations'] == []

        client_id = f'req-{uuid.uuid4()}'
        response = admin.request(
            'POST', f'{url}/v1/migrations', json={'instance': name, 'type': 'live'},
            headers={'X-Openstack-Request-Id': client_id})
        assert response.status_code == 202, response.text
        request_id = response.headers['X-Openstack-Request-Id']
        assert request_id.startswith('req-') and request_id != client_id
        accepted = response.json()
        def ended():
            current = migration(accepted['id'])
            return current if current['status'] in ('completed', 'failed', 'cancelled',
                                                     'error') else None
        done = processes.wait_until(ended, 240, 'the migration to end')
        assert done['status'] == 'completed', done
        assert done['source_host'] == source

        expected = {**admin.requester, 'request_id': request_id,
                    'global_request_id': client_id}
        assert done['requester'] == expected
        # Every step, in the API and in the conductor, was done for that request.
        assert [e['to_state'] for e in done['events']] == [
            'accepted', 'scheduling', 'preparing', 'running', 'finishing', 'completed']
        assert all(e['requester'] == expected for e in done['events']), done['events']

        # The CLI shows it to a reader.
        shown = subprocess.run(
            [os.path.join(processes.BIN, 'migrator-manage'), '--url', url, 'migration',
             'show', accepted['id']], capture_output=True, text=True, timeout=120,
            env=reader.cli_env())
        assert shown.returncode == 0, shown.stderr
        assert re.search(r'requested_by\s*\|\s*' + re.escape(admin.who()), shown.stdout), \
            shown.stdout
        assert request_id in shown.stdout and client_id in shown.stdout
        events = shown.stdout.split('Events:')[1]
        assert events.count(admin.who()) == 6, events

        # The conductor's and the source agent's log lines for the migration carry the
        # API's request id and the caller's global request id.
        def logged(proc):
            return [line for line in proc.log().splitlines()
                    if request_id in line and client_id in line]
        conductor = next(p for p in started if p.script == 'migrator-conductor')
        agent = next(p for p in started if str(p.log_file).endswith(f'{source}.log'))
        conductor_lines = processes.wait_until(lambda: logged(conductor), 30,
                                               'conductor log lines with the request id')
        assert any(accepted['id'] in line for line in conductor_lines), conductor_lines
        agent_lines = processes.wait_until(lambda: logged(agent), 30,
                                           'agent log lines with the request id')
        assert any('Starting live migration' in line and accepted['id'] in line
                   for line in agent_lines), agent_lines
    except BaseException:
        for proc in started:
            print(f'--- {proc.script} {proc.log_file} ---\n{proc.log()[-4000:]}')
        raise
    finally:
        for proc in reversed(started):
            proc.stop()


pytestmark = pytest.mark.functional
