"""The real stack the browser tests drive: a local Keystone, migrator-all over a RabbitMQ
virtual host with Keystone authentication, Horizon with the migrator dashboard plugin, and a
three-host sandbox whose guests all start on the first host.

Keystone, Horizon (their venvs are built once per machine) and the sandbox's guests come up
at the same time; everything is stopped by pid and torn down in reverse order.
"""

import contextlib
import os

import futurist
import futurist.waiters
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import horizon as local_horizon
from migrator.sandbox import keystone as local_keystone
from migrator.sandbox import probe
from tests.functional.service import processes

SOURCE = 'sandbox-host1'
GUESTS = 3
GUEST_MEMORY_MIB = 128
DIRTY_RATE_MIB = 2


class Api:
    """The migrator API as one Keystone user, for what the tests check beside the browser."""

    def __init__(self, url, token):
        self.url = url
        self.session = requests.Session()
        self.session.headers['X-Auth-Token'] = token

    def get(self, path, **params):
        resp = self.session.get(self.url + path, params=params, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def migrations(self, instance):
        return self.get('/v1/migrations', instance=instance)['migrations']

    def hosts_up(self, names):
        hosts = {h['name']: h for h in self.get('/v1/hosts')['hosts']}
        return all(n in hosts and hosts[n]['state'] == 'up' for n in names)

    def instance_host(self, name):
        resp = self.session.get(f'{self.url}/v1/instances/{name}', timeout=60)
        return resp.json()['host'] if resp.status_code == 200 else None


class Stack:
    def __init__(self, workdir):
        self.workdir = workdir
        self.state_dir = str(workdir / 'sandbox')
        self.keystone = self.horizon = self.cluster = self.api = None
        self.migrator = None
        self._stack = contextlib.ExitStack()

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        self._stack.close()

    def _start(self):
        api_port, keystone_port = processes.free_port(), processes.free_port()
        keystone_dir = str(self.workdir / 'keystone')
        horizon_dir = str(self.workdir / 'horizon')
        self._stack.callback(cluster_mod.down, self.state_dir)
        self._stack.callback(local_keystone.stop, keystone_dir)
        self._stack.callback(local_horizon.stop, horizon_dir)
        with futurist.ThreadPoolExecutor(max_workers=2) as pool:
            keystone = pool.submit(local_keystone.start, keystone_dir, port=keystone_port,
                                   migrator_url=f'http://127.0.0.1:{api_port}')
            horizon = pool.submit(local_horizon.start,
                                  f'http://127.0.0.1:{keystone_port}/v3',
                                  state_dir=horizon_dir, port=processes.free_port())
            try:
                self._start_sandbox()
            finally:
                futurist.waiters.wait_for_all([keystone, horizon])
            self.keystone, self.horizon = keystone.result(), horizon.result()
        rabbit_url = self._stack.enter_context(processes.rabbit_vhost())
        self._start_migrator(api_port, rabbit_url)

    def _start_sandbox(self):
        cluster_mod.up(hosts=3, guests_per_host=0, memory_mib=GUEST_MEMORY_MIB,
                       dirty_rate_mib=DIRTY_RATE_MIB, state_dir=self.state_dir)
        names = [cluster_mod.add_guest(state_dir=self.state_dir, host=SOURCE, disks='shared',
                                       wait=False)['name'] for _ in range(GUESTS)]
        self.cluster = cluster_mod.load(self.state_dir)
        for name in names:
            probe.wait_for_tick(name, cluster=self.cluster, timeout=180)

    def _start_migrator(self, port, rabbit_url):
        ks = self.keystone
        conf = processes.write_config(self.workdir / 'migrator.conf', {
            'DEFAULT': {'host': 'dashboard-all', 'transport_url': rabbit_url,
                        'auth_strategy': 'keystone'},
            'database': {'connection': f'sqlite:///{self.workdir}/migrator.sqlite'},
            'api': {'port': port},
            'all': {'sandbox_state_dir': self.state_dir},
            'compute': {'report_interval': 2, 'progress_interval': 0.5},
            'libvirt': {'virt_type': 'qemu'},
            'drain': {'max_parallel': 2, 'poll_interval': 0.2},
            'planner': {'apply_poll_interval': 0.2},
            'keystone_authtoken': {
                'www_authenticate_uri': ks['auth_url'], 'auth_url': ks['auth_url'],
                'auth_type': 'password', 'username': 'migrator',
                'password': ks['passwords']['migrator'], 'project_name': 'service',
                'user_domain_name': 'Default', 'project_domain_name': 'Default'},
        })
        self.migrator = processes.ServiceProcess('migrator-all', conf,
                                                 self.workdir / 'migrator-all.log')
        self._stack.callback(self.migrator.stop)
        self.api = Api(f'http://127.0.0.1:{port}', self.token('admin'))
        processes.wait_until(processes.ApiClient(self.api.url).answers, 90, 'the API')
        processes.wait_until(lambda: self.api.hosts_up(self.host_names()), 90,
                             'every agent to report its host')
        processes.wait_until(lambda: all(self.api.instance_host(g) for g in self.guests()),
                             60, 'the guests to be reported')

    # -- what the tests use -----------------------------------------------------------------

    def token(self, user):
        auth = v3.Password(auth_url=self.keystone['auth_url'], username=user,
                           password=self.password(user), project_name='admin',
                           user_domain_id='default', project_domain_id='default')
        return ks_session.Session(auth=auth).get_token()

    def password(self, user):
        return self.keystone['passwords'][user]

    def host_names(self):
        return [h['name'] for h in self.cluster['hosts']]

    def guests(self):
        return [g['name'] for g in self.cluster['guests']]

    def where(self, guest):
        return probe.where(guest, cluster=self.cluster)

    def horizon_log(self):
        with open(self.horizon['log'], errors='replace') as f:
            return f.read()

    def logs(self, chars=4000):
        parts = []
        for name, path in (('migrator-all', self.migrator and self.migrator.log_file),
                           ('horizon', self.horizon and self.horizon['log'])):
            if path and os.path.exists(path):
                with open(path, errors='replace') as f:
                    parts.append(f'--- {name} ({path}) ---\n{f.read()[-chars:]}')
        return '\n'.join(parts)
