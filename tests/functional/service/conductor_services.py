"""A set of migrator services as separate processes, started, killed and started again by
name, for the functional tests of faults (each process stopped by its pid)."""

import contextlib
import os
import subprocess
import sys

import libvirt

from migrator.sandbox import host as host_mod
from tests.functional.service import processes

SCRIPT_DIR = os.path.dirname(sys.executable)
# libvirt bandwidth caps (MiB/s): a job slowed so that a fault lands while it runs, and the
# cap lifted again (libvirt takes any large figure as "no cap").
CRAWL_MIB_S = 1
UNLIMITED_MIB_S = 1 << 20


def set_bandwidth(cluster, host_name, guest, mib_per_s):
    """The libvirt migration bandwidth of a guest, straight on its host's libvirtd."""
    host = next(h for h in cluster['hosts'] if h['name'] == host_name)
    conn = libvirt.open(host['uri'])
    try:
        conn.lookupByName(guest).migrateSetMaxSpeed(mib_per_s, 0)
    finally:
        conn.close()


def slots_and_claims_given_back(api, timeout=60):
    processes.wait_until(
        lambda: all(h['migrations_in_flight'] == [] and h['memory_mb_claimed'] == 0
                    for h in api.get('/v1/hosts').json()['hosts']), timeout,
        'the slots and claims to be given back')


class Services:
    """api, agents and conductors; `hosts` maps each compute host's name to its sandbox
    record."""

    def __init__(self, workdir, config, hosts):
        self.workdir = workdir
        self.config = config
        self.hosts = hosts
        self.running = {}    # name -> ServiceProcess
        self.finished = []   # processes stopped or killed, for their logs
        self.api = None
        self._runs = 0

    def conf(self, name, host, **sections):
        values = {**self.config, 'DEFAULT': {**self.config['DEFAULT'], 'host': host}}
        if host in self.hosts:
            for section, options in host_mod.agent_options(self.hosts[host]).items():
                values[section] = {**values.get(section, {}), **options}
        for section, extra in sections.items():
            values[section] = {**values.get(section, {}), **extra}
        return processes.write_config(self.workdir / f'{name}.conf', values)

    def sync_db(self):
        subprocess.run([os.path.join(SCRIPT_DIR, 'migrator-manage'), '--config-file',
                        str(self.conf('manage', 'manage')), 'db', 'sync'], check=True)

    def start(self, script, name, **sections):
        self._runs += 1
        self.running[name] = processes.ServiceProcess(
            script, self.conf(name, name, **sections),
            self.workdir / f'{name}-{self._runs}.log')
        return self.running[name]

    def start_agent(self, host, **sections):
        return self.start('migrator-compute', host, **sections)

    def kill(self, name):
        """SIGKILL: no clean shutdown, as if its machine died."""
        proc = self.running.pop(name)
        proc.proc.kill()
        proc.proc.wait()
        proc.stop()
        self.finished.append(proc)

    def stop_all(self):
        # The agents first, the conductors last: a report cast after the conductors left
        # would wait in its queue for nobody.
        order = sorted(self.running.items(),
                       key=lambda item: item[1].script == 'migrator-conductor')
        for name, proc in order:
            proc.stop()
            self.finished.append(proc)
            del self.running[name]

    @contextlib.contextmanager
    def serving(self):
        """Every service stopped at the end; their logs printed first when starting them
        failed (a module fixture's body: a test's own failure prints them itself)."""
        try:
            yield self
        except BaseException:
            print(self.logs())
            raise
        finally:
            self.stop_all()

    def logs(self):
        procs = list(self.running.values()) + self.finished
        return '\n'.join(f'--- {p.script} {p.log_file} ---\n{p.log()[-4000:]}'
                         for p in procs)
