"""API read throughput: the real `migrator-all` against a hello-world WSGI app served by the
same waitress settings, both loaded by ApacheBench (`ab -c 8`), in the same run.

Both servers are processes of their own started here: `migrator-all` (API, conductor and
no compute agent, on the in-process bus) on a SQLite database in a temporary directory
(the embedded default) or on --db-url, and `python -m benchmarks.api --hello PORT`, which
serves a WSGI callable answering a fixed 2-byte JSON document through
migrator.api.wsgi.build_server with [api] threads (8). Before the servers start the
database is filled, through the DB API as the conductor fills it, with --hosts hosts (200),
--per-host instances on each (10: 2,000 instances), --migrations completed migrations
(1,000, six events each) and a few in flight (claims held).

Each endpoint and the hello-world app are loaded in turns (--rounds rounds of -n requests
each, ab's default: a new connection per request), so load from other work hits both
alike; the medians over the rounds are printed: req/s, p50 and p99 latency (ms), and the
ratio of the endpoint's req/s to hello-world's. Each run also counts the CPU time (user +
system, from /proc) the serving process used, per request: on a machine shared with other
work, req/s follows the share of the cores each server gets and the req/s ratio swings
(0.29-0.84 for one endpoint in one run at load 17-28), while the CPU a request costs
moves much less; "cpu ratio" (hello-world's CPU per request over the endpoint's) is the
req/s ratio the two would have on cores of their own.

    .venv/bin/python -m benchmarks.api [-n 2000] [--rounds 3] [--db-url postgresql://...]
                                       [--read-cache-ttl SECONDS]

With the service's defaults the API answers repeated reads from its read cache ([api]
read_cache_ttl, 1 s): most requests of a run are hits. --read-cache-ttl 0 measures the
database path on every request.

Needs ApacheBench (Debian: apache2-utils).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ENDPOINTS = [
    ('GET /v1/hosts', '/v1/hosts'),
    ('GET /v1/hosts/{name}', '/v1/hosts/host0007'),
    ('GET /v1/instances', '/v1/instances'),
    ('GET /v1/migrations', '/v1/migrations'),
    ('GET /v1/migrations/{id}', None),   # filled with a completed migration's id
    ('GET /v1', '/v1'),
]


def hello_app(environ, start_response):
    body = b'{}'
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]


def serve_hello(port, threads):
    """The baseline server: hello_app behind the API's own waitress wrapper."""
    from migrator.api import wsgi
    server = wsgi.build_server(hello_app, '127.0.0.1', port, threads)
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    server.run()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def populate(url, hosts, per_host, migrations):
    """Fills the database the way the conductor does; returns a completed migration's id."""
    from migrator.common import states
    from migrator.db import api as db_api

    db = db_api.Database(url)
    db.sync()
    names = [f'host{i:04d}' for i in range(hosts)]
    for n, name in enumerate(names):
        db.host_report(name, {
            'address': f'192.0.2.{n % 250 + 1}', 'hypervisor_uri': f'qemu+tcp://{name}/system',
            'virt_type': 'kvm', 'hypervisor_version': 9000000, 'cpu_model': 'Skylake',
            'cpu_models': ['Skylake', 'Broadwell', 'qemu64'],
            'memory_mb': 262144, 'memory_mb_used': per_host * 4096, 'vcpus': 64,
            'vcpus_used': per_host * 2, 'disk_gb': 2000, 'disk_gb_used': per_host * 20,
            'reserved_memory_mb': 4096, 'agent_version': '1.0.0'})
        db.instance_sync_host(name, [
            {'uuid': str(uuid.uuid5(uuid.NAMESPACE_DNS, f'{name}-vm{j}')),
             'name': f'{name}-vm{j}', 'power_state': 'running', 'memory_mb': 4096,
             'vcpus': 2, 'disk_gb': 20, 'cpu_model': 'Skylake', 'active': True,
             'incoming': False} for j in range(per_host)])
    instances = db.instance_list()
    path = [states.SCHEDULING, states.PREPARING, states.RUNNING, states.FINISHING]
    done = None
    for i in range(migrations):
        inst = instances[i % len(instances)]
        target = names[(names.index(inst['host']) + 1) % len(names)]
        mig = db.migration_create({'instance_uuid': inst['uuid'], 'type': 'live'})
        previous = states.ACCEPTED
        for state in path:
            db.migration_transition(mig['id'], previous, state,
                                    values={'target_host': target} if
                                    state == states.PREPARING else None)
            previous = state
        db.migration_transition(mig['id'], previous, states.COMPLETED)
        done = mig['id']
        instances[i % len(instances)] = db.instance_get(inst['uuid'])
    # A few in flight: they hold slots and claims, which GET /v1/hosts shows.
    for inst in instances[-5:]:
        mig = db.migration_create({'instance_uuid': inst['uuid'], 'type': 'live'})
        db.slot_acquire(mig['id'], states.ACCEPTED, 100, 100, 'benchmark')
    db.dispose()
    return done


def write_config(tmp, db_url, port, threads, read_cache_ttl=None):
    path = os.path.join(tmp, 'migrator.conf')
    cache = '' if read_cache_ttl is None else f'read_cache_ttl = {read_cache_ttl}\n'
    with open(path, 'w') as f:
        f.write(f'[DEFAULT]\nauth_strategy = noauth\nuse_stderr = false\n'
                f'log_file = {tmp}/migrator-all.log\n'
                f'[database]\nconnection = {db_url}\n'
                f'[api]\nhost_ip = 127.0.0.1\nport = {port}\nthreads = {threads}\n{cache}'
                f'[all]\nsandbox_state_dir = {tmp}/no-sandbox\n')
    return path


def wait_up(url, proc, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'{what} exited with {proc.returncode} before answering')
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f'{what} did not answer {url} within {timeout} s')


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def ab(url, n, concurrency, keepalive, pid):
    """(req/s, p50 ms, p99 ms, CPU us per request of the server `pid`) of one ab run;
    every answer must be a 200."""
    before = cpu_seconds(pid)
    cmd = ['ab', '-q', '-n', str(n), '-c', str(concurrency)]
    if keepalive:
        cmd.append('-k')
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    cpu_us = (cpu_seconds(pid) - before) / n * 1e6
    failed = int(re.search(r'Failed requests:\s+(\d+)', out).group(1))
    # ab counts an answer whose length differs from the first one as failed: a document
    # with a heartbeat's age in it changes length between answers. Only real failures count.
    lengths = re.search(r'\(Connect: \d+, Receive: \d+, Length: (\d+), Exceptions: \d+\)', out)
    if lengths:
        failed -= int(lengths.group(1))
    non2xx = re.search(r'Non-2xx responses:\s+(\d+)', out)
    if failed or non2xx:
        raise RuntimeError(f'ab against {url}: {failed} failed, '
                           f'{non2xx.group(1) if non2xx else 0} non-2xx responses')
    rps = float(re.search(r'Requests per second:\s+([\d.]+)', out).group(1))
    p50 = float(re.search(r'^\s+50%\s+(\d+)', out, re.M).group(1))
    p99 = float(re.search(r'^\s+99%\s+(\d+)', out, re.M).group(1))
    return rps, p50, p99, cpu_us


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=2000, help='requests per ab run')
    parser.add_argument('-c', type=int, default=8, help='ab concurrency')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--keepalive', action='store_true', help='ab -k')
    parser.add_argument('--threads', type=int, default=8, help='[api] threads of both')
    parser.add_argument('--hosts', type=int, default=200)
    parser.add_argument('--per-host', type=int, default=10)
    parser.add_argument('--migrations', type=int, default=1000)
    parser.add_argument('--db-url', help='a database to fill (default: SQLite in a '
                        'temporary directory); it must be empty')
    parser.add_argument('--read-cache-ttl', type=float, metavar='SECONDS',
                        help="the API's [api] read_cache_ttl (default: the service's "
                             'default); 0 reads the database on every request')
    parser.add_argument('--only', help='run only the endpoints whose label contains this')
    parser.add_argument('--hello', type=int, metavar='PORT', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hello is not None:
        return serve_hello(args.hello, args.threads)
    if shutil.which('ab') is None:
        sys.exit('benchmarks.api needs ApacheBench: apt-get install apache2-utils')

    with tempfile.TemporaryDirectory(prefix='migrator-bench-api-') as tmp:
        db_url = args.db_url or f'sqlite:///{tmp}/migrator.sqlite'
        started = time.monotonic()
        done = populate(db_url, args.hosts, args.per_host, args.migrations)
        print(f'database: {args.hosts} hosts, {args.hosts * args.per_host} instances, '
              f'{args.migrations} completed migrations + 5 in flight '
              f'({db_url.split(":")[0]}, filled in {time.monotonic() - started:.0f} s)')
        api_port, hello_port = free_port(), free_port()
        conf = write_config(tmp, db_url, api_port, args.threads, args.read_cache_ttl)
        bindir = os.path.dirname(sys.executable)
        api = subprocess.Popen([os.path.join(bindir, 'migrator-all'), '--config-file', conf],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        hello = subprocess.Popen([sys.executable, '-m', 'benchmarks.api', '--hello',
                                  str(hello_port), '--threads', str(args.threads)])
        try:
            base = f'http://127.0.0.1:{api_port}'
            wait_up(f'{base}/v1/hosts', api, 'migrator-all')
            wait_up(f'http://127.0.0.1:{hello_port}/', hello, 'the hello-world server')
            endpoints = [(label, path or f'/v1/migrations/{done}')
                         for label, path in ENDPOINTS
                         if not args.only or args.only in label]
            for _label, path in endpoints:    # each answers 200 with JSON before timing
                with urllib.request.urlopen(base + path) as resp:
                    json.load(resp)
            ttl = ('default' if args.read_cache_ttl is None
                   else f'{args.read_cache_ttl:g} s')
            print(f'ab -n {args.n} -c {args.c}{" -k" if args.keepalive else ""}, '
                  f'waitress threads = {args.threads}, read cache TTL {ttl}, '
                  f'{args.rounds} rounds; '
                  f'load average before: {os.getloadavg()[0]:.2f}')
            print(f'{"request":26} {"req/s":>8} {"p50 ms":>7} {"p99 ms":>7} '
                  f'{"hello req/s":>11} {"hello p50":>9} {"ratio":>6} '
                  f'{"cpu us/req":>10} {"hello cpu":>9} {"cpu ratio":>9}')
            for label, path in endpoints:
                mine, theirs = [], []
                for _ in range(args.rounds):
                    mine.append(ab(base + path, args.n, args.c, args.keepalive, api.pid))
                    theirs.append(ab(f'http://127.0.0.1:{hello_port}/', args.n, args.c,
                                     args.keepalive, hello.pid))
                m = [statistics.median(x) for x in zip(*mine, strict=True)]
                h = [statistics.median(x) for x in zip(*theirs, strict=True)]
                print(f'{label:26} {m[0]:8.0f} {m[1]:7.0f} {m[2]:7.0f} {h[0]:11.0f} '
                      f'{h[1]:9.0f} {m[0] / h[0]:6.3f} {m[3]:10.0f} {h[3]:9.0f} '
                      f'{h[3] / m[3]:9.3f}', flush=True)
            print(f'load average after: {os.getloadavg()[0]:.2f}')
        finally:
            stop(api)
            stop(hello)
    return 0


if __name__ == '__main__':
    sys.exit(main())
