"""Authentication against the real thing: a local Keystone 30 (tools/keystone.sh's module)
with keystonemiddleware in migrator-all, then http_basic, over a 2-host sandbox with a real
guest; migrator-manage authenticates from OS_* variables, clouds.yaml and
MIGRATOR_USERNAME/PASSWORD, and finds the API in Keystone's catalog. Also: the API refuses
to start on a non-loopback address without authentication.

The reader's 403s come from the policy layer (issue 12, branch `policy`).
"""

import os
import subprocess

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import keystone as local_keystone
from migrator.sandbox import probe
from tests.functional.service import processes

pytestmark = pytest.mark.functional

MANAGE = os.path.join(processes.BIN, 'migrator-manage')


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    """Two sandbox hosts, one guest with a shared disk on the first."""
    state_dir = str(tmp_path_factory.mktemp('auth-sandbox') / 'state')
    try:
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared')
        yield cluster_mod.load(state_dir)
    finally:
        cluster_mod.down(state_dir)


@pytest.fixture(scope='module')
def api_port():
    return processes.free_port()


@pytest.fixture(scope='module')
def keystone(tmp_path_factory, api_port):
    """A running Keystone with the migration endpoint at the API's port."""
    state_dir = str(tmp_path_factory.mktemp('keystone'))
    try:
        yield local_keystone.start(state_dir, port=processes.free_port(),
                                   migrator_url=f'http://127.0.0.1:{api_port}')
    finally:
        local_keystone.stop(state_dir)


def _token(keystone, user):
    auth = v3.Password(auth_url=keystone['auth_url'], username=user,
                       password=keystone['passwords'][user], project_name='admin',
                       user_domain_id='default', project_domain_id='default')
    return ks_session.Session(auth=auth).get_token()


def _keystone_env(keystone, user):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('OS_', 'MIGRATOR_URL', 'MIGRATOR_USERNAME',
                                'MIGRATOR_PASSWORD'))}
    env.update(OS_AUTH_URL=keystone['auth_url'], OS_USERNAME=user,
               OS_PASSWORD=keystone['passwords'][user], OS_PROJECT_NAME='admin',
               OS_USER_DOMAIN_NAME='Default', OS_PROJECT_DOMAIN_NAME='Default')
    return env


def _manage(env, *args, timeout=300):
    return subprocess.run([MANAGE, '--config-file', os.devnull, *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


class Api:
    def __init__(self, port, **auth):
        self.url = f'http://127.0.0.1:{port}'
        self.session = requests.Session()
        if 'token' in auth:
            self.session.headers['X-Auth-Token'] = auth['token']
        if 'basic' in auth:
            self.session.auth = auth['basic']

    def call(self, method, path, body=None):
        return self.session.request(method, self.url + path, json=body, timeout=60)


def _start_all(workdir, sandbox, port, name, sections):
    conf = processes.write_config(workdir / f'{name}.conf', {
        **sections,
        'DEFAULT': {'host': name, **sections.get('DEFAULT', {})},
        'database': {'connection': f'sqlite:///{workdir}/{name}.sqlite'},
        'api': {'port': port, **sections.get('api', {})},
        'all': {'sandbox_state_dir': sandbox['state_dir']},
        'compute': {'report_interval': 2, 'progress_interval': 0.2},
        'libvirt': {'virt_type': 'qemu'},
    })
    proc = processes.ServiceProcess('migrator-all', conf, workdir / f'{name}.log')
    api = processes.ApiClient(f'http://127.0.0.1:{port}')
    try:
        processes.wait_until(api.answers, 60, 'the API (version discovery is public)')
    except BaseException:
        print(proc.log()[-4000:])
        proc.stop()
        raise
    return proc


def _wait_ready(api, sandbox):
    guest = sandbox['guests'][0]['name']

    def ready():
        hosts = api.call('GET', '/v1/hosts').json()['hosts']
        return (sum(h['state'] == 'up' for h in hosts) == len(sandbox['hosts'])
                and api.call('GET', f'/v1/instances/{guest}').status_code == 200)
    processes.wait_until(ready, 60, 'the agents to report the hosts and the guest')


def _assert_migrated_by_cli(env, sandbox):
    guest = sandbox['guests'][0]['name']
    before = probe.where(guest, cluster=sandbox)
    assert len(before) == 1
    result = _manage(env, 'migration', 'create', guest, '--type', 'live', '--wait')
    assert result.returncode == 0, result.stderr
    after = probe.where(guest, cluster=sandbox)
    assert len(after) == 1 and after != before, (before, after, result.stdout)


def _assert_reader_refused(api, sandbox):
    """Each request is one a reader must not make; none changes anything if it got through
    (a migration or a drain towards an unknown host, an abort of a finished migration).
    A dry run is not among them: readers may ask where a migration would go."""
    finished = api.call('GET', '/v1/migrations').json()['migrations'][0]['id']
    for method, path, body in (
            ('POST', '/v1/migrations', {'instance': sandbox['guests'][0]['name'],
                                        'type': 'live', 'target_host': 'no-such-host'}),
            ('POST', '/v1/hosts/sandbox-host1/drain', {'mode': 'live',
                                                       'target_hosts': ['no-such-host']}),
            ('DELETE', f'/v1/migrations/{finished}', None)):
        resp = api.call(method, path, body)
        assert resp.status_code == 403, (method, path, resp.status_code, resp.text)
        assert resp.json()['error']['code'] == 403


# -- keystone ----------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def keystone_all(sandbox, keystone, api_port, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('auth-keystone')
    ks = keystone
    proc = _start_all(workdir, sandbox, api_port, 'keystone-all', {
        'DEFAULT': {'auth_strategy': 'keystone'},
        'keystone_authtoken': {
            'www_authenticate_uri': ks['auth_url'], 'auth_url': ks['auth_url'],
            'auth_type': 'password', 'username': 'migrator',
            'password': ks['passwords']['migrator'], 'project_name': 'service',
            'user_domain_name': 'Default', 'project_domain_name': 'Default'}})
    try:
        _wait_ready(Api(api_port, token=_token(ks, 'admin')), sandbox)
        yield proc
    except BaseException:
        print(proc.log()[-6000:])
        raise
    finally:
        proc.stop()


def test_keystone_without_or_with_a_bad_token_is_401(keystone_all, keystone, api_port):
    for api, words in ((Api(api_port), 'Authentication required'),
                       (Api(api_port, token='gAAAAABnot-a-token'), 'not valid')):
        for method, path in (('GET', '/v1/migrations'), ('POST', '/v1/migrations')):
            resp = api.call(method, path, {'instance': 'x'})
            assert resp.status_code == 401, resp.text
            assert resp.headers['WWW-Authenticate'] == f'Keystone uri="{keystone["auth_url"]}"'
            error = resp.json()['error']
            assert error['code'] == 401 and words in error['message']
    assert Api(api_port).call('GET', '/v1').status_code == 200


def test_keystone_admin_migrates_a_guest_with_the_cli(keystone_all, keystone, sandbox):
    # No URL given: migrator-manage finds the API in the catalog (service type migration).
    _assert_migrated_by_cli(_keystone_env(keystone, 'admin'), sandbox)


def test_keystone_reader_lists_with_clouds_yaml(keystone_all, keystone):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OS_', 'MIGRATOR_'))}
    env['OS_CLIENT_CONFIG_FILE'] = keystone['files']['clouds.yaml']
    result = _manage(env, '--os-cloud', 'migrator-reader', 'migration', 'list', '-f', 'json')
    assert result.returncode == 0, result.stderr
    assert '"migrations"' in result.stdout and '"completed"' in result.stdout


def test_keystone_reader_cannot_migrate_drain_or_abort(keystone_all, keystone, api_port,
                                                       sandbox):
    _assert_reader_refused(Api(api_port, token=_token(keystone, 'reader')), sandbox)


def test_cli_says_what_is_wrong_with_keystone_credentials(keystone_all, keystone, api_port):
    env = _keystone_env(keystone, 'admin')
    env['OS_PASSWORD'] = 'wrong'
    result = _manage(env, 'migration', 'list')
    assert result.returncode == 1
    assert 'refused the credentials' in result.stderr and 'Traceback' not in result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OS_', 'MIGRATOR_'))}
    result = _manage(env, '--url', f'http://127.0.0.1:{api_port}', 'migration', 'list')
    assert result.returncode == 1
    assert 'Authentication required' in result.stderr and 'OS_*' in result.stderr


# -- http_basic --------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def basic_all(sandbox, keystone_all, tmp_path_factory):
    """migrator-all with http_basic on the same sandbox, once the keystone one stopped."""
    keystone_all.stop()
    workdir = tmp_path_factory.mktemp('auth-basic')
    users = str(workdir / 'htpasswd')
    passwords = {'admin': 'admin-pw', 'reader': 'reader-pw'}
    for user, password in passwords.items():
        result = subprocess.run(
            [MANAGE, '--config-file', os.devnull, 'user', 'add', user, '--role', user,
             '--file', users, '--password-stdin'], input=password + '\n', text=True,
            capture_output=True)
        assert result.returncode == 0, result.stderr
    port = processes.free_port()
    proc = _start_all(workdir, sandbox, port, 'basic-all', {
        'DEFAULT': {'auth_strategy': 'http_basic'},
        'api': {'http_basic_auth_user_file': users}})
    try:
        _wait_ready(Api(port, basic=('admin', passwords['admin'])), sandbox)
        yield port, passwords
    except BaseException:
        print(proc.log()[-6000:])
        raise
    finally:
        proc.stop()


def _basic_env(port, user, password):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OS_', 'MIGRATOR_'))}
    env.update(MIGRATOR_URL=f'http://127.0.0.1:{port}', MIGRATOR_USERNAME=user,
               MIGRATOR_PASSWORD=password)
    return env


def test_http_basic_without_or_with_bad_credentials_is_401(basic_all):
    port, _ = basic_all
    for api in (Api(port), Api(port, basic=('admin', 'wrong')),
                Api(port, basic=('nobody', 'admin-pw'))):
        resp = api.call('GET', '/v1/migrations')
        assert resp.status_code == 401, resp.text
        assert resp.headers['WWW-Authenticate'].startswith('Basic realm="migrator"')
        assert resp.json()['error']['code'] == 401
    result = _manage(_basic_env(port, 'admin', 'wrong'), 'migration', 'list')
    assert result.returncode == 1 and 'password is wrong' in result.stderr


def test_http_basic_admin_migrates_and_reader_lists(basic_all, sandbox):
    port, passwords = basic_all
    _assert_migrated_by_cli(_basic_env(port, 'admin', passwords['admin']), sandbox)
    result = _manage(_basic_env(port, 'reader', passwords['reader']), 'migration', 'list',
                     '-f', 'json')
    assert result.returncode == 0, result.stderr
    assert '"completed"' in result.stdout


def test_http_basic_reader_cannot_migrate_drain_or_abort(basic_all, sandbox):
    port, passwords = basic_all
    _assert_reader_refused(Api(port, basic=('reader', passwords['reader'])), sandbox)


# -- noauth ------------------------------------------------------------------------------------

@pytest.mark.parametrize('script', ['migrator-api', 'migrator-all'])
def test_noauth_refuses_to_listen_on_all_addresses(script, tmp_path):
    conf = processes.write_config(tmp_path / 'noauth.conf', {
        'DEFAULT': {'auth_strategy': 'noauth'},
        'database': {'connection': f'sqlite:///{tmp_path}/noauth.sqlite'},
        'api': {'host_ip': '0.0.0.0', 'port': processes.free_port()},
        'all': {'sandbox_state_dir': str(tmp_path / 'no-sandbox')},
    })
    result = subprocess.run([os.path.join(processes.BIN, script), '--config-file', str(conf)],
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'refusing to serve the API on 0.0.0.0 without authentication' in output
    assert 'auth_strategy = keystone' in output and 'host_ip = 127.0.0.1' in output

