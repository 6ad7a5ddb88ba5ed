"""The API's authentication layer, chosen by [DEFAULT] auth_strategy.

Whatever the strategy, a request that reaches pecan carries the caller's identity the way
keystonemiddleware's auth_token sets it (X-Identity-Status: Confirmed, X-User-Id,
X-User-Name, X-Project-Id, X-Project-Name, X-Roles as a comma list, X-*-Domain-*), and
identity headers sent by the client are never trusted: the policy layer builds its
RequestContext from these headers alone (oslo.context RequestContext.from_environ).

- keystone: keystonemiddleware auth_token checks the X-Auth-Token header against Keystone
  ([keystone_authtoken] options) and sets the headers itself.
- http_basic: Authorization: Basic, checked against the bcrypt hashes of
  [api] http_basic_auth_user_file (migrator.common.htpasswd), roles from the same file.
- noauth: every caller is an admin; only allowed on a loopback address (check_listen).

A request without valid credentials gets a 401 in the API's JSON error format with a
WWW-Authenticate header. Version discovery (GET / and GET /v1) needs no credentials, as in
the other OpenStack APIs, so clients and load balancers can find the API.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from migrator.api import errors
from migrator.common import exceptions, htpasswd

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset(('', '/', '/v1', '/v1/'))
NOAUTH_USER = 'noauth'
NOAUTH_ROLES = ('admin', 'member', 'reader')

# Every header auth_token sets (and removes from what the client sent), as WSGI keys.
_IDENTITY_PREFIXES = ('HTTP_X_IDENTITY_STATUS', 'HTTP_X_SERVICE_', 'HTTP_X_DOMAIN_',
                      'HTTP_X_PROJECT_', 'HTTP_X_USER', 'HTTP_X_ROLE', 'HTTP_X_TENANT',
                      'HTTP_X_IS_ADMIN_PROJECT', 'HTTP_X_SYSTEM_SCOPE',
                      'HTTP_X_APP_CRED_', 'HTTP_X_AUTHORIZATION')
# The same, for the read cache's key (all that oslo.policy learns of the caller).
IDENTITY_PREFIXES = _IDENTITY_PREFIXES


class AuthConfigError(exceptions.MigratorException):
    """The configuration does not allow the API to start."""


def is_public(environ):
    return (environ.get('REQUEST_METHOD') in ('GET', 'HEAD')
            and environ.get('PATH_INFO', '') in PUBLIC_PATHS)


def remove_identity(environ):
    """Forgets every identity header the client sent."""
    for key in [k for k in environ if k.startswith(_IDENTITY_PREFIXES)]:
        del environ[key]


def set_identity(environ, user_name, roles, project_name, user_id=None, project_id=None):
    """The headers keystonemiddleware sets for a confirmed token (domain Default)."""
    environ.update({
        'HTTP_X_IDENTITY_STATUS': 'Confirmed',
        'HTTP_X_USER_ID': user_id or user_name,
        'HTTP_X_USER_NAME': user_name,
        'HTTP_X_USER_DOMAIN_ID': 'default',
        'HTTP_X_USER_DOMAIN_NAME': 'Default',
        'HTTP_X_PROJECT_ID': project_id or project_name,
        'HTTP_X_PROJECT_NAME': project_name,
        'HTTP_X_PROJECT_DOMAIN_ID': 'default',
        'HTTP_X_PROJECT_DOMAIN_NAME': 'Default',
        'HTTP_X_ROLES': ','.join(roles),
    })


def unauthorized(environ, start_response, message, challenge):
    response = errors.make_response(401, message)
    if challenge:
        response.headers['WWW-Authenticate'] = challenge
    LOG.info('%s %s refused (401): %s', environ.get('REQUEST_METHOD'),
             environ.get('PATH_INFO'), message)
    return response(environ, start_response)


class NoAuth:
    """Every caller is the admin 'noauth' (project 'noauth')."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        remove_identity(environ)
        set_identity(environ, NOAUTH_USER, NOAUTH_ROLES, NOAUTH_USER)
        return self.app(environ, start_response)


class HTTPBasicAuth:
    """Authorization: Basic against the users file, re-read whenever it changes.

    bcrypt is slow on purpose (~0.3 s a check at 12 rounds on a busy 2-core machine), and a
    client following a migration asks several times a second: a successful check is
    remembered for `cache_seconds`, keyed by an HMAC of the password under a key that
    lives only in this process, and forgotten as soon as the user's line changes.
    """

    CHALLENGE = 'Basic realm="migrator", charset="UTF-8"'

    def __init__(self, app, path, cache_seconds=300):
        self.app = app
        self.path = path
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._stamp = None
        self._users = {}
        self._verified = {}
        self._key = secrets.token_bytes(32)
        self._reload(initial=True)

    def _reload(self, initial=False):
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError as exc:
            if initial:
                raise AuthConfigError(f'auth_strategy = http_basic, but the users file '
                                      f'{self.path} ([api] http_basic_auth_user_file) cannot '
                                      f'be read: {exc.strerror}. Create it with '
                                      '`migrator-manage user add`.') from None
            LOG.error('Cannot read the users file %s (%s); keeping the users read before',
                      self.path, exc.strerror)
            return
        if stamp == self._stamp:
            return
        try:
            users = htpasswd.load(self.path)
        except htpasswd.UserFileError as exc:
            if initial:
                raise AuthConfigError(f'auth_strategy = http_basic: {exc.message}') from None
            LOG.error('%s; keeping the users read before', exc.message)
            return
        if initial and not users:
            raise AuthConfigError(f'auth_strategy = http_basic, but the users file {self.path} '
                                  'has no user. Add one with `migrator-manage user add`.')
        self._users, self._stamp = users, stamp
        self._verified.clear()
        if not initial:
            LOG.info('Re-read the users file %s: %d users', self.path, len(users))

    def authenticate(self, header):
        """The User for an Authorization header value, or (None, why not)."""
        scheme, _, value = (header or '').strip().partition(' ')
        if not header:
            return None, ('Authentication required: send a user name and password '
                          '(HTTP basic authentication).')
        if scheme.lower() != 'basic':
            return None, f"Authorization scheme '{scheme}' is not supported; use Basic."
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode('utf-8')
        except (binascii.Error, UnicodeDecodeError):
            return None, 'The Authorization header is not valid base64 of user:password.'
        name, sep, password = decoded.partition(':')
        if not sep:
            return None, 'The Authorization header is not valid base64 of user:password.'
        with self._lock:
            self._reload()
            user = self._users.get(name)
        if user is None or not self._check(user, password):
            return None, 'The user name or password is wrong.'
        return user, None

    def _check(self, user, password):
        mac = hmac.new(self._key, f'{user.name}\0{user.hash}\0{password}'.encode(),
                       hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            expires = self._verified.get(mac)
            if expires is not None and expires > now:
                return True
        if not htpasswd.check_password(user, password):
            return False
        with self._lock:
            if len(self._verified) > 10000:
                self._verified.clear()
            self._verified[mac] = now + self.cache_seconds
        return True

    def __call__(self, environ, start_response):
        remove_identity(environ)
        if is_public(environ):
            return self.app(environ, start_response)
        user, problem = self.authenticate(environ.get('HTTP_AUTHORIZATION'))
        if user is None:
            return unauthorized(environ, start_response, problem, self.CHALLENGE)
        set_identity(environ, user.name, user.roles, user.project)
        return self.app(environ, start_response)


class RequireKeystoneIdentity:
    """Inside auth_token (which runs with delay_auth_decision so that version discovery
    stays public): refuses every other request whose token auth_token did not confirm.
    auth_token adds `WWW-Authenticate: Keystone uri="<www_authenticate_uri>"` to the 401
    on its way out."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if is_public(environ) or environ.get('HTTP_X_IDENTITY_STATUS') == 'Confirmed':
            return self.app(environ, start_response)
        if environ.get('HTTP_X_AUTH_TOKEN'):
            message = ('The token in X-Auth-Token is not valid (expired, revoked or not '
                       'issued by this cloud\'s Keystone).')
        else:
            message = ('Authentication required: send a Keystone token in the X-Auth-Token '
                       'header (`openstack token issue`, or let migrator-manage get one '
                       'from OS_* variables or --os-cloud).')
        return unauthorized(environ, start_response, message, None)


def _keystone(app):
    from keystonemiddleware import auth_token

    group = CONF.keystone_authtoken
    if not group.auth_type:
        raise AuthConfigError(
            'auth_strategy = keystone needs the service user that checks tokens in '
            '[keystone_authtoken]: auth_type = password, auth_url, username, password, '
            'project_name, user_domain_name and project_domain_name (and '
            'www_authenticate_uri). Or set [DEFAULT] auth_strategy = http_basic, or noauth '
            'on a loopback address.')
    inner = RequireKeystoneIdentity(app)
    return auth_token.AuthProtocol(inner, {'oslo_config_config': CONF,
                                           'delay_auth_decision': True})


def wrap(app):
    """`app` behind the authentication layer of [DEFAULT] auth_strategy.

    Raises AuthConfigError when the configuration of that strategy cannot work."""
    strategy = CONF.auth_strategy
    if strategy == 'keystone':
        return _keystone(app)
    if strategy == 'http_basic':
        return HTTPBasicAuth(app, CONF.api.http_basic_auth_user_file)
    return NoAuth(app)


def is_loopback(host):
    """True when every address `host` stands for is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split('%')[0]).is_loopback
                               for info in infos)


def check_listen(host):
    """None when the API may listen on `host` with this auth_strategy, else what to set."""
    if CONF.auth_strategy != 'noauth' or is_loopback(host):
        return None
    return (f'refusing to serve the API on {host} without authentication: with [DEFAULT] '
            'auth_strategy = noauth anyone who reaches the port can migrate every VM. Set '
            '[DEFAULT] auth_strategy = keystone (with [keystone_authtoken]) or http_basic '
            '(with [api] http_basic_auth_user_file), or [api] host_ip = 127.0.0.1.')
