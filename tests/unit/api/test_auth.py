"""The API's authentication layer (migrator.api.auth) in-process: noauth, http_basic, the
401s, forged identity headers, the users file, and the listen-address check. keystone mode
runs against a real Keystone in tests/functional/service/test_auth.py."""

import base64
import json
import os

import pytest
from oslo_config import cfg

from migrator.api import app as api_app
from migrator.api import auth
from migrator.common import htpasswd
from tests.unit.api import fakes

CONF = cfg.CONF


@pytest.fixture
def strategy():
    def set_strategy(name, user_file=None):
        CONF.set_override('auth_strategy', name)
        if user_file is not None:
            CONF.set_override('http_basic_auth_user_file', str(user_file), group='api')
    yield set_strategy
    CONF.clear_override('auth_strategy')
    CONF.clear_override('http_basic_auth_user_file', group='api')


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / 'htpasswd'
    htpasswd.set_user(str(path), 'alice', 's3cret', ['admin'], rounds=4)
    htpasswd.set_user(str(path), 'bob', 'pass:word', ['reader'], 'ops', rounds=4)
    return path


class Capture:
    """A WSGI app that answers 200 with the identity headers it was given."""

    def __call__(self, environ, start_response):
        seen = {k: v for k, v in environ.items() if k.startswith('HTTP_X_')}
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(seen).encode()]


def basic(user, password):
    token = base64.b64encode(f'{user}:{password}'.encode()).decode()
    return {'Authorization': f'Basic {token}'}


FORGED = {'X-Identity-Status': 'Confirmed', 'X-Roles': 'admin', 'X-User-Id': 'mallory',
          'X-Project-Id': 'p', 'X-Service-Roles': 'service', 'X-Tenant-Id': 't'}


def test_noauth_every_caller_is_the_noauth_admin_whatever_it_claims(strategy):
    strategy('noauth')
    client = fakes.WSGIClient(auth.wrap(Capture()))
    seen = client.get('/v1/hosts', headers=FORGED).json
    assert seen['HTTP_X_IDENTITY_STATUS'] == 'Confirmed'
    assert seen['HTTP_X_USER_ID'] == 'noauth' and seen['HTTP_X_USER_NAME'] == 'noauth'
    assert seen['HTTP_X_ROLES'] == 'admin,member,reader'
    assert 'HTTP_X_SERVICE_ROLES' not in seen and 'HTTP_X_TENANT_ID' not in seen


def test_http_basic_without_credentials_is_401_json_with_challenge(strategy, users_file,
                                                                    db, conductor):
    strategy('http_basic', users_file)
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
    for method, path in (('GET', '/v1/hosts'), ('POST', '/v1/migrations'),
                         ('DELETE', '/v1/migrations/x')):
        resp = client.request(method, path, body={'instance': 'vm1'})
        fakes.assert_error(resp, 401, 'Authentication required')
        assert resp.headers['WWW-Authenticate'].startswith('Basic realm="migrator"')
    # Version discovery stays open.
    assert client.get('/').status_int == 200
    assert client.get('/v1').status_int == 200


@pytest.mark.parametrize('headers, words', [
    (basic('alice', 'wrong'), ['user name or password is wrong']),
    (basic('nobody', 's3cret'), ['user name or password is wrong']),
    ({'Authorization': 'Basic !!!notbase64'}, ['not valid base64']),
    ({'Authorization': 'Basic ' + base64.b64encode(b'alice').decode()}, ['not valid base64']),
    ({'Authorization': 'Bearer abc'}, ["scheme 'Bearer' is not supported"]),
])
def test_http_basic_bad_credentials_are_401(strategy, users_file, headers, words):
    strategy('http_basic', users_file)
    resp = fakes.WSGIClient(auth.wrap(Capture())).get('/v1/hosts', headers=headers)
    fakes.assert_error(resp, 401, *words)
    assert 'WWW-Authenticate' in resp.headers


def test_http_basic_user_gets_its_roles_and_project_not_the_forged_ones(strategy,
                                                                        users_file):
    strategy('http_basic', users_file)
    client = fakes.WSGIClient(auth.wrap(Capture()))
    seen = client.get('/v1/hosts', headers={**FORGED, **basic('bob', 'pass:word')}).json
    assert seen['HTTP_X_IDENTITY_STATUS'] == 'Confirmed'
    assert seen['HTTP_X_USER_ID'] == seen['HTTP_X_USER_NAME'] == 'bob'
    assert seen['HTTP_X_ROLES'] == 'reader'
    assert seen['HTTP_X_PROJECT_ID'] == seen['HTTP_X_PROJECT_NAME'] == 'ops'
    assert seen['HTTP_X_USER_DOMAIN_NAME'] == 'Default'
    assert 'HTTP_X_SERVICE_ROLES' not in seen
    seen = client.get('/v1/hosts', headers=basic('alice', 's3cret')).json
    assert seen['HTTP_X_ROLES'] == 'admin' and seen['HTTP_X_PROJECT_NAME'] == 'default'


def test_http_basic_reaches_the_api(strategy, users_file, db, conductor):
    strategy('http_basic', users_file)
    client = fakes.WSGIClient(api_app.setup_app(db=db, conductor_api=conductor))
    resp = client.get('/v1/hosts', headers=basic('alice', 's3cret'))
    assert resp.status_int == 200, resp.text
    assert resp.json == {'hosts': []} or 'hosts' in resp.json


def test_http_basic_rereads_the_file_and_keeps_the_old_users_if_it_breaks(strategy,
                                                                           users_file):
    strategy('http_basic', users_file)
    client = fakes.WSGIClient(auth.wrap(Capture()))
    assert client.get('/v1/hosts', headers=basic('carol', 'pw')).status_int == 401
    htpasswd.set_user(str(users_file), 'carol', 'pw', ['member'], rounds=4)
    assert client.get('/v1/hosts', headers=basic('carol', 'pw')).json[
        'HTTP_X_ROLES'] == 'member'
    # A new password takes effect at once, even though the old one was remembered.
    htpasswd.set_user(str(users_file), 'carol', 'pw2', ['member'], rounds=4)
    assert client.get('/v1/hosts', headers=basic('carol', 'pw')).status_int == 401
    assert client.get('/v1/hosts', headers=basic('carol', 'pw2')).status_int == 200
    with open(users_file, 'a') as f:
        f.write('broken line\n')
    assert client.get('/v1/hosts', headers=basic('carol', 'pw2')).status_int == 200


@pytest.mark.parametrize('content, words', [
    (None, ['cannot be read', 'migrator-manage user add']),
    ('', ['has no user']),
    ('alice:plaintext:admin\n', ['line 1', 'not a bcrypt hash']),
    ('a:b:c:d:e\n', ['line 1', 'expected name:bcrypt-hash']),
])
def test_http_basic_refuses_to_start_on_a_bad_users_file(strategy, tmp_path, content,
                                                         words):
    path = tmp_path / 'htpasswd'
    if content is not None:
        path.write_text(content)
    strategy('http_basic', path)
    with pytest.raises(auth.AuthConfigError) as caught:
        auth.wrap(Capture())
    for word in words:
        assert word in caught.value.message


def test_keystone_without_a_service_user_refuses_to_start(strategy):
    strategy('keystone')
    with pytest.raises(auth.AuthConfigError) as caught:
        auth.wrap(Capture())
    assert '[keystone_authtoken]' in caught.value.message
    assert 'auth_type = password' in caught.value.message


@pytest.mark.parametrize('host, allowed', [
    ('127.0.0.1', True), ('127.0.14.9', True), ('::1', True), ('localhost', True),
    ('0.0.0.0', False), ('::', False), ('192.0.2.10', False),
])
def test_noauth_only_on_loopback(strategy, host, allowed):
    strategy('noauth')
    problem = auth.check_listen(host)
    if allowed:
        assert problem is None
    else:
        assert 'auth_strategy = keystone' in problem and 'http_basic' in problem
        assert host in problem
    strategy('http_basic')
    assert auth.check_listen(host) is None


def test_users_file_format_round_trip(tmp_path):
    path = str(tmp_path / 'htpasswd')
    with open(path, 'w') as f:
        f.write('# operators\n\nold:$2y$04$' + 'a' * 53 + '\n')
    user, replaced = htpasswd.set_user(path, 'eve', 'pw', ['admin', 'reader'], 'ops', rounds=4)
    assert not replaced
    new = str(tmp_path / 'new')
    htpasswd.set_user(new, 'eve', 'pw', [], rounds=4)
    assert os.stat(new).st_mode & 0o777 == 0o600  # hashes are secrets too
    users = htpasswd.load(path)
    assert users['old'].roles == () and users['old'].project == 'default'
    assert users['eve'].roles == ('admin', 'reader') and users['eve'].project == 'ops'
    assert htpasswd.check_password(users['eve'], 'pw')
    assert not htpasswd.check_password(users['eve'], 'pW')
    _, replaced = htpasswd.set_user(path, 'eve', 'new', ['reader'], rounds=4)
    assert replaced
    text = open(path).read()
    assert text.startswith('# operators\n\n') and text.count('eve:') == 1
    with pytest.raises(htpasswd.UserFileError):
        htpasswd.set_user(path, 'bad name', 'pw', [], rounds=4)
    with pytest.raises(htpasswd.UserFileError):
        htpasswd.set_user(path, 'x', 'pw', ['no spaces'], rounds=4)
