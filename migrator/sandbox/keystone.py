"""A local Keystone for the functional tests and the quickstart (tools/keystone.sh).

    python3 -m migrator.sandbox.keystone start [--state-dir D] [--port 5000]
                                              [--migrator-url http://127.0.0.1:9777]
    python3 -m migrator.sandbox.keystone stop [--state-dir D]

`start` installs Keystone from PyPI into a venv of its own (once; reused by later runs),
configures it on SQLite with fernet tokens, runs db_sync, fernet_setup, credential_setup and
bootstrap (once per state directory), serves keystone.wsgi.api:application with waitress on
127.0.0.1, and makes sure of (creating or updating what is missing or different):

- the service user `migrator` (role `service` in project `service`) that keystonemiddleware
  uses to check tokens;
- the user `admin` (role admin in project admin, from bootstrap) and a user `reader`
  (role reader in project admin);
- the service `migrator` of type `migration` with public, internal and admin endpoints at
  --migrator-url, so clients find the API in the catalog.

It writes into the state directory credentials.json (every password, generated on the
first run), clouds.yaml (clouds migrator-admin and migrator-reader), admin-openrc and
reader-openrc, and migrator-keystone.conf (the [keystone_authtoken] section for the API).
Run again, it does only what is missing. `stop` stops the server by its pid.

Only the standard library: it runs with the system python3 from a checkout.
"""

import argparse
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from migrator.sandbox import process

KEYSTONE_REQUIREMENTS = ('keystone==30.0.0', 'waitress==3.0.2')
DEFAULT_STATE_DIR = '/var/lib/migrator-keystone'
DEFAULT_VENV = os.environ.get('MIGRATOR_KEYSTONE_VENV', '/var/cache/migrator/keystone-venv')
DEFAULT_PORT = 5000
HOST = '127.0.0.1'
REGION = 'RegionOne'
SERVICE_TYPE = 'migration'
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'keystone_wsgi.py')


class KeystoneError(Exception):
    pass


def _log(message):
    print(f'keystone: {message}', file=sys.stderr, flush=True)


# -- the venv ---------------------------------------------------------------------------------

def ensure_venv(venv=DEFAULT_VENV):
    """Keystone's venv, made once and reused (a lock keeps two runs from building it at
    the same time). Returns its python."""
    stamp_text = '\n'.join(KEYSTONE_REQUIREMENTS) + '\n'
    stamp = os.path.join(venv, '.migrator-keystone-requirements')
    python = os.path.join(venv, 'bin', 'python')
    os.makedirs(os.path.dirname(venv.rstrip('/')) or '.', exist_ok=True)
    with open(venv.rstrip('/') + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                if f.read() == stamp_text and os.path.exists(python):
                    return python
        except OSError:
            pass
        _log(f'installing {" ".join(KEYSTONE_REQUIREMENTS)} into {venv} (once; a minute or '
             'two)')
        started = time.monotonic()
        if not os.path.exists(python):
            subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
        subprocess.run([python, '-m', 'pip', 'install', '-q', *KEYSTONE_REQUIREMENTS],
                       check=True)
        with open(stamp, 'w') as f:
            f.write(stamp_text)
        _log(f'venv ready in {time.monotonic() - started:.0f} s')
    return python


# -- configuration and bootstrap ----------------------------------------------------------------

def _paths(state_dir):
    return {name: os.path.join(state_dir, name) for name in (
        'keystone.conf', 'keystone.sqlite', 'fernet-keys', 'credential-keys', 'keystone.log',
        'keystone.pid', 'credentials.json', 'bootstrapped', 'clouds.yaml', 'admin-openrc',
        'reader-openrc', 'migrator-keystone.conf', 'server.log')}


def _credentials(state_dir, port, passwords=None):
    path = _paths(state_dir)['credentials.json']
    try:
        with open(path) as f:
            creds = json.load(f)
    except (OSError, ValueError):
        creds = {'passwords': passwords or {
            name: secrets.token_urlsafe(16) for name in ('admin', 'migrator', 'reader')}}
    creds['port'] = port or creds.get('port') or DEFAULT_PORT
    creds['auth_url'] = f"http://{HOST}:{creds['port']}/v3"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(creds, f, indent=2)
    return creds


def _write_keystone_conf(state_dir, creds):
    p = _paths(state_dir)
    with open(p['keystone.conf'], 'w') as f:
        f.write(f"""[DEFAULT]
log_file = {p['keystone.log']}
[database]
connection = sqlite:///{p['keystone.sqlite']}
[fernet_tokens]
key_repository = {p['fernet-keys']}
[credential]
key_repository = {p['credential-keys']}
[cache]
# In-process memory cache: without any, every request rebuilds the token from SQLite
# (2-3 s a request on a busy 2-core machine).
enabled = true
backend = oslo_cache.dict
[identity]
# bcrypt cost 4 instead of 12: a token request takes ~0.1 s instead of ~1 s on 2 cores.
# This Keystone is for tests and the quickstart only.
password_hash_rounds = 4
""")


def _manage(python, state_dir, *args):
    manage = os.path.join(os.path.dirname(python), 'keystone-manage')
    result = subprocess.run([manage, '--config-file', _paths(state_dir)['keystone.conf'],
                             *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise KeystoneError(f'keystone-manage {args[0]} failed: '
                            f'{(result.stderr or result.stdout).strip()[-2000:]}')


def _template_dir(venv):
    return os.path.join(os.path.dirname(venv.rstrip('/')), 'keystone-bootstrapped')


def _bootstrap_from_template(python, venv, state_dir):
    """Gives state_dir a bootstrapped database and keys, copied from a template that is
    bootstrapped once beside the venv: db_sync and the three other keystone-manage runs
    take about a minute on a busy 2-core machine, a copy a fraction of a second."""
    p = _paths(state_dir)
    if os.path.exists(p['bootstrapped']):
        return
    template = _template_dir(venv)
    t = _paths(template)
    with open(template.rstrip('/') + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(t['bootstrapped']):
            os.makedirs(template, mode=0o700, exist_ok=True)
            template_creds = _credentials(template, DEFAULT_PORT)
            _write_keystone_conf(template, template_creds)
            _bootstrap(python, template, template_creds)
        with open(t['credentials.json']) as f:
            passwords = json.load(f)['passwords']
        for name in ('fernet-keys', 'credential-keys'):
            shutil.rmtree(p[name], ignore_errors=True)
            shutil.copytree(t[name], p[name])
        shutil.copyfile(t['keystone.sqlite'], p['keystone.sqlite'])
    with open(p['credentials.json']) as f:
        creds = json.load(f)
    creds['passwords'] = passwords
    with open(p['credentials.json'], 'w') as f:
        json.dump(creds, f, indent=2)
    with open(p['bootstrapped'], 'w') as f:
        f.write(f'copied from {template}\n')


def _bootstrap(python, state_dir, creds):
    p = _paths(state_dir)
    if os.path.exists(p['bootstrapped']):
        return
    started = time.monotonic()
    _manage(python, state_dir, 'db_sync')
    for what in ('fernet_setup', 'credential_setup'):
        _manage(python, state_dir, what, '--keystone-user', 'root', '--keystone-group', 'root')
    url = creds['auth_url'] + '/'
    _manage(python, state_dir, 'bootstrap', '--bootstrap-password',
            creds['passwords']['admin'], '--bootstrap-region-id', REGION,
            '--bootstrap-admin-url', url, '--bootstrap-internal-url', url,
            '--bootstrap-public-url', url)
    with open(p['bootstrapped'], 'w') as f:
        f.write('done\n')
    _log(f'bootstrapped in {time.monotonic() - started:.0f} s')


# -- the server ------------------------------------------------------------------------------

def _pid(state_dir):
    return process.pidfile_process(_paths(state_dir)['keystone.pid'])


def _answers(auth_url):
    try:
        with urllib.request.urlopen(auth_url, timeout=5) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _serve(python, state_dir, creds, timeout=120):
    p = _paths(state_dir)
    if _pid(state_dir) and _answers(creds['auth_url']):
        return
    env = dict(os.environ, OS_KEYSTONE_CONFIG_DIR=state_dir,
               OS_KEYSTONE_CONFIG_FILES='keystone.conf')
    proc = process.spawn_server([python, RUNNER, HOST, str(creds['port'])], p['keystone.pid'],
                                p['server.log'], env=env)
    process.wait_serving(proc, lambda: _answers(creds['auth_url']), timeout, what='Keystone',
                         url=creds['auth_url'], logs=f"{p['server.log']} and {p['keystone.log']}",
                         error=KeystoneError, stop=lambda: stop(state_dir))


def stop(state_dir=DEFAULT_STATE_DIR, timeout=20):
    """Stops the server by its pid (SIGTERM, then SIGKILL); True when one was running."""
    return process.stop_pidfile(_paths(state_dir)['keystone.pid'], timeout)


# -- the REST calls ----------------------------------------------------------------------------

class _Keystone:
    def __init__(self, auth_url, password):
        self.auth_url = auth_url
        self.token = self.issue_token('admin', password, 'admin')

    def _call(self, method, path, body=None, token=True, expect=(200, 201, 204)):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.auth_url + path, data=data, method=method,
                                         headers={'Content-Type': 'application/json'})
        if token:
            request.add_header('X-Auth-Token', self.token)
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                text = resp.read().decode()
                return resp, json.loads(text) if text else {}
        except urllib.error.HTTPError as exc:
            if exc.code in expect:
                return exc, {}
            raise KeystoneError(f'{method} {path}: {exc.code} {exc.read().decode()[:500]}'
                                ) from None

    def issue_token(self, user, password, project):
        body = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': user, 'domain': {'id': 'default'}, 'password': password}}},
            'scope': {'project': {'name': project, 'domain': {'id': 'default'}}}}}
        resp, _ = self._call('POST', '/auth/tokens', body, token=False)
        return resp.headers['X-Subject-Token']

    def find(self, collection, **query):
        path = f'/{collection}?' + '&'.join(f'{k}={v}' for k, v in query.items())
        return self._call('GET', path)[1][collection]

    def ensure(self, collection, key, body, **query):
        """The one entity of `collection` matching query: created from body, or updated
        with it where it differs."""
        found = self.find(collection, **query)
        if not found:
            return self._call('POST', f'/{collection}', {key: body})[1][key]
        entity = found[0]
        changed = {k: v for k, v in body.items() if k != 'password' and entity.get(k) != v}
        if changed:
            entity = self._call('PATCH', f"/{collection}/{entity['id']}",
                                {key: changed})[1][key]
        return entity

    def grant(self, project_id, user_id, role_name):
        role = self.find('roles', name=role_name)[0]
        self._call('PUT', f"/projects/{project_id}/users/{user_id}/roles/{role['id']}")


def _ensure_resources(creds, migrator_url):
    ks = _Keystone(creds['auth_url'], creds['passwords']['admin'])
    passwords = creds['passwords']
    service_project = ks.ensure('projects', 'project', {
        'name': 'service', 'domain_id': 'default', 'description': 'Service users'},
        name='service', domain_id='default')
    admin_project = ks.find('projects', name='admin', domain_id='default')[0]
    for name, project, role in (('migrator', service_project, 'service'),
                                ('reader', admin_project, 'reader')):
        user = ks.ensure('users', 'user', {'name': name, 'domain_id': 'default',
                                           'password': passwords[name]},
                         name=name, domain_id='default')
        ks.grant(project['id'], user['id'], role)
        try:
            ks.issue_token(name, passwords[name], project['name'])
        except KeystoneError:  # an older password: set ours (revokes that user's tokens)
            ks._call('PATCH', f"/users/{user['id']}", {'user': {'password': passwords[name]}})
    # Keystone's own endpoints follow the port (keystonemiddleware validates tokens at the
    # identity endpoint of the catalog, not at auth_url).
    identity = ks.find('services', type='identity')[0]
    for interface in ('public', 'internal', 'admin'):
        ks.ensure('endpoints', 'endpoint', {
            'service_id': identity['id'], 'interface': interface, 'region_id': REGION,
            'url': creds['auth_url'] + '/'}, service_id=identity['id'], interface=interface)
    service = ks.ensure('services', 'service', {'name': 'migrator', 'type': SERVICE_TYPE,
                                                'description': 'Compute migrations'},
                        type=SERVICE_TYPE)
    if migrator_url:
        for interface in ('public', 'internal', 'admin'):
            ks.ensure('endpoints', 'endpoint', {
                'service_id': service['id'], 'interface': interface, 'region_id': REGION,
                'url': migrator_url}, service_id=service['id'], interface=interface)


def _write_client_files(state_dir, creds):
    p = _paths(state_dir)
    users = {'admin': 'admin', 'reader': 'reader'}
    clouds = ['clouds:']
    for cloud, user in users.items():
        clouds += [f'  migrator-{cloud}:', '    auth:', f"      auth_url: {creds['auth_url']}",
                   f'      username: {user}', f"      password: {creds['passwords'][user]}",
                   '      project_name: admin', '      user_domain_name: Default',
                   '      project_domain_name: Default', f'    region_name: {REGION}',
                   '    interface: public']
    files = {p['clouds.yaml']: '\n'.join(clouds) + '\n'}
    for user in users:
        files[p[f'{user}-openrc']] = ''.join(
            f'export {k}={v}\n' for k, v in (
                ('OS_AUTH_URL', creds['auth_url']), ('OS_USERNAME', user),
                ('OS_PASSWORD', creds['passwords'][user]), ('OS_PROJECT_NAME', 'admin'),
                ('OS_USER_DOMAIN_NAME', 'Default'), ('OS_PROJECT_DOMAIN_NAME', 'Default'),
                ('OS_REGION_NAME', REGION), ('OS_INTERFACE', 'public')))
    files[p['migrator-keystone.conf']] = f"""[DEFAULT]
auth_strategy = keystone
[keystone_authtoken]
www_authenticate_uri = {creds['auth_url']}
auth_url = {creds['auth_url']}
auth_type = password
username = migrator
password = {creds['passwords']['migrator']}
project_name = service
user_domain_name = Default
project_domain_name = Default
"""
    for path, text in files.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(text)


def start(state_dir=DEFAULT_STATE_DIR, port=None, migrator_url=None, venv=DEFAULT_VENV):
    """Everything above; returns the credentials: {'auth_url', 'port', 'passwords':
    {'admin', 'migrator', 'reader'}, 'state_dir', 'files': {name: path}}."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    python = ensure_venv(venv)
    creds = _credentials(state_dir, port)
    running = _pid(state_dir) is not None and _answers(creds['auth_url'])
    if not running:
        stop(state_dir)  # one that runs on another port, or hangs
        _write_keystone_conf(state_dir, creds)
        _bootstrap_from_template(python, venv, state_dir)
        creds = _credentials(state_dir, port)
        _serve(python, state_dir, creds)
    try:
        _ensure_resources(creds, migrator_url)
    except BaseException:
        if not running:
            stop(state_dir)
        raise
    _write_client_files(state_dir, creds)
    p = _paths(state_dir)
    creds['state_dir'] = state_dir
    creds['files'] = {k: p[k] for k in ('clouds.yaml', 'admin-openrc', 'reader-openrc',
                                        'migrator-keystone.conf', 'keystone.pid')}
    return creds


def main(argv=None):
    parser = argparse.ArgumentParser(prog='tools/keystone.sh', description=__doc__.split(
        '\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=('start', 'stop'))
    parser.add_argument('--state-dir', default=DEFAULT_STATE_DIR,
                        help=f'Keystone\'s config, database, keys, logs, pid and the '
                             f'credentials it made (default {DEFAULT_STATE_DIR}).')
    parser.add_argument('--venv', default=DEFAULT_VENV,
                        help=f'Keystone\'s own venv, reused (default {DEFAULT_VENV}, or '
                             '$MIGRATOR_KEYSTONE_VENV).')
    parser.add_argument('--port', type=int, default=None,
                        help=f'Port on {HOST} (default: as before, else {DEFAULT_PORT}).')
    parser.add_argument('--migrator-url', default=None,
                        help='URL of the migrator API to register in the catalog as the '
                             f'{SERVICE_TYPE} endpoint (e.g. http://127.0.0.1:9777).')
    args = parser.parse_args(argv)
    try:
        if args.action == 'stop':
            print('stopped' if stop(args.state_dir) else 'not running')
            return 0
        creds = start(args.state_dir, args.port, args.migrator_url, args.venv)
    except (KeystoneError, subprocess.CalledProcessError, OSError) as exc:
        print(f'keystone: {exc}', file=sys.stderr)
        return 1
    print(json.dumps({k: creds[k] for k in ('auth_url', 'state_dir', 'files')}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
