"""The fast decision (memory_index) chooses exactly what filtering and weighing every host
chooses, on random caches that change between decisions."""

import datetime
import random

import pytest

from migrator.common.timeutils import utcnow
from migrator.conductor.scheduler import host_state, request_spec, scheduler
from migrator.conf import CONF

SEEDS = (1, 2, 3, 4, 5)
MULTIPLIERS = [(1.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (-1.0, 0.0), (2.5, -1.0), (-0.3, 7.0),
               (1e-12, 1.0), (0.0, 1.0), (0.0, 0.0)]


def random_row(rng, i, now, uniform=False):
    memory = rng.choice((4096, 8192, 16384)) if not uniform else 8192
    # Few distinct usages, so hosts often tie in free memory and in total weight.
    used = rng.choice((0, 1024, 2048, 4096, 8192, memory, memory + 1024)) if not uniform else 0
    return {
        'name': f'h{i:03d}', 'virt_type': rng.choice(('kvm', 'kvm', 'kvm', 'qemu')),
        'hypervisor_version': rng.choice((7002000, 8002000, 9000000)),
        'cpu_model': rng.choice(('Skylake', 'Haswell')),
        'cpu_models': rng.choice(('["qemu64", "Haswell"]', '["qemu64"]', None)),
        'memory_mb': memory, 'memory_mb_used': used,
        'reserved_memory_mb': rng.choice((0, 512)) if not uniform else 0,
        'vcpus': 8, 'vcpus_used': rng.randrange(10), 'disk_gb': 100,
        'disk_gb_used': rng.choice((0, 50, 95)),
        'inbound_migrations': rng.choice((0, 0, 0, 1, 2)),
        'outbound_migrations': rng.choice((0, 0, 1)),
        'status': rng.choice(('enabled',) * 8 + ('disabled', 'maintenance')),
        'last_heartbeat': now if rng.random() > 0.1 else now - datetime.timedelta(hours=1),
    }


def random_spec(rng, rows):
    instance = {'uuid': f'u{rng.getrandbits(32)}', 'name': 'vm',
                'host': rng.choice(rows)['name'] if rng.random() > 0.05 else 'unknown',
                'memory_mb': rng.choice((512, 1024, 4096, 8192, 20000)),
                'vcpus': rng.choice((1, 2, 4)), 'disk_gb': rng.choice((10, 40)),
                'cpu_model': rng.choice(('qemu64', 'Haswell', None))}
    group = None
    if rng.random() < 0.3:
        members = {f'm{k}': rng.choice(rows)['name'] for k in range(rng.randrange(1, 6))}
        group = {'name': 'g', 'policy': rng.choice(('affinity', 'anti-affinity')),
                 'member_hosts': members}
    return request_spec.RequestSpec.from_instance(
        instance, rng.choice(('live', 'live', 'cold')), rng.random() < 0.2, group)


def choice_of(decision):
    return [(round(w, 12), h.name) for w, h in decision.ranking]


def compare(rng, rows, decisions, uniform=False):
    """Decide `decisions` random requests both ways, changing the cache in between; returns
    how many the fast path decided."""
    now = utcnow()
    cache = host_state.HostStateCache(db=None)
    cache.load(rows)
    fast = scheduler.Scheduler(db=None, cache=cache)
    full = scheduler.Scheduler(db=None, cache=cache)
    full.full_pass = True
    fast_runs = 0
    for _ in range(decisions):
        spec = random_spec(rng, rows)
        transient = rng.random() < 0.3
        target = rng.choice(rows)['name'] if rng.random() < 0.1 else None
        got = fast.decide(spec, target, ignore_transient=transient)
        want = full.decide(spec, target, ignore_transient=transient)
        assert choice_of(got) == choice_of(want)
        assert got.host == want.host
        if got.host is None:
            assert got.refusal() == want.refusal()
        fast_runs += got.passed is None
        # The cache changes between decisions: our claims, reports, new hosts.
        if got.host is not None and rng.random() < (0.7 if not uniform else 0.1):
            cache.get(got.host).add_claim(spec.memory_mb, spec.vcpus, spec.disk_gb)
        if rng.random() < 0.3:
            row = dict(rng.choice(rows))
            row.update(random_row(rng, 0, now, uniform), name=row['name'])
            cache.update(row)
        if rng.random() < 0.05:
            row = random_row(rng, len(rows), now, uniform)
            rows.append(row)
            cache.update(row)
    return fast_runs


@pytest.fixture(params=MULTIPLIERS, ids=str)
def multipliers(request):
    ram, migrations = request.param
    CONF.set_override('ram_weight_multiplier', ram, group='scheduler')
    CONF.set_override('migrations_weight_multiplier', migrations, group='scheduler')
    yield request.param
    CONF.clear_override('ram_weight_multiplier', group='scheduler')
    CONF.clear_override('migrations_weight_multiplier', group='scheduler')


@pytest.mark.parametrize('seed', SEEDS)
def test_fast_path_chooses_as_the_full_pass(seed, multipliers):
    rng = random.Random(seed)
    now = utcnow()
    rows = [random_row(rng, i, now) for i in range(rng.choice((1, 5, 60, 200)))]
    fast_runs = compare(rng, rows, 60)
    if multipliers[0] and len(rows) > 10:
        # Else each decision met a single candidate or none (no scaling to work from).
        assert fast_runs, 'the fast path never ran'


@pytest.mark.parametrize('seed', SEEDS)
def test_fast_path_on_identical_hosts_chooses_as_the_full_pass(seed, multipliers):
    # A fresh fleet of one hardware: every candidate has the same free memory, only the
    # migrations in flight and the cache's order tell them apart.
    rng = random.Random(seed)
    now = utcnow()
    rows = [random_row(rng, i, now, uniform=True) for i in range(40)]
    assert compare(rng, rows, 40, uniform=True), 'the fast path never ran'


def test_fast_path_honours_the_filters_on_a_fleet_of_full_and_refused_hosts():
    now = utcnow()
    rows = [{'name': 'full', 'memory_mb': 8192, 'memory_mb_used': 8192, 'vcpus': 4,
             'last_heartbeat': now},
            {'name': 'down', 'memory_mb': 65536, 'vcpus': 4,
             'last_heartbeat': now - datetime.timedelta(hours=1)},
            {'name': 'disabled', 'memory_mb': 65536, 'vcpus': 4, 'status': 'disabled',
             'last_heartbeat': now},
            {'name': 'small', 'memory_mb': 4096, 'vcpus': 4, 'last_heartbeat': now},
            {'name': 'mid', 'memory_mb': 6144, 'vcpus': 4, 'last_heartbeat': now},
            {'name': 'src', 'memory_mb': 4096, 'vcpus': 4, 'last_heartbeat': now}]
    cache = host_state.HostStateCache(db=None)
    cache.load(rows)
    sched = scheduler.Scheduler(db=None, cache=cache)
    instance = {'uuid': 'u1', 'name': 'vm1', 'host': 'src', 'memory_mb': 2048, 'vcpus': 1}

    def decide():
        decision = sched.decide(request_spec.RequestSpec.from_instance(instance))
        assert decision.passed in (None, 0)   # decided by the fast path
        return decision

    assert decide().host == 'mid'
    cache.get('mid').add_claim(5000, 1, 0)
    assert decide().host == 'small'
    cache.get('small').add_claim(3072, 1, 0)
    decision = decide()
    assert decision.host is None
    assert 'MemoryFilter removed 3 (' in decision.refusal()
    cache.update(dict(rows[1], last_heartbeat=now))   # 'down' reports again
    assert decide().host == 'down'
