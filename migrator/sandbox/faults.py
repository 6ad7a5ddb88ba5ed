"""Fault injection on the sandbox, for the fault suite (tests/functional/faults) and
benchmarks/faults.py: a private RabbitMQ node and a private PostgreSQL cluster that a test
may stop and start (never the shared ones), and a cut of the migration network between two
sandbox hosts (firewall rules on the sandbox's own addresses, always removed).

Everything here is started and stopped by pid (or process group) and leaves nothing behind;
each class is a context manager.
"""

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

from migrator.sandbox.errors import SandboxError

LOG = logging.getLogger(__name__)

RABBIT_BIN = '/usr/lib/rabbitmq/bin'
PG_USER = 'postgres'
# libvirt's default migration_port_min..max: where a target's QEMU listens for the
# incoming memory stream and, for a block migration, its NBD server for the disks.
# libvirt's live migration ports, then the cold copy's nbd exports ([compute]
# disk_export_port_min..max).
MIGRATION_PORTS = '49152:49279'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SandboxError(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(0.2)


class PrivateRabbit:
    """A RabbitMQ node of its own: own node name, AMQP and distribution ports, mnesia and
    log dirs and Erlang cookie (HOME) under a temporary directory."""

    def __init__(self, start_timeout=120):
        self.dir = tempfile.mkdtemp(prefix='migrator-rabbit-')
        self.node = f'migrator-faults-{uuid.uuid4().hex[:8]}@localhost'
        self.port = free_port()
        self.dist_port = free_port()
        self.url = f'rabbit://guest:guest@127.0.0.1:{self.port}/'
        self.start_timeout = start_timeout
        self.proc = None
        self.env = {**os.environ, 'HOME': self.dir, 'RABBITMQ_NODENAME': self.node,
                    'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
                    'RABBITMQ_NODE_PORT': str(self.port),
                    'RABBITMQ_DIST_PORT': str(self.dist_port),
                    'RABBITMQ_MNESIA_BASE': os.path.join(self.dir, 'mnesia'),
                    'RABBITMQ_LOG_BASE': os.path.join(self.dir, 'log'),
                    'RABBITMQ_PID_FILE': os.path.join(self.dir, 'rabbit.pid'),
                    'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(self.dir, 'plugins'),
                    'RABBITMQ_CONFIG_FILE': os.path.join(self.dir, 'rabbitmq'),
                    'RABBITMQ_ADVANCED_CONFIG_FILE': os.path.join(self.dir, 'advanced.config'),
                    'RABBITMQ_CONF_ENV_FILE': os.path.join(self.dir, 'rabbitmq-env.conf')}
        with open(os.path.join(self.dir, 'plugins'), 'w') as f:
            f.write('[].\n')

    def ctl(self, *args, timeout=60):
        proc = subprocess.run([f'{RABBIT_BIN}/rabbitmqctl', '-n', self.node, *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise SandboxError(f'rabbitmqctl {" ".join(args)} on {self.node} failed: '
                               f'{(proc.stderr or proc.stdout).strip()[-300:]}')
        return proc.stdout

    def start(self):
        self.log = open(os.path.join(self.dir, 'server.out'), 'w')
        self.proc = subprocess.Popen([f'{RABBIT_BIN}/rabbitmq-server'], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            # `wait` waits for the pid file, then for the app to run.
            self.ctl('wait', '--timeout', str(self.start_timeout), self.env['RABBITMQ_PID_FILE'],
                     timeout=self.start_timeout + 10)
        except BaseException:
            self.stop()
            raise
        LOG.info('private RabbitMQ %s on port %d', self.node, self.port)
        return self

    def stop_app(self):
        self.ctl('stop_app')

    def start_app(self):
        self.ctl('start_app')
        self.ctl('await_startup', '--timeout', '60', timeout=70)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(SandboxError, subprocess.TimeoutExpired):
                self.ctl('stop', timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if getattr(self, 'log', None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb as user postgres into a temporary directory,
    own port and socket dir, trust auth on 127.0.0.1), started and stopped with pg_ctl."""

    def __init__(self, database='migrator'):
        self.dir = tempfile.mkdtemp(prefix='migrator-pg-')
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, 'data')
        self.port = free_port()
        self.database = database
        self.url = f'postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}'
        shutil.chown(self.dir, PG_USER, PG_USER)

    def _as_postgres(self, *args, timeout=120):
        proc = subprocess.run(['runuser', '-u', PG_USER, '--', *args], capture_output=True,
                              text=True, timeout=timeout, cwd=self.dir,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise SandboxError(f'{args[0]} failed: {(proc.stderr or proc.stdout).strip()[-300:]}')
        return proc.stdout

    def start(self):
        if not os.path.exists(self.data):
            self._as_postgres('initdb', '-D', self.data, '-A', 'trust', '-U', PG_USER,
                              '--no-sync')
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        try:
            self._as_postgres('pg_ctl', '-D', self.data, '-o', options,
                              '-l', os.path.join(self.dir, 'log'), '-w', '-t', '60', 'start')
            if not getattr(self, '_created', False):
                self._as_postgres('psql', '-h', self.dir, '-p', str(self.port), '-d',
                                  'postgres', '-c', f'CREATE DATABASE {self.database}')
                self._created = True
        except BaseException:
            self.stop()
            raise
        return self

    def stop_server(self):
        """Fast shutdown: connections are closed, the cluster is down until start()."""
        self._as_postgres('pg_ctl', '-D', self.data, '-m', 'fast', '-w', '-t', '60', 'stop')

    def stop(self):
        pidfile = os.path.join(self.data, 'postmaster.pid')
        if os.path.exists(pidfile):
            with contextlib.suppress(SandboxError, subprocess.TimeoutExpired):
                self._as_postgres('pg_ctl', '-D', self.data, '-m', 'immediate', '-w', 'stop',
                                  timeout=60)
            with contextlib.suppress(OSError, ValueError):   # still there: by its pid
                with open(pidfile) as f:
                    os.kill(int(f.readline()), signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class MigrationNetworkCut:
    """While active, the migration network between sandbox hosts at `addresses` is cut:
    nothing reaches their migration ports (the memory stream and the NBD disk copy of a
    live migration, the nbd exports of a cold one), in both directions. The libvirt
    daemons' own port stays open, so the agents still reach their hosts (on one machine
    every connection to a sandbox address comes from 127.0.0.1, so the daemons' control
    connection cannot be told apart from the agents'). The rules live in a chain of their
    own, named after the addresses, removed on exit whatever happened."""

    def __init__(self, addresses):
        self.addresses = list(addresses)
        self.chain = 'MIGR-CUT-' + self.addresses[0].rsplit('.', 1)[0].replace('.', '-')

    def _ipt(self, *args, check=True):
        proc = subprocess.run(['iptables', '-w', '10', *args], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise SandboxError(f'iptables {" ".join(args)}: {proc.stderr.strip()}')
        return proc.returncode == 0

    def __enter__(self):
        if shutil.which('iptables') is None:
            raise SandboxError('iptables is missing: run tools/install-deps.sh')
        self._remove()
        self._ipt('-N', self.chain)
        try:
            for address in self.addresses:
                self._ipt('-A', self.chain, '-p', 'tcp', '-d', address, '--dport',
                          MIGRATION_PORTS, '-j', 'DROP')
                self._ipt('-A', self.chain, '-p', 'tcp', '-s', address, '--sport',
                          MIGRATION_PORTS, '-j', 'DROP')
            self._ipt('-I', 'OUTPUT', '-j', self.chain)
        except BaseException:
            self._remove()
            raise
        LOG.info('migration network between %s cut', self.addresses)
        return self

    def _remove(self):
        while self._ipt('-D', 'OUTPUT', '-j', self.chain, check=False):
            pass
        self._ipt('-F', self.chain, check=False)
        self._ipt('-X', self.chain, check=False)

    def __exit__(self, *exc):
        self._remove()
        LOG.info('migration network between %s restored', self.addresses)
