"""Scheduler speed on a synthetic fleet: 10,000 hosts and 100,000 instances.

1. One decision (filters + weighers over the conductor's in-memory host-state cache, no
   DB): p50 and p99 over many requests for random instances, some of them in anti-affinity
   groups. Baseline in the same process: the same decision when the hosts are read from the
   DB for every request (what a scheduler without the cache does), on SQLite; and the full
   pass over every cached host (Scheduler.full_pass), with how often it chose the same host.
2. 1,000 decisions with claims: Scheduler.select_destination end to end (the request's
   server-group lookup, filters, weighers, and the compare-and-swap claim in the DB), on a
   real SQLite file and, when reachable, a real PostgreSQL database; total time and p50/p99.

    .venv/bin/python -m benchmarks.scheduler [--decisions 2000] [--claims 1000] [--no-pg]
"""

import argparse
import datetime
import os
import random
import statistics
import tempfile
import time
import uuid

import sqlalchemy as sa

from migrator import conf  # noqa: F401 - registers the options
from migrator.common import timeutils
from migrator.conductor.scheduler import host_state, request_spec, scheduler
from migrator.db import api as db_api
from migrator.db import models

HOSTS = 10_000
INSTANCES = 100_000
PG_ADMIN = 'postgresql+psycopg2://postgres@127.0.0.1:5432/postgres'
FULL_PASS_REQUESTS = 500
CPU_MODELS = '["Haswell", "Nehalem", "Skylake-Server", "qemu64"]'


def synthetic_fleet(rng):
    """(host rows, instances): instances spread over the hosts, whose usage they make."""
    now = timeutils.utcnow()
    hosts = []
    for i in range(HOSTS):
        memory = rng.choice((131072, 262144, 524288))
        hosts.append({
            'name': f'node{i:05d}', 'address': f'10.{i // 65536}.{i // 256 % 256}.{i % 256}',
            'hypervisor_uri': f'qemu+tcp://node{i:05d}/system', 'virt_type': 'kvm',
            'hypervisor_version': rng.choice((7002000, 8002000, 9000000)),
            'cpu_model': 'Skylake-Server', 'cpu_models': CPU_MODELS, 'memory_mb': memory,
            'memory_mb_used': 0, 'reserved_memory_mb': 4096, 'vcpus': 64, 'vcpus_used': 0,
            'disk_gb': 4000, 'disk_gb_used': 0,
            # A few hosts have migrations in flight, so both weighers discriminate.
            'inbound_migrations': 1 if rng.random() < 0.01 else 0,
            'outbound_migrations': 1 if rng.random() < 0.01 else 0,
            'status': 'enabled' if rng.random() > 0.02 else 'maintenance',
            'status_reason': None,
            # 1% of the agents are silent (down); the others' heartbeat stays fresh for the
            # whole run (an hour ahead), as if they kept reporting.
            'last_heartbeat': (now + datetime.timedelta(hours=1) if rng.random() > 0.01
                               else now - datetime.timedelta(hours=1)),
            'created_at': now, 'updated_at': now,
        })
    instances = []
    for i in range(INSTANCES):
        host = hosts[rng.randrange(HOSTS)]
        size = rng.choice((1024, 2048, 4096, 8192))
        host['memory_mb_used'] += size
        host['vcpus_used'] += size // 1024
        host['disk_gb_used'] += 20
        instances.append({'uuid': str(uuid.UUID(int=rng.getrandbits(128))), 'name': f'vm{i}',
                          'host': host['name'], 'memory_mb': size, 'vcpus': size // 1024,
                          'disk_gb': 20, 'cpu_model': 'qemu64'})
    return hosts, instances


def spec_for(instance, rng, hosts):
    group = None
    if rng.random() < 0.05:   # some requests are for members of anti-affinity groups
        members = {f'm{k}': hosts[rng.randrange(HOSTS)]['name'] for k in range(10)}
        group = {'name': 'g', 'policy': 'anti-affinity', 'member_hosts': members}
    return request_spec.RequestSpec.from_instance(instance, 'live', None, group)


def percentiles(samples):
    ordered = sorted(samples)
    return (statistics.median(ordered),
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))])


def bench_decisions(hosts, instances, count, rng, baseline_db):
    cache = host_state.HostStateCache(db=None)
    cache.load(hosts)
    sched = scheduler.Scheduler(db=None, cache=cache)
    picks = [rng.choice(instances) for _ in range(count)]
    specs = [spec_for(i, rng, hosts) for i in picks]
    for spec in specs[:50]:  # warm-up
        sched.decide(spec)
    times, cpu_times, chosen = [], [], 0
    for spec in specs:
        started, cpu_started = time.perf_counter(), time.process_time()
        decision = sched.decide(spec)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        chosen += decision.host is not None

    # The full pass (filter and weigh every host, what the fast path must agree with) on
    # the same requests, in the same process.
    full_sched = scheduler.Scheduler(db=None, cache=cache)
    full_sched.full_pass = True
    full_times, agree = [], 0
    for spec in specs[:FULL_PASS_REQUESTS]:
        started = time.perf_counter()
        full = full_sched.decide(spec)
        full_times.append(time.perf_counter() - started)
        agree += full.ranking == sched.decide(spec).ranking

    # Baseline: the same decision, the hosts read from the DB for each request.
    base_sched = scheduler.Scheduler(db=None, cache=host_state.HostStateCache(db=None))
    base_times = []
    for spec in specs[:5]:
        started = time.perf_counter()
        base_sched.cache.load(baseline_db.host_list())
        base_sched.decide(spec)
        base_times.append(time.perf_counter() - started)
    return times, cpu_times, chosen, base_times, full_times, agree


def fill_db(database, hosts):
    with database.engine.begin() as conn:
        conn.execute(models.hosts.delete())
        for start in range(0, len(hosts), 1000):
            conn.execute(sa.insert(models.hosts), hosts[start:start + 1000])


def bench_claims(database, hosts, instances, count, rng):
    """select_destination with its claim, count times; returns (total s, per-call times)."""
    fill_db(database, hosts)
    sched = scheduler.Scheduler(database)
    sched.cache.refresh()   # the conductor's start-up load, not timed
    times = []
    picks = [rng.choice(instances) for _ in range(count)]
    started_all = time.perf_counter()
    for instance in picks:
        started = time.perf_counter()
        target = sched.select_destination(instance, 'live', None, str(uuid.uuid4()))
        times.append(time.perf_counter() - started)
        assert target != instance['host']
    total = time.perf_counter() - started_all
    with database.engine.connect() as conn:
        claims = conn.execute(sa.select(sa.func.count()).select_from(
            models.scheduler_claims)).scalar()
    assert claims == count, claims
    return total, times


def postgres_database():
    try:
        admin = sa.create_engine(PG_ADMIN, isolation_level='AUTOCOMMIT')
        name = f'migrator_bench_{uuid.uuid4().hex[:10]}'
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE {name}')
    except sa.exc.OperationalError as exc:
        print(f'PostgreSQL unreachable, skipped: {exc.orig}')
        return None, None
    return admin, name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--decisions', type=int, default=2000)
    parser.add_argument('--claims', type=int, default=1000)
    parser.add_argument('--no-pg', action='store_true')
    args = parser.parse_args()
    rng = random.Random(42)
    print(f'Synthetic fleet: {HOSTS} hosts, {INSTANCES} instances; load average '
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    hosts, instances = synthetic_fleet(rng)

    with tempfile.TemporaryDirectory() as tmp:
        sqlite_db = db_api.Database(f"sqlite:///{os.path.join(tmp, 'bench.sqlite')}")
        sqlite_db.sync()
        fill_db(sqlite_db, hosts)

        times, cpu_times, chosen, base_times, full_times, agree = bench_decisions(
            hosts, instances, args.decisions, rng, sqlite_db)
        p50, p99 = percentiles(times)
        b50, b99 = percentiles(base_times)
        print(f'\nOne decision over the cache ({len(times)} requests, {chosen} placed):')
        print(f'  p50 {p50 * 1e3:.2f} ms   p99 {p99 * 1e3:.2f} ms   (target: p99 <= 5 ms)')
        cpu50, cpu99 = percentiles(cpu_times)
        print(f'  CPU time of this process per decision: p50 {cpu50 * 1e3:.2f} ms   '
              f'p99 {cpu99 * 1e3:.2f} ms (wall minus waiting for a core on a busy machine)')
        f50, f99 = percentiles(full_times)
        print(f'Full pass over every cached host, same requests ({len(full_times)}):')
        print(f'  p50 {f50 * 1e3:.2f} ms   p99 {f99 * 1e3:.2f} ms   ratio p50 full/fast '
              f'{f50 / p50:.0f}x; same host and weight chosen in {agree}/{len(full_times)}')
        print(f'Baseline, hosts read from SQLite per request ({len(base_times)} requests):')
        print(f'  p50 {b50 * 1e3:.1f} ms   p99 {b99 * 1e3:.1f} ms   '
              f'ratio p50 baseline/cache {b50 / p50:.0f}x')

        total, claim_times = bench_claims(sqlite_db, hosts, instances, args.claims, rng)
        c50, c99 = percentiles(claim_times)
        print(f'\n{args.claims} decisions with claims, SQLite file (WAL): total {total:.2f} s; '
              f'per decision p50 {c50 * 1e3:.2f} ms p99 {c99 * 1e3:.2f} ms')
        sqlite_db.dispose()

    if not args.no_pg:
        admin, name = postgres_database()
        if admin is not None:
            try:
                url = admin.url.set(database=name).render_as_string(hide_password=False)
                pg_db = db_api.Database(url)
                pg_db.sync()
                total, claim_times = bench_claims(pg_db, hosts, instances, args.claims, rng)
                c50, c99 = percentiles(claim_times)
                print(f'{args.claims} decisions with claims, PostgreSQL: total {total:.2f} s; '
                      f'per decision p50 {c50 * 1e3:.2f} ms p99 {c99 * 1e3:.2f} ms')
                pg_db.dispose()
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
                admin.dispose()


if __name__ == '__main__':
    main()
