"""A local Horizon 27 with the migrator dashboard plugin, for the quickstart and the browser
tests (tools/horizon.sh).

    python3 -m migrator.sandbox.horizon start --keystone-url http://127.0.0.1:5000/v3
                                              [--state-dir D] [--port 8000]
    python3 -m migrator.sandbox.horizon stop [--state-dir D]

`start` installs Horizon from PyPI into a venv of its own (once; reused by later runs) with
the plugin of this checkout (`dashboard/`, installed editable), and serves it on 127.0.0.1 on
the embedded defaults: no Apache, no memcached (sessions in signed cookies, a local memory
cache), static files compressed offline and served by Django's server.

Horizon reads its local settings and the plugin's enabled files only from inside its
installed package, so the venv gets a fixed `openstack_dashboard/local/local_settings.py`
that loads the settings of the instance it runs for from the file named by
MIGRATOR_HORIZON_SETTINGS (each state directory has its own: Keystone URL, secret key,
static root, log file), and a copy of the plugin's enabled files. collectstatic and
compress run again whenever the plugin's files or the settings change (Horizon answers
every page with a 500 otherwise). `stop` stops the server by its pid.

Only the standard library: it runs with the system python3 from a checkout.
"""

import argparse
import fcntl
import glob
import hashlib
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

HORIZON_REQUIREMENTS = ('horizon==27.0.0', 'Django>=5.2,<6')
DEFAULT_STATE_DIR = '/var/lib/migrator-horizon'
DEFAULT_VENV = os.environ.get('MIGRATOR_HORIZON_VENV', '/var/cache/migrator/horizon-venv')
DEFAULT_PORT = 8000
HOST = '127.0.0.1'
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN_DIR = os.path.join(CHECKOUT, 'dashboard')
PLUGIN_PACKAGE = 'migrator_dashboard'
SETTINGS_ENV = 'MIGRATOR_HORIZON_SETTINGS'
# What the venv's local_settings.py says: the instance's own settings, from its state dir.
LOCAL_SETTINGS = f'''# Written by migrator.sandbox.horizon: the settings of the Horizon instance
# started with {SETTINGS_ENV} naming its settings file (one per state directory).
import os as _os

_path = _os.environ.get({SETTINGS_ENV!r})
if _path:
    with open(_path) as _f:
        exec(compile(_f.read(), _path, 'exec'))
'''
COPIED_LIST = '.migrator-enabled-files'


class HorizonError(Exception):
    pass


def _log(message):
    print(f'horizon: {message}', file=sys.stderr, flush=True)


# -- the venv ---------------------------------------------------------------------------------

def _env(**extra):
    """The environment for Horizon's venv: without PYTHONPATH (tools/horizon.sh puts this
    checkout there, and pip would take migrator's egg-info for an installed package)."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(extra)
    return env


def _package_dir(python):
    out = subprocess.run([python, '-c', 'import openstack_dashboard, os; '
                          'print(os.path.dirname(openstack_dashboard.__file__))'],
                         capture_output=True, text=True, check=True, env=_env())
    return out.stdout.strip()


def ensure_venv(venv=DEFAULT_VENV, plugin_dir=PLUGIN_DIR):
    """Horizon's venv with the plugin of plugin_dir installed editable, made once and
    reused (a lock keeps two runs from building it at the same time). Returns its python."""
    if not os.path.exists(os.path.join(plugin_dir, 'setup.cfg')):
        raise HorizonError(f'no dashboard plugin in {plugin_dir} (setup.cfg missing)')
    stamp_text = '\n'.join(HORIZON_REQUIREMENTS + (os.path.realpath(plugin_dir),)) + '\n'
    stamp = os.path.join(venv, '.migrator-horizon-requirements')
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
        _log(f'installing {" ".join(HORIZON_REQUIREMENTS)} and the plugin into {venv} '
             '(once; a minute or two)')
        started = time.monotonic()
        if not os.path.exists(python):
            subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
        subprocess.run([python, '-m', 'pip', 'install', '-q', *HORIZON_REQUIREMENTS,
                        '-e', plugin_dir], check=True, env=_env())
        with open(stamp, 'w') as f:
            f.write(stamp_text)
        _log(f'venv ready in {time.monotonic() - started:.0f} s')
    return python


def _install_into_package(python, plugin_dir):
    """local_settings.py and the plugin's enabled files, inside the installed
    openstack_dashboard (the only places Horizon reads them from)."""
    package = _package_dir(python)
    local = os.path.join(package, 'local')
    with open(os.path.join(local, 'local_settings.py'), 'w') as f:
        f.write(LOCAL_SETTINGS)
    enabled = os.path.join(local, 'enabled')
    os.makedirs(enabled, exist_ok=True)
    listing = os.path.join(enabled, COPIED_LIST)
    try:
        with open(listing) as f:
            for name in f.read().split():
                if os.path.exists(os.path.join(enabled, name)):
                    os.unlink(os.path.join(enabled, name))
    except OSError:
        pass
    sources = sorted(glob.glob(os.path.join(plugin_dir, PLUGIN_PACKAGE, 'enabled', '_*.py')))
    if not sources:
        raise HorizonError(f'the plugin in {plugin_dir} has no enabled/_*.py files')
    for source in sources:
        shutil.copyfile(source, os.path.join(enabled, os.path.basename(source)))
    with open(listing, 'w') as f:
        f.write('\n'.join(os.path.basename(s) for s in sources) + '\n')


# -- settings, static files -------------------------------------------------------------------

def _paths(state_dir):
    return {name: os.path.join(state_dir, name) for name in (
        'horizon_settings.py', 'secret_key', 'static', 'horizon.log', 'server.log',
        'horizon.pid', 'static.stamp')}


def _secret_key(state_dir):
    path = _paths(state_dir)['secret_key']
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(key)
        return key


def _write_settings(state_dir, keystone_url, port, user_home):
    p = _paths(state_dir)
    values = {
        'DEBUG': False,
        'SECRET_KEY': _secret_key(state_dir),
        'ALLOWED_HOSTS': [HOST, 'localhost'],
        'OPENSTACK_KEYSTONE_URL': keystone_url,
        'OPENSTACK_KEYSTONE_DEFAULT_ROLE': 'reader',
        'OPENSTACK_ENDPOINT_TYPE': 'publicURL',
        'STATIC_ROOT': p['static'],
        'COMPRESS_ENABLED': True,
        'COMPRESS_OFFLINE': True,
        # No memcached: the session (with the token) in a signed cookie, a per-process cache.
        'SESSION_ENGINE': 'django.contrib.sessions.backends.signed_cookies',
        'CACHES': {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}},
        'SESSION_COOKIE_SECURE': False,
        'CSRF_COOKIE_SECURE': False,
        'LOGGING': {
            'version': 1,
            'disable_existing_loggers': False,
            'formatters': {'plain': {
                'format': '%(asctime)s %(process)d %(levelname)s %(name)s %(message)s'}},
            'handlers': {'file': {'class': 'logging.FileHandler', 'filename': p['horizon.log'],
                                  'formatter': 'plain'}},
            'root': {'handlers': ['file'], 'level': 'INFO'},
            # django.request logs every 5xx with its traceback.
            'loggers': {name: {'handlers': ['file'], 'level': 'INFO', 'propagate': False}
                        for name in ('django', 'horizon', 'openstack_dashboard',
                                     'openstack_auth', PLUGIN_PACKAGE)},
        },
    }
    text = ['# Written by migrator.sandbox.horizon for the Horizon on '
            f'http://{HOST}:{port}/ (loaded by local_settings.py).']
    text += [f'{name} = {value!r}' for name, value in values.items()]
    # settings.py defines HORIZON_CONFIG before it loads local_settings and reads it after.
    text += ['from openstack_dashboard.settings import HORIZON_CONFIG',
             f'HORIZON_CONFIG["user_home"] = {user_home!r}', '']
    with open(p['horizon_settings.py'], 'w') as f:
        f.write('\n'.join(text))


def _fingerprint(plugin_dir, state_dir):
    """A digest of everything collectstatic and compress depend on: the plugin's files and
    the instance's settings."""
    digest = hashlib.sha256()
    files = [_paths(state_dir)['horizon_settings.py']]
    for root, dirs, names in os.walk(os.path.join(plugin_dir, PLUGIN_PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        files += [os.path.join(root, n) for n in sorted(names) if not n.endswith('.pyc')]
    for path in files:
        digest.update(path.encode())
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def _django_env(state_dir):
    return _env(DJANGO_SETTINGS_MODULE='openstack_dashboard.settings',
                **{SETTINGS_ENV: _paths(state_dir)['horizon_settings.py']})


def _collect_static(python, plugin_dir, state_dir):
    p = _paths(state_dir)
    fingerprint = _fingerprint(plugin_dir, state_dir)
    try:
        with open(p['static.stamp']) as f:
            if f.read() == fingerprint and os.path.isdir(p['static']):
                return
    except OSError:
        pass
    started = time.monotonic()
    admin = os.path.join(os.path.dirname(python), 'django-admin')
    for args in (('collectstatic', '--noinput', '--clear', '-v', '0'),
                 ('compress', '--force', '-v', '0')):
        result = subprocess.run([admin, *args], env=_django_env(state_dir),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise HorizonError(f'django-admin {args[0]} failed: '
                               f'{(result.stderr or result.stdout).strip()[-3000:]}')
    with open(p['static.stamp'], 'w') as f:
        f.write(fingerprint)
    _log(f'static files collected and compressed in {time.monotonic() - started:.0f} s')


# -- the server ------------------------------------------------------------------------------

def _pid(state_dir):
    return process.pidfile_process(_paths(state_dir)['horizon.pid'])


def login_page_answers(url):
    try:
        with urllib.request.urlopen(url + 'auth/login/', timeout=10) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _serve(python, state_dir, port, timeout=180):
    p = _paths(state_dir)
    url = f'http://{HOST}:{port}/'
    admin = os.path.join(os.path.dirname(python), 'django-admin')
    # runserver without its reloader (one process, the pid we record); --insecure: it
    # serves the collected static files although DEBUG is off.
    proc = process.spawn_server([admin, 'runserver', '--noreload', '--insecure',
                                 f'{HOST}:{port}'], p['horizon.pid'], p['server.log'],
                                env=_django_env(state_dir), cwd=state_dir)
    process.wait_serving(proc, lambda: login_page_answers(url), timeout, what='Horizon',
                         url=url, logs=f"{p['server.log']} and {p['horizon.log']}",
                         error=HorizonError, stop=lambda: stop(state_dir))


def stop(state_dir=DEFAULT_STATE_DIR, timeout=20):
    """Stops the server by its pid (SIGTERM, then SIGKILL); True when one was running."""
    return process.stop_pidfile(_paths(state_dir)['horizon.pid'], timeout)


def start(keystone_url, state_dir=DEFAULT_STATE_DIR, port=DEFAULT_PORT, venv=DEFAULT_VENV,
          plugin_dir=PLUGIN_DIR, user_home='/admin/'):
    """Everything above; returns {'url', 'state_dir', 'log', 'pid'}. A Horizon already
    serving this state directory is stopped and started again (its settings may differ)."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    python = ensure_venv(venv, plugin_dir)
    stop(state_dir)
    with open(venv.rstrip('/') + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install_into_package(python, plugin_dir)
    _write_settings(state_dir, keystone_url, port, user_home)
    _collect_static(python, plugin_dir, state_dir)
    _serve(python, state_dir, port)
    p = _paths(state_dir)
    return {'url': f'http://{HOST}:{port}/', 'state_dir': state_dir, 'log': p['horizon.log'],
            'server_log': p['server.log'], 'pid': _pid(state_dir)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog='tools/horizon.sh', description=__doc__.split(
        '\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=('start', 'stop'))
    parser.add_argument('--state-dir', default=DEFAULT_STATE_DIR,
                        help=f'Horizon\'s settings, static files, logs and pid (default '
                             f'{DEFAULT_STATE_DIR}).')
    parser.add_argument('--venv', default=DEFAULT_VENV,
                        help=f'Horizon\'s own venv, reused (default {DEFAULT_VENV}, or '
                             '$MIGRATOR_HORIZON_VENV).')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT,
                        help=f'Port on {HOST} (default {DEFAULT_PORT}).')
    parser.add_argument('--keystone-url', help='Keystone\'s v3 URL, e.g. '
                        'http://127.0.0.1:5000/v3 (start: required).')
    parser.add_argument('--plugin-dir', default=PLUGIN_DIR,
                        help=f'The plugin\'s distribution (default {PLUGIN_DIR}).')
    args = parser.parse_args(argv)
    try:
        if args.action == 'stop':
            print('stopped' if stop(args.state_dir) else 'not running')
            return 0
        if not args.keystone_url:
            parser.error('start needs --keystone-url')
        info = start(args.keystone_url, args.state_dir, args.port, args.venv,
                     args.plugin_dir)
    except (HorizonError, subprocess.CalledProcessError, OSError) as exc:
        print(f'horizon: {exc}', file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
