"""The fault suite's deployment: a two-host sandbox with a guest on shared storage (live)
and one on a local disk (block-live, cold), a private RabbitMQ node and a private
PostgreSQL cluster (the suite restarts both), and migrator as separate processes -- api,
two conductors, an agent per host -- that the suite kills and restarts by pid.

Every service reads its failpoints from one file (MIGRATOR_FAILPOINTS=@file, see
migrator/common/failpoints.py), so a scenario arms and disarms them while they run.
"""

import contextlib
import os
import signal
import subprocess
import sys

import futurist
import futurist.waiters
import libvirt

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import faults, probe
from migrator.sandbox import host as host_mod
from tests.functional.service import processes

BIN = os.path.dirname(sys.executable)
CONDUCTORS = ('conductor1', 'conductor2')
LOCAL_DATA_MIB = 32       # written into the local guest's disk: what a cold copy moves
COPY_MIB_S = 8            # agents' cold copy bandwidth: the copy lasts ~4 s
TAKEOVER_AFTER = 10       # [conductor] takeover_after, where the mechanism exists


class Service:
    """One console script with its own config and an appended log, killed by its pid."""

    def __init__(self, name, script, config_file, log_file, env):
        self.name, self.script, self.config_file = name, script, config_file
        self.log_file, self.env = log_file, env
        self.proc = None

    def start(self):
        log = open(self.log_file, 'a')
        self.proc = subprocess.Popen([os.path.join(BIN, self.script), '--config-file',
                                      str(self.config_file)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=self.env)
        log.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: no clean shutdown, as if its machine died."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, chars=3000):
        with open(self.log_file) as f:
            return f.read()[-chars:]


class Deployment:
    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.state_dir = os.path.join(self.workdir, 'sandbox')
        self.failpoints_file = os.path.join(self.workdir, 'failpoints')
        self.services = {}
        self.rabbit = self.pg = self.cluster = None
        self.api = None
        self._stack = contextlib.ExitStack()

    # -- life cycle -------------------------------------------------------------------------

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        # The broker and the database start while the sandbox boots its guests.
        self.rabbit, self.pg = faults.PrivateRabbit(), faults.PrivatePostgres()
        self._stack.callback(self.rabbit.stop)
        self._stack.callback(self.pg.stop)
        self._stack.callback(cluster_mod.down, self.state_dir)
        with futurist.ThreadPoolExecutor(max_workers=2) as pool:
            started = [pool.submit(self.rabbit.start), pool.submit(self.pg.start)]
            try:
                self._start_sandbox()
            finally:
                futurist.waiters.wait_for_all(started)
            for future in started:
                future.result()
        self._stack.callback(self._stop_services)
        port = processes.free_port()
        self.config = {
            'DEFAULT': {'transport_url': self.rabbit.url},
            'database': {'connection': self.pg.url},
            'api': {'port': port},
            'compute': {'report_interval': 2, 'progress_interval': 0.5,
                        'disk_copy_bandwidth': COPY_MIB_S},
            'conductor': {'shutdown_timeout': 30, 'takeover_after': TAKEOVER_AFTER},
            'libvirt': {'virt_type': 'qemu'},
        }
        env = {**os.environ, 'MIGRATOR_FAILPOINTS': '@' + self.failpoints_file}
        self.arm('')
        api_conf = self._conf('api', {})
        subprocess.run([os.path.join(BIN, 'migrator-manage'), '--config-file', api_conf,
                        'db', 'sync'], check=True, capture_output=True)
        self._add(Service('api', 'migrator-api', api_conf, self._log('api'), env))
        for host in self.cluster['hosts']:
            agent = host_mod.agent_options(host)
            agent['compute'] = {**self.config['compute'], **agent['compute']}
            self._add(Service(host['name'], 'migrator-compute', self._conf(host['name'], agent),
                              self._log(host['name']), env))
        for name in CONDUCTORS:
            self._add(Service(name, 'migrator-conductor', self._conf(name, {}),
                              self._log(name), env))
        self.api = processes.ApiClient(f'http://127.0.0.1:{port}')
        processes.wait_until(self.api.answers, 180, 'the API to answer')
        self.wait_ready()

    def _start_sandbox(self):
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=self.state_dir)
        self.shared_guest = cluster_mod.add_guest(state_dir=self.state_dir,
                                                  host='sandbox-host1', disks='shared')['name']
        self.local_guest = cluster_mod.add_guest(state_dir=self.state_dir,
                                                 host='sandbox-host1', disks='local')['name']
        self.cluster = cluster_mod.load(self.state_dir)
        probe.qemu_io(self.local_guest, f'write -P 0x3c 8M {LOCAL_DATA_MIB}M',
                      cluster=self.cluster, timeout=60)

    def _conf(self, name, extra):
        values = {**self.config, 'DEFAULT': {**self.config['DEFAULT'], 'host': name}}
        values.update(extra)
        return str(processes.write_config(os.path.join(self.workdir, f'{name}.conf'), values))

    def _log(self, name):
        return os.path.join(self.workdir, f'{name}.log')

    def _add(self, service):
        self.services[service.name] = service
        service.start()

    def _stop_services(self):
        # Agents first, conductors last: a cast after the conductors left waits for nobody.
        for service in sorted(self.services.values(),
                              key=lambda s: s.script == 'migrator-conductor'):
            service.stop()

    def stop(self):
        self._stack.close()

    def wait_ready(self, timeout=90):
        """Every service runs, every host is up and both guests are reported."""
        for service in self.services.values():
            if not service.alive():
                service.start()
        processes.wait_until(lambda: self.api.hosts_up(self.host_names()), timeout,
                             'every agent to report')
        for guest in (self.shared_guest, self.local_guest):
            processes.wait_until(lambda g=guest: self.api.instance(g), timeout,
                                 f'{guest} to be reported')

    def logs(self, chars=3000):
        return '\n'.join(f'--- {s.name} ---\n{s.tail(chars)}' for s in self.services.values())

    # -- what scenarios use -----------------------------------------------------------------

    def host_names(self):
        return [h['name'] for h in self.cluster['hosts']]

    def host(self, name):
        return next(h for h in self.cluster['hosts'] if h['name'] == name)

    def arm(self, spec):
        """Set the failpoints every service reads ('' disarms them all)."""
        with open(self.failpoints_file + '.tmp', 'w') as f:
            f.write(spec)
        os.replace(self.failpoints_file + '.tmp', self.failpoints_file)

    def set_bandwidth(self, guest, host, mib_per_s):
        """The migration bandwidth of the guest's job (libvirt's max speed), on its source;
        False when that libvirtd cannot be reached."""
        try:
            conn = libvirt.open(self.host(host)['uri'])
        except libvirt.libvirtError:
            return False
        try:
            conn.lookupByName(guest).migrateSetMaxSpeed(mib_per_s, 0)
            return True
        except libvirt.libvirtError:
            return False
        finally:
            conn.close()

    def audit(self):
        """(exit code, output) of `migrator-manage audit` against the deployment."""
        proc = subprocess.run([os.path.join(BIN, 'migrator-manage'), '--url', self.api.url,
                               'audit'], capture_output=True, text=True, timeout=180)
        return proc.returncode, proc.stdout + proc.stderr
