"""How migrator-manage authenticates to the API, the way OpenStack clients do.

In this order:

1. ``--os-cloud NAME`` (or ``OS_CLOUD``): the cloud's entry in clouds.yaml (``auth``,
   ``auth_type``, ``region_name``, ``interface``, ``cacert``, ``verify``), looked for in
   ``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``, ``~/.config/openstack/clouds.yaml`` and
   ``/etc/openstack/clouds.yaml``.
2. ``--os-auth-url`` (or ``OS_AUTH_URL``) with the other ``--os-*`` options / ``OS_*``
   variables of the keystoneauth1 plugin ``--os-auth-type`` (default ``password``).
3. ``MIGRATOR_USERNAME``/``MIGRATOR_PASSWORD``, or ``--os-username``/``--os-password``
   without an auth URL: HTTP basic authentication (``auth_strategy = http_basic``).
4. Nothing: no credentials (``auth_strategy = noauth``).

With Keystone, a keystoneauth1 session gets (and renews) the token, and the API's endpoint
comes from the catalog (service type ``migration``) unless ``--url``/``MIGRATOR_URL`` gives
it.
"""

import os

import requests
import yaml
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading
from keystoneauth1 import session as ks_session

from migrator.cmd import client as api_client

SERVICE_TYPE = 'migration'
CLOUDS_FILES = ('clouds.yaml', '~/.config/openstack/clouds.yaml',
                '/etc/openstack/clouds.yaml')


def add_arguments(parser, argv):
    """The --os-* options (keystoneauth1's, for the plugin OS_AUTH_TYPE or password)."""
    parser.add_argument('--os-cloud', default=os.environ.get('OS_CLOUD'), metavar='NAME',
                        help='Cloud of clouds.yaml to authenticate with (default: $OS_CLOUD).')
    parser.add_argument('--os-region-name', default=os.environ.get('OS_REGION_NAME'),
                        metavar='REGION',
                        help='Region of the migration endpoint (default: $OS_REGION_NAME).')
    parser.add_argument('--os-interface', default=os.environ.get('OS_INTERFACE', 'public'),
                        metavar='INTERFACE',
                        help='Endpoint interface: public, internal or admin (default: '
                             '$OS_INTERFACE, else public).')
    parser.add_argument('--os-cacert', default=os.environ.get('OS_CACERT'), metavar='PATH',
                        help='CA bundle to verify TLS certificates (default: $OS_CACERT).')
    parser.add_argument('--insecure', action='store_true',
                        default=os.environ.get('OS_INSECURE', '').lower() in ('1', 'true'),
                        help='Do not verify TLS certificates.')
    loading.register_auth_argparse_arguments(parser, argv, default='password')


class AuthFailed(api_client.ClientError):
    pass


def _clouds_file():
    candidates = [os.environ['OS_CLIENT_CONFIG_FILE']] if os.environ.get(
        'OS_CLIENT_CONFIG_FILE') else list(CLOUDS_FILES)
    for path in candidates:
        path = os.path.expanduser(path)
        if os.path.isfile(path):
            return path
    raise AuthFailed('--os-cloud needs a clouds.yaml; none found in ' + ', '.join(candidates))


def load_cloud(name):
    """(auth_type, auth options, other settings) of cloud `name` in clouds.yaml."""
    path = _clouds_file()
    try:
        with open(path) as f:
            document = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AuthFailed(f'cannot read {path}: {exc}') from None
    clouds = document.get('clouds') if isinstance(document, dict) else None
    if not isinstance(clouds, dict) or not isinstance(clouds.get(name), dict):
        known = ', '.join(sorted(clouds)) if isinstance(clouds, dict) else 'none'
        raise AuthFailed(f"no cloud '{name}' in {path} (clouds there: {known})")
    cloud = clouds[name]
    auth = cloud.get('auth') or {}
    if not isinstance(auth, dict):
        raise AuthFailed(f"cloud '{name}' in {path}: 'auth' is not a mapping")
    return cloud.get('auth_type', 'password'), auth, cloud


def _plugin_from_cloud(name):
    auth_type, auth, cloud = load_cloud(name)
    try:
        loader = loading.get_plugin_loader(auth_type)
    except ks_exceptions.NoMatchingPlugin:
        raise AuthFailed(f"cloud '{name}': unknown auth_type '{auth_type}'") from None
    known = {o.dest for o in loader.get_options()}
    options = {k.replace('-', '_'): v for k, v in auth.items() if k.replace('-', '_') in known}
    try:
        return loader.load_from_options(**options), cloud
    except ks_exceptions.MissingRequiredOptions as exc:
        missing = ', '.join(o.dest for o in exc.options)
        raise AuthFailed(f"cloud '{name}': its auth lacks {missing}") from None


class KeystoneToken(requests.auth.AuthBase):
    """Puts the session's token (got and renewed by keystoneauth1) into X-Auth-Token."""

    def __init__(self, session, auth_url):
        self.session = session
        self.auth_url = auth_url

    def __call__(self, request):
        request.headers['X-Auth-Token'] = explain(self.session.get_token, self.auth_url)
        return request


def explain(call, auth_url, *args, **kwargs):
    """call(), with keystoneauth1's errors turned into a message for the user."""
    where = f'Keystone at {auth_url}' if auth_url else 'Keystone'
    try:
        return call(*args, **kwargs)
    except ks_exceptions.Unauthorized:
        raise AuthFailed(f'{where} refused the credentials (HTTP 401): check the user name, '
                         'password, project and domains (OS_* variables or --os-cloud).'
                         ) from None
    except ks_exceptions.MissingRequiredOptions as exc:
        missing = ', '.join('--os-' + o.dest.replace('_', '-') for o in exc.options)
        raise AuthFailed(f'incomplete Keystone credentials: give {missing} (or the OS_* '
                         'variables)') from None
    except ks_exceptions.EndpointNotFound:
        raise AuthFailed(f"{where}: the catalog has no '{SERVICE_TYPE}' endpoint for this "
                         'interface and region; register one (tools/keystone.sh does) or '
                         'give the API URL with --url or MIGRATOR_URL.') from None
    except ks_exceptions.ConnectionError as exc:
        raise AuthFailed(f'cannot reach {where}: {exc}') from None
    except ks_exceptions.ClientException as exc:
        raise AuthFailed(f'authentication with {where} failed: {exc}') from None


def build_client(args, default_url):
    """An api_client.Client that authenticates as args and the environment say.

    default_url: the API URL when neither --url/MIGRATOR_URL nor the catalog gives one."""
    url = args.url or os.environ.get('MIGRATOR_URL')
    http = requests.Session()
    http.verify = False if args.insecure else (args.os_cacert or True)
    cloud_name = args.os_cloud
    plugin, settings = None, {}
    if cloud_name:
        plugin, settings = _plugin_from_cloud(cloud_name)
    elif getattr(args, 'os_auth_url', None):
        plugin = explain(loading.load_auth_from_argparse_arguments, args.os_auth_url, args)
    else:
        user = os.environ.get('MIGRATOR_USERNAME') or getattr(args, 'os_username', None)
        password = (os.environ.get('MIGRATOR_PASSWORD') if os.environ.get('MIGRATOR_USERNAME')
                    else getattr(args, 'os_password', None))
        if user:
            if password is None:
                raise AuthFailed(f"a password for '{user}' is missing: set MIGRATOR_PASSWORD "
                                 '(or --os-password)')
            http.auth = (user, password)
        return api_client.Client(url or default_url, session=http)

    verify = http.verify
    if 'cacert' in settings:
        verify = settings['cacert']
    if settings.get('verify') is False:
        verify = False
    http.verify = verify
    keystone = ks_session.Session(auth=plugin, verify=verify)
    auth_url = getattr(plugin, 'auth_url', None)
    http.auth = KeystoneToken(keystone, auth_url)
    if url:
        return api_client.Client(url, session=http)
    interface = settings.get('interface') or args.os_interface
    region = settings.get('region_name') or args.os_region_name

    def endpoint():
        found = explain(keystone.get_endpoint, auth_url, service_type=SERVICE_TYPE,
                        interface=interface, region_name=region)
        if not found:
            raise AuthFailed(f"Keystone at {auth_url}: the catalog has no '{SERVICE_TYPE}' "
                             f'endpoint (interface {interface}, region {region or "any"}); '
                             'register one (tools/keystone.sh does) or give the API URL '
                             'with --url or MIGRATOR_URL.')
        return found
    return api_client.Client(endpoint, session=http)
