"""How migrator-manage authenticates (migrator.cmd.client_auth) and `user add/list`, against
the real API on a free port with auth_strategy = http_basic. Keystone and clouds.yaml against
a real Keystone: tests/functional/service/test_auth.py."""

import io
import json
import threading

import pytest
from oslo_config import cfg

from migrator.api import app as api_app
from migrator.api import wsgi
from migrator.cmd import client_auth, manage
from migrator.common import htpasswd

CONF = cfg.CONF


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ('OS_CLOUD', 'OS_AUTH_URL', 'OS_USERNAME', 'OS_PASSWORD', 'OS_PROJECT_NAME',
                 'OS_AUTH_TYPE', 'OS_CLIENT_CONFIG_FILE', 'MIGRATOR_URL',
                 'MIGRATOR_USERNAME', 'MIGRATOR_PASSWORD'):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def users_file(tmp_path):
    path = str(tmp_path / 'htpasswd')
    htpasswd.set_user(path, 'admin', 'admin-pw', ['admin'], rounds=4)
    return path


@pytest.fixture
def basic_api_url(db, conductor, users_file):
    """The API with auth_strategy = http_basic on a free port."""
    CONF.set_override('auth_strategy', 'http_basic')
    CONF.set_override('http_basic_auth_user_file', users_file, group='api')
    try:
        app = api_app.setup_app(db=db, conductor_api=conductor)
    finally:
        CONF.clear_override('auth_strategy')
        CONF.clear_override('http_basic_auth_user_file', group='api')
    server = wsgi.build_server(app, '127.0.0.1', 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.url
    server.close()
    thread.join(10)


def run(capsys, *argv):
    code = manage.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_with_http_basic_credentials_from_the_environment(basic_api_url, cluster,
                                                              monkeypatch, capsys):
    monkeypatch.setenv('MIGRATOR_URL', basic_api_url)
    code, out, err = run(capsys, 'host', 'list', '-f', 'json')
    assert code == 1
    assert 'Authentication required' in err and 'MIGRATOR_USERNAME' in err
    monkeypatch.setenv('MIGRATOR_USERNAME', 'admin')
    monkeypatch.setenv('MIGRATOR_PASSWORD', 'wrong')
    code, out, err = run(capsys, 'host', 'list')
    assert code == 1 and 'password is wrong' in err and 'HTTP 401' in err
    monkeypatch.setenv('MIGRATOR_PASSWORD', 'admin-pw')
    code, out, err = run(capsys, 'host', 'list', '-f', 'json')
    assert code == 0, err
    assert {h['name'] for h in json.loads(out)['hosts']} == {'host1', 'host2', 'host3'}


def test_cli_with_os_username_and_password_without_auth_url(basic_api_url, cluster,
                                                            capsys):
    code, out, err = run(capsys, '--url', basic_api_url, '--os-username', 'admin',
                         '--os-password', 'admin-pw', 'instance', 'list', '-f', 'json')
    assert code == 0, err
    code, out, err = run(capsys, '--url', basic_api_url, '--os-username', 'admin',
                         'instance', 'list')
    assert code == 1 and "a password for 'admin' is missing" in err


def test_cli_names_the_keystone_it_cannot_reach(capsys):
    code, out, err = run(capsys, '--os-auth-url', 'http://127.0.0.1:9/v3', '--os-username',
                         'admin', '--os-password', 'pw', '--os-project-name', 'admin',
                         '--os-user-domain-name', 'Default', '--os-project-domain-name',
                         'Default', 'host', 'list')
    assert code == 1
    assert 'cannot reach Keystone at http://127.0.0.1:9/v3' in err
    assert 'Traceback' not in err


def test_clouds_yaml(tmp_path, monkeypatch, capsys):
    clouds = tmp_path / 'clouds.yaml'
    clouds.write_text('clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n'
                      '      username: u\n      password: p\n      project_name: admin\n'
                      '      user_domain_name: Default\n      project_domain_name: Default\n'
                      '    region_name: R2\n    interface: internal\n'
                      '  broken:\n    auth_type: password\n    auth:\n      username: u\n')
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', str(clouds))
    auth_type, auth, cloud = client_auth.load_cloud('lab')
    assert auth_type == 'password' and auth['username'] == 'u'
    assert cloud['region_name'] == 'R2'
    code, out, err = run(capsys, '--os-cloud', 'nope', 'host', 'list')
    assert code == 1 and "no cloud 'nope'" in err and 'broken, lab' in err
    code, out, err = run(capsys, '--os-cloud', 'broken', 'host', 'list')
    assert code == 1 and "cloud 'broken': its auth lacks auth_url" in err
    # The catalog is asked only when the API is needed, and the failure is named.
    monkeypatch.setenv('OS_CLOUD', 'lab')
    code, out, err = run(capsys, 'host', 'list')
    assert code == 1 and 'cannot reach Keystone at http://127.0.0.1:9/v3' in err


def test_user_add_and_list(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / 'users')
    monkeypatch.setattr('sys.stdin', io.StringIO('pw1\n'))
    code, out, err = run(capsys, 'user', 'add', 'ops', '--role', 'admin,reader', '--project',
                         'infra', '--file', path, '--password-stdin')
    assert code == 0, err
    assert "Added user 'ops' (roles: admin, reader; project: infra)" in out
    user = htpasswd.load(path)['ops']
    assert htpasswd.check_password(user, 'pw1') and user.hash.startswith('$2b$12$')
    monkeypatch.setattr('sys.stdin', io.StringIO('\n'))
    code, out, err = run(capsys, 'user', 'add', 'ops', '--file', path, '--password-stdin')
    assert code == 1 and 'password is empty' in err
    code, out, err = run(capsys, 'user', 'list', '--file', path, '-f', 'json')
    assert json.loads(out) == {'users': [{'name': 'ops', 'roles': ['admin', 'reader'],
                                          'project': 'infra'}]}
    assert '$2b$' not in out
    code, out, err = run(capsys, 'user', 'list', '--file', str(tmp_path / 'missing'))
    assert code == 1 and 'cannot read the http_basic users file' in err


def test_api_errors_carry_401_and_403_hints():
    assert 'OS_*' in manage._auth_hint(manage.api_client.APIError(401, 'Unauthorized', 'x'))
    assert 'roles' in manage._auth_hint(manage.api_client.APIError(403, 'Forbidden', 'x'))
    assert manage._auth_hint(manage.api_client.APIError(404, 'Not Found', 'x')) == ''


def test_the_local_keystones_clouds_yaml_is_what_the_cli_reads(tmp_path, monkeypatch):
    from migrator.sandbox import keystone as local_keystone
    creds = {'auth_url': 'http://127.0.0.1:5999/v3',
             'passwords': {'admin': 'a', 'migrator': 'm', 'reader': 'r'}}
    local_keystone._write_client_files(str(tmp_path), creds)
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', str(tmp_path / 'clouds.yaml'))
    auth_type, auth, cloud = client_auth.load_cloud('migrator-reader')
    assert auth == {'auth_url': 'http://127.0.0.1:5999/v3', 'username': 'reader',
                    'password': 'r', 'project_name': 'admin', 'user_domain_name': 'Default',
                    'project_domain_name': 'Default'}
    assert cloud['region_name'] == 'RegionOne' and cloud['interface'] == 'public'
    openrc = (tmp_path / 'admin-openrc').read_text()
    assert 'export OS_USERNAME=admin\n' in openrc and 'export OS_PASSWORD=a\n' in openrc
    snippet = (tmp_path / 'migrator-keystone.conf').read_text()
    assert 'auth_strategy = keystone' in snippet and 'password = m\n' in snippet
    assert (tmp_path / 'clouds.yaml').stat().st_mode & 0o777 == 0o600
