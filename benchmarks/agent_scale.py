"""Agent scale: many simulated compute agents reporting through a real RabbitMQ to one, then
two, real `migrator-conductor` processes on PostgreSQL, at the default report interval.

What is real: the broker (a private RabbitMQ node of this run, migrator.sandbox.faults.
PrivateRabbit, so the shared one is not disturbed), the conductors (`migrator-conductor`
processes), PostgreSQL (a database of this run, created and dropped here), and each report:
it is built by migrator.compute.manager.ComputeManager._report over the fake virt driver
(4 guests per host) and cast by the real ConductorAPI.

The simplification, said plainly: the agents are not processes. They live in this process
and --sender-processes - 1 more (the fleet split evenly), each process with one
oslo.messaging transport; --senders threads per process walk its agents so that each
reports once per [compute] report_interval (10 s by default), evenly spread. A real fleet
has one connection per agent; the broker's per-connection cost is not measured here. The
simulator's own CPU (all its processes) and the send rate it reached against the one it
aimed at are printed with each case: on a small machine the simulator may be what
saturates first.

Figures per case (agents x conductors), over --window seconds after one warm-up interval:
reports sent/s, reports handled/s (UPDATEs of the hosts table, from pg_stat_user_tables),
each conductor's CPU in cores (utime+stime from /proc/<pid>/stat), database rows written
per report (inserted+updated+deleted over every table), the broker backlog at the end, and
the median/max time from a change on a host (a guest started: the agent reports at once, as
on a libvirt event) until the hosts row the scheduler reads shows it.

    .venv/bin/python -m benchmarks.agent_scale [--agents 1000,10000] [--conductors 1,2]
"""

import argparse
import contextlib
import datetime
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import sqlalchemy as sa

from migrator.sandbox import faults

PG_ADMIN_URL = 'postgresql+psycopg2://postgres@127.0.0.1:5432/postgres'
GUESTS_PER_HOST = 4


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def pg_writes(engine):
    """{table: (inserted, updated, deleted)} of the benchmark's database so far."""
    with engine.connect() as conn:
        conn.exec_driver_sql('SELECT pg_stat_clear_snapshot()')
        rows = conn.exec_driver_sql(
            'SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables')
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


class Fleet:
    """The simulated agents: real ComputeManagers over fake drivers, reported by a few
    threads through one transport."""

    def __init__(self, count, prefix, conductor_api, first=0):
        from migrator.compute import manager
        from migrator.compute.virt import fake
        self.cloud = fake.FakeCloud()
        self.agents = []
        for i in range(first, first + count):
            driver = fake.FakeDriver(self.cloud, memory_mb=65536, vcpus=32)
            name = f'{prefix}{i:05d}'
            driver.init_host(name)
            for j in range(GUESTS_PER_HOST):
                driver.add_domain(f'{name}-vm{j}', memory_mb=2048, vcpus=2)
            self.agents.append(manager.ComputeManager(name, driver, conductor_api))
        self.sent = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def report(self, agent):
        try:
            agent._report()
        except Exception:
            with self._lock:
                self.errors += 1
            return
        with self._lock:
            self.sent += 1

    def start(self, interval, senders):
        def walk(share):
            # Each agent of the share reports once per interval, the share evenly spread.
            gap = interval / max(1, len(share))
            next_at = time.monotonic()
            while not self._stop.is_set():
                for agent in share:
                    delay = next_at - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    self.report(agent)
                    next_at += gap
        for k in range(senders):
            thread = threading.Thread(target=walk, args=(self.agents[k::senders],),
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def _setup_process_conf(rabbit_url):
    from oslo_config import cfg
    from oslo_log import log as logging
    from oslo_messaging import transport

    from migrator import conf  # noqa: F401 - registers the options
    logging.register_options(cfg.CONF)
    cfg.CONF.register_opts(transport._transport_opts)
    cfg.CONF([], project='migrator')
    if rabbit_url:
        cfg.CONF.set_override('transport_url', rabbit_url)


def _sender_process(rabbit_url, first, count, senders, sent, errors, started, stop):
    """A share of the fleet in a process of its own (spawned: no threads or sockets of the
    parent inherited); sent/errors are shared counters the parent reads."""
    from oslo_config import cfg

    from migrator.common import rpc
    from migrator.conductor import rpcapi
    _setup_process_conf(rabbit_url)
    fleet = Fleet(count, 'sim', rpcapi.ConductorAPI(), first=first)
    fleet.start(cfg.CONF.compute.report_interval, senders)
    started.set()
    while not stop.wait(0.5):
        sent.value, errors.value = fleet.sent, fleet.errors
    fleet.stop()
    sent.value, errors.value = fleet.sent, fleet.errors
    rpc.cleanup()


class SenderProcesses:
    """The fleet's shares beyond the first, one spawned process each."""

    def __init__(self, rabbit_url, agents, processes, senders):
        ctx = multiprocessing.get_context('spawn')
        self.procs, self.sent, self.errors = [], [], []
        self.stop_event = ctx.Event()
        share = agents // processes
        for k in range(1, processes):
            count = share if k < processes - 1 else agents - share * (processes - 1)
            sent, errors, started = ctx.Value('q', 0), ctx.Value('q', 0), ctx.Event()
            proc = ctx.Process(target=_sender_process, daemon=True,
                               args=(rabbit_url, share * k, count, senders, sent, errors,
                                     started, self.stop_event))
            proc.start()
            self.procs.append((proc, started))
            self.sent.append(sent)
            self.errors.append(errors)
        self.first_share = share if processes > 1 else agents

    def wait_started(self, timeout=300):
        for proc, started in self.procs:
            if not started.wait(timeout):
                raise RuntimeError(f'sender process {proc.pid} did not start')

    def pids(self):
        return [proc.pid for proc, _ in self.procs]

    def total_sent(self):
        return sum(v.value for v in self.sent)

    def total_errors(self):
        return sum(v.value for v in self.errors)

    def stop(self):
        self.stop_event.set()
        for proc, _ in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join()


def start_conductor(tmp, name, rabbit_url, db_url, full_every=None):
    conf = os.path.join(tmp, f'{name}.conf')
    with open(conf, 'w') as f:
        f.write(f'[DEFAULT]\nhost = {name}\ntransport_url = {rabbit_url}\n'
                f'log_file = {tmp}/{name}.log\nuse_stderr = false\n'
                f'[database]\nconnection = {db_url}\n'
                '[metrics]\nconductor_port = 0\n')
        if full_every is not None:
            f.write(f'[conductor]\nreport_full_write_interval = {full_every}\n')
    binary = os.path.join(os.path.dirname(sys.executable), 'migrator-conductor')
    return subprocess.Popen([binary, '--config-file', conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop_process(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def change_latency(fleet, engine, samples, timeout=30.0):
    """Seconds from a guest started on a host until the host row shows its memory; inf for
    a change not seen within timeout (a conductor that fell behind)."""
    from migrator.db.models import hosts
    result = []
    for k in range(samples):
        agent = fleet.agents[(k * 7919) % len(fleet.agents)]
        guest = agent.driver.add_domain(f'{agent.host}-new{k}', memory_mb=1024, vcpus=1)
        expected = sum(d['memory_mb'] for d in agent.driver.list_domains() if d['active'])
        started = time.monotonic()
        fleet.report(agent)          # the libvirt event wakes the agent's report at once
        deadline = started + timeout
        seen = None
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                used = conn.execute(sa.select(hosts.c.memory_mb_used).where(
                    hosts.c.name == agent.host)).scalar()
            if used == expected:
                seen = time.monotonic() - started
                break
            time.sleep(0.01)
        result.append(seen if seen is not None else float('inf'))
        if seen is None and k >= 2 and result.count(float('inf')) == len(result):
            break   # the conductors are behind by more than timeout: each would time out
        with fleet.cloud.lock:
            fleet.cloud.domains[agent.host].pop(guest['uuid'])
    return result


def failures(tmp, conductors):
    """Reports the conductors failed to handle so far (their logs' handling errors)."""
    count = 0
    for i in range(conductors):
        with contextlib.suppress(OSError), \
                open(os.path.join(tmp, f'bench-conductor-{i}.log')) as f:
            count += sum('Exception during message handling' in line for line in f)
    return count


def backlog(rabbit):
    """Messages waiting in the broker; -1 when rabbitmqctl does not answer in time (a
    machine that loaded)."""
    try:
        out = rabbit.ctl('list_queues', '-q', 'name', 'messages', timeout=120)
    except (faults.SandboxError, subprocess.TimeoutExpired):
        return -1
    return sum(int(line.split()[-1]) for line in out.splitlines()
               if line.split() and line.split()[-1].isdigit())


def run_case(args, rabbit, admin, agents, conductors, tmp, full_every=None):
    from oslo_config import cfg

    from migrator.common import rpc
    from migrator.conductor import rpcapi
    from migrator.db import api as db_api

    name = f'migrator_bench_agents_{uuid.uuid4().hex[:8]}'
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE {name}')
    db_url = f'postgresql+psycopg2://postgres@127.0.0.1:5432/{name}'
    procs = []
    engine = None
    fleet = None
    others = None
    try:
        db = db_api.Database(db_url)
        db.sync()
        db.dispose()
        engine = sa.create_engine(db_url, pool_size=2)
        for i in range(conductors):
            procs.append(start_conductor(tmp, f'bench-conductor-{i}', rabbit.url, db_url,
                                         full_every))
        cfg.CONF.set_override('transport_url', rabbit.url)
        others = SenderProcesses(rabbit.url, agents, args.sender_processes, args.senders)
        fleet = Fleet(others.first_share, 'sim', rpcapi.ConductorAPI())
        others.wait_started()
        interval = cfg.CONF.compute.report_interval
        fleet.start(interval, args.senders)
        simulator = [os.getpid(), *others.pids()]
        # Warm-up: every host's first report applied (a loaded machine starts a conductor
        # slowly), then one more interval.
        ready = time.monotonic() + 600
        while time.monotonic() < ready:
            with engine.connect() as conn:
                if conn.exec_driver_sql('SELECT count(*) FROM hosts').scalar() >= agents:
                    break
            time.sleep(1)
        time.sleep(interval)
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f'a conductor exited ({proc.returncode}); see {tmp}')
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        sim0 = sum(cpu_seconds(pid) for pid in simulator)
        writes0, t0 = pg_writes(engine), time.monotonic()
        sent0 = fleet.sent + others.total_sent()
        failed0, queued0 = failures(tmp, conductors), backlog(rabbit)
        time.sleep(args.window)
        cpu1 = [cpu_seconds(p.pid) for p in procs]
        sim1 = sum(cpu_seconds(pid) for pid in simulator)
        sent1, t1 = fleet.sent + others.total_sent(), time.monotonic()
        failed1, queued1 = failures(tmp, conductors), backlog(rabbit)
        latencies = change_latency(fleet, engine, args.latency_samples)
        fleet.stop()
        others.stop()
        # PostgreSQL publishes a pooled connection's counts only once it idles 10 s:
        # read them when the conductors are idle, over the reports sent up to now.
        drained = time.monotonic() + 120
        while backlog(rabbit) > 0 and time.monotonic() < drained:
            time.sleep(1)
        time.sleep(12)
        writes1 = pg_writes(engine)
    finally:
        if fleet is not None:
            fleet.stop()
        if others is not None:
            others.stop()
        for proc in procs:
            stop_process(proc)
        if args.logs:
            os.makedirs(args.logs, exist_ok=True)
            for i in range(conductors):
                with contextlib.suppress(OSError):
                    shutil.copy(os.path.join(tmp, f'bench-conductor-{i}.log'),
                                os.path.join(args.logs, f'{agents}-{conductors}-{i}.log'))
        rpc.cleanup()
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
    span = t1 - t0
    delta = {t: tuple(b - a for a, b in zip(writes0.get(t, (0, 0, 0)), v, strict=True))
             for t, v in writes1.items()}
    rows = sum(sum(v) for v in delta.values())
    sent = sent1 - sent0
    handled = (sent - (failed1 - failed0) - (queued1 - queued0)
               if min(queued0, queued1) >= 0 else float('nan'))
    # Rows per report over the reports taken off the broker in the window (the writes of
    # the latency probe's few reports and of the drain after it are in too: a small excess).
    applied = handled if handled == handled and handled > 0 else sent
    return {
        'sent': sent / span,
        'aimed': agents / cfg.CONF.compute.report_interval,
        'simulator_cpu': (sim1 - sim0) / span,
        'handled': handled / span,
        'failed': (failed1 - failed0) / span,
        'cpu': [(b - a) / span for a, b in zip(cpu0, cpu1, strict=True)],
        'rows': rows / applied if applied else float('nan'),
        'by_table': {t: sum(v) / applied for t, v in delta.items() if applied and sum(v)},
        'latency': latencies, 'backlog': queued1,
        'errors': fleet.errors + others.total_errors(),
    }


def statements_per_report(admin, hosts=200):
    """In this process, on a database of its own: SQL statements and rows per report when
    every report is written in full, and when a report that changes nothing is a heartbeat
    (flushed once for all hosts), with the conductor's CPU seconds per report for each."""
    from oslo_config import cfg

    from migrator.compute import manager
    from migrator.compute.virt import fake
    from migrator.conductor import reports
    from migrator.conductor.scheduler import host_state
    from migrator.db import api as db_api

    name = f'migrator_bench_stmts_{uuid.uuid4().hex[:8]}'
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE {name}')
    db_url = f'postgresql+psycopg2://postgres@127.0.0.1:5432/{name}'
    db = None
    try:
        db = db_api.Database(db_url)
        db.sync()
        count = {'statements': 0, 'rows': 0}

        def counted(conn, cursor, statement, params, context, executemany):
            count['statements'] += 1
            if statement.lstrip()[:6].upper() in ('INSERT', 'UPDATE', 'DELETE') \
                    and cursor.rowcount > 0:
                count['rows'] += cursor.rowcount
        sa.event.listen(db.engine, 'after_cursor_execute', counted)
        cloud = fake.FakeCloud()

        class Capture:
            def report_host(self, ctxt, host, inventory, domains, reported_at):
                self.last = (host, inventory, domains, reported_at)

        agents = []
        for i in range(hosts):
            driver = fake.FakeDriver(cloud, memory_mb=65536, vcpus=32)
            driver.init_host(f'stm{i:05d}')
            for j in range(GUESTS_PER_HOST):
                driver.add_domain(f'stm{i:05d}-vm{j}', memory_mb=2048, vcpus=2)
            agents.append(manager.ComputeManager(f'stm{i:05d}', driver, Capture()))
        results = {}
        for label, full_every in (('every report in full', 0),
                                  ('unchanged = heartbeat', 300)):
            cfg.CONF.set_override('report_full_write_interval', full_every, 'conductor')
            cfg.CONF.set_override('heartbeat_flush_interval', 3600, 'conductor')
            writer = reports.ReportWriter(db, host_state.HostStateCache(db))
            writer.start()

            def one_round(writer=writer):
                for agent in agents:
                    agent._report()
                    host, inventory, domains, reported_at = agent.conductor_api.last
                    writer.handle(host, inventory, domains,
                                  datetime.datetime.fromisoformat(reported_at))
                writer.flush()
            one_round()                      # this writer's first report of each host
            count.update(statements=0, rows=0)
            cpu0 = time.process_time()
            one_round()
            cpu = time.process_time() - cpu0
            results[label] = (count['statements'] / hosts, count['rows'] / hosts,
                              cpu / hosts * 1e3)
            writer.stop()
        return results
    finally:
        cfg.CONF.clear_override('report_full_write_interval', 'conductor')
        cfg.CONF.clear_override('heartbeat_flush_interval', 'conductor')
        if db is not None:
            db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--agents', default='1000,10000')
    parser.add_argument('--conductors', default='1,2')
    parser.add_argument('--window', type=float, default=30.0)
    # Each cast waits for RabbitMQ's publisher confirm: on a loaded machine 4 senders could
    # not keep up with 1,000 agents; each sender takes its own pooled connection.
    parser.add_argument('--senders', type=int, default=32,
                        help='sender threads per simulator process')
    # One Python process could not send 1,000 reports/s (10,000 agents) on the 2-core
    # machine; each further process takes an even share of the agents.
    parser.add_argument('--sender-processes', type=int, default=1)
    parser.add_argument('--no-in-process', dest='in_process', action='store_false',
                        help='skip the in-process statements/rows/CPU per report comparison')
    parser.add_argument('--latency-samples', type=int, default=20)
    parser.add_argument('--baseline-agents', type=int, default=1000,
                        help='agents of the baseline case (one conductor writing every '
                             'report in full, as before); 0 for none')
    parser.add_argument('--logs', help='a directory to copy the conductors\' logs to')
    args = parser.parse_args(argv)

    from oslo_config import cfg
    _setup_process_conf(None)
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level='AUTOCOMMIT')
    with tempfile.TemporaryDirectory(prefix='migrator-bench-agents-') as tmp, \
            contextlib.ExitStack() as stack:
        rabbit = faults.PrivateRabbit().start()
        stack.callback(rabbit.stop)
        print(f'report_interval = {cfg.CONF.compute.report_interval:g} s, '
              f'{GUESTS_PER_HOST} guests per host, {args.sender_processes} simulator '
              f'process(es) of {args.senders} sender threads, window {args.window:g} s; '
              f'load average {os.getloadavg()[0]:.2f}')
        stmts = statements_per_report(admin) if args.in_process else {}
        for label, (statements, rows, cpu_ms) in stmts.items():
            print(f'in process, 200 hosts, {label}: {statements:.3f} SQL statements, '
                  f'{rows:.1f} rows written, {cpu_ms:.2f} ms CPU per report')
        if stmts:
            full, beat = stmts['every report in full'], stmts['unchanged = heartbeat']
            print(f'  ratio heartbeat/full: statements {beat[0] / full[0]:.3f}, '
                  f'rows {beat[1] / full[1]:.2f}, CPU {beat[2] / full[2]:.2f}', flush=True)
        print(f'{"agents":>6} {"cond":>4} {"aim/s":>6} {"sent/s":>7} {"sim cpu":>7} '
              f'{"handled/s":>9} {"cpu cores each":>16} {"rows/report":>11} '
              f'{"seen p50/max s":>15} {"backlog":>7} {"failed/s":>8}')
        cases = [(agents, conductors, None)
                 for agents in [int(a) for a in args.agents.split(',')]
                 for conductors in [int(c) for c in args.conductors.split(',')]]
        if args.baseline_agents:
            # The baseline: every report written in full, as before reports.py, right after
            # the first case (so both see about the same load).
            cases.insert(1, (args.baseline_agents, 1, 0))
        for agents, conductors, full_every in cases:
            r = run_case(args, rabbit, admin, agents, conductors, tmp, full_every)
            cpu = '/'.join(f'{c:.2f}' for c in r['cpu'])
            lat = f'{statistics.median(r["latency"]):.2f}/{max(r["latency"]):.2f}'
            print(f'{agents:6d} {conductors:4d} {r["aimed"]:6.0f} {r["sent"]:7.0f} '
                  f'{r["simulator_cpu"]:7.2f} {r["handled"]:9.0f} {cpu:>16} '
                  f'{r["rows"]:11.1f} {lat:>15} {r["backlog"]:7d} {r["failed"]:8.1f}'
                  f'  (errors {r["errors"]}; rows by table '
                  + ', '.join(f'{t} {n:.1f}' for t, n in sorted(r['by_table'].items()))
                  + f'; load {os.getloadavg()[0]:.1f}'
                  + ('; BASELINE: every report in full' if full_every == 0 else '')
                  + ')', flush=True)
    admin.dispose()
    return 0


if __name__ == '__main__':
    sys.exit(main())
