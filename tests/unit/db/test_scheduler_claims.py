"""Claims and slots on every backend, including conductors racing on separate connections."""

import datetime
import threading

import pytest

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db.api import Database

LIMITS = {'ram_ratio': 1.0, 'cpu_ratio': 4.0, 'disk_ratio': 1.0, 'reserved_disk_gb': 0,
          'inbound': 10}


def _limits(**overrides):
    return {**LIMITS, 'heartbeat_after': utcnow() - datetime.timedelta(seconds=30),
            **overrides}


def _host(db, name, memory_mb=4096, **values):
    report = {'memory_mb': memory_mb, 'memory_mb_used': 0, 'reserved_memory_mb': 0,
              'vcpus': 4, 'vcpus_used': 0, 'disk_gb': 100, 'disk_gb_used': 0,
              'virt_type': 'qemu', 'hypervisor_version': 1}
    report.update(values)
    return db.host_report(name, report)


def _migration(db, add_instance, name, host='src', memory_mb=1024, priority=0):
    add_instance(f'uuid-{name}', host=host, name=name, memory_mb=memory_mb)
    return db.migration_create({'instance_uuid': f'uuid-{name}', 'type': 'live',
                                'priority': priority})


def _claim(db, mig, target, memory_mb=1024, **limits):
    return db.claim_target(mig['id'], mig['instance_uuid'], mig['source_host'], target,
                           {'memory_mb': memory_mb, 'vcpus': 1, 'disk_gb': 0},
                           _limits(**limits))


def test_claim_takes_room_and_terminal_transition_gives_it_back(db, add_instance):
    _host(db, 'src')
    _host(db, 'dst', memory_mb=1536)
    first = _migration(db, add_instance, 'vm1')
    second = _migration(db, add_instance, 'vm2')

    assert _claim(db, first, 'dst')
    host = db.host_get('dst')
    assert (host['claimed_memory_mb'], host['claimed_vcpus'], host['inbound_migrations']) == \
        (1024, 1, 1)
    assert not _claim(db, second, 'dst'), 'only 512 MiB are left'
    assert _claim(db, first, 'dst'), 'claiming again what we hold is a no-op'
    assert db.host_get('dst')['claimed_memory_mb'] == 1024

    db.migration_transition(first['id'], [states.ACCEPTED], states.FAILED, detail='test')
    host = db.host_get('dst')
    assert (host['claimed_memory_mb'], host['claimed_vcpus'], host['inbound_migrations']) == \
        (0, 0, 0)
    assert db.claim_get(first['id']) is None
    assert _claim(db, second, 'dst')


def test_claim_refuses_disabled_down_and_inbound_full_hosts(db, add_instance):
    _host(db, 'src')
    _host(db, 'dst')
    mig = _migration(db, add_instance, 'vm1')
    db.host_set_status('dst', 'disabled', 'test')
    assert not _claim(db, mig, 'dst')
    db.host_set_status('dst', 'enabled')
    assert not _claim(db, mig, 'dst', heartbeat_after=utcnow() + datetime.timedelta(seconds=1))
    assert not _claim(db, mig, 'dst', inbound=0)
    assert _claim(db, mig, 'dst')


def test_claim_moves_to_another_target(db, add_instance):
    _host(db, 'src')
    _host(db, 'a')
    _host(db, 'b')
    mig = _migration(db, add_instance, 'vm1')
    assert _claim(db, mig, 'a')
    assert _claim(db, mig, 'b')
    assert db.host_get('a')['claimed_memory_mb'] == 0
    assert db.host_get('b')['claimed_memory_mb'] == 1024


def test_slots_limit_outbound_and_cluster_and_release_on_end(db, add_instance):
    _host(db, 'src')
    _host(db, 'other')
    migs = [_migration(db, add_instance, f'vm{i}') for i in range(3)]
    elsewhere = _migration(db, add_instance, 'vmx', host='other')

    taken = [db.slot_acquire(m['id'], states.ACCEPTED, 2, 3, 'test')[0] for m in migs]
    assert [t is not None for t in taken] == [True, True, False]
    assert taken[0]['status'] == states.SCHEDULING
    _, why = db.slot_acquire(migs[2]['id'], states.ACCEPTED, 2, 3, 'test')
    assert why['limit'] == 'source' and 'src sends 2' in why['message']
    assert db.migration_get(migs[2]['id'])['status'] == states.ACCEPTED  # nothing changed
    assert db.host_get('src')['outbound_migrations'] == 2

    migration, why = db.slot_acquire(elsewhere['id'], states.ACCEPTED, 2, 2, 'test')
    assert migration is None and why['limit'] == 'cluster'
    assert db.scheduler_active_count() == 2

    db.migration_transition(migs[0]['id'], [states.SCHEDULING], states.FAILED)
    assert db.host_get('src')['outbound_migrations'] == 1
    assert db.scheduler_active_count() == 1
    assert db.slot_acquire(migs[2]['id'], states.ACCEPTED, 2, 3, 'test')[0] is not None

    with pytest.raises(exceptions.InvalidStateTransition):
        db.slot_acquire(migs[2]['id'], states.ACCEPTED, 2, 3, 'test')


def _complete(db, mig, target):
    """Through the states a live migration takes, to completed on target."""
    for to_state in (states.PREPARING, states.RUNNING, states.FINISHING):
        db.migration_transition(mig['id'],
                                [s for s, nxt in states.ALLOWED.items() if to_state in nxt],
                                to_state, values={'target_host': target}
                                if to_state == states.PREPARING else None)
    db.migration_transition(mig['id'], [states.FINISHING], states.COMPLETED)


def _report(db, name, reported_at, active=(), memory_mb_used=0, memory_mb=4096):
    return db.host_report(name, {'memory_mb': memory_mb, 'memory_mb_used': memory_mb_used,
                                 'vcpus': 4, 'vcpus_used': len(active)},
                          reported_at, list(active))


def test_completed_migration_keeps_the_room_until_the_target_reports_the_guest(
        db, add_instance):
    _host(db, 'src')
    _host(db, 'dst', memory_mb=1536)
    mig = _migration(db, add_instance, 'vm1')
    later = _migration(db, add_instance, 'vm2')
    db.slot_acquire(mig['id'], states.ACCEPTED, 2, 5, 'test')
    assert _claim(db, mig, 'dst')
    before_landing = utcnow()
    _complete(db, mig, 'dst')

    dst = db.host_get('dst')
    # The slots are free, the memory still claimed: the agent has not counted the guest.
    assert (dst['inbound_migrations'], dst['claimed_memory_mb']) == (0, 1024)
    assert db.host_get('src')['outbound_migrations'] == 0
    assert db.scheduler_active_count() == 0
    assert db.claim_list() == [] and db.claim_targets_of([mig['instance_uuid']]) == {}
    assert not _claim(db, later, 'dst'), 'the landed guest still takes its room'

    # A report gathered before the landing that does not list the guest releases nothing.
    _report(db, 'dst', before_landing, memory_mb=1536)
    assert db.host_get('dst')['claimed_memory_mb'] == 1024
    assert not _claim(db, later, 'dst')
    # One that counts the guest gives the claim back: the guest is counted once, as used.
    _report(db, 'dst', utcnow(), active=[mig['instance_uuid']], memory_mb_used=1024,
            memory_mb=1536)
    dst = db.host_get('dst')
    assert (dst['claimed_memory_mb'], dst['memory_mb_used']) == (0, 1024)
    assert db.claim_get(mig['id']) is None
    assert not _claim(db, later, 'dst')


def test_a_report_gathered_after_the_landing_releases_the_claim_of_a_guest_gone_since(
        db, add_instance):
    _host(db, 'src')
    _host(db, 'dst')
    mig = _migration(db, add_instance, 'vm1')
    db.slot_acquire(mig['id'], states.ACCEPTED, 2, 5, 'test')
    assert _claim(db, mig, 'dst')
    _complete(db, mig, 'dst')
    assert db.host_get('dst')['claimed_memory_mb'] == 1024
    _report(db, 'dst', utcnow() + datetime.timedelta(seconds=1))   # shut down since
    assert db.host_get('dst')['claimed_memory_mb'] == 0
    assert db.claim_get(mig['id']) is None


def test_a_report_delivered_after_a_newer_one_changes_no_usage(db, add_instance):
    _host(db, 'dst')
    newer, older = utcnow(), utcnow() - datetime.timedelta(seconds=5)
    _report(db, 'dst', newer, active=['uuid-a'], memory_mb_used=1024)
    beat = db.host_get('dst')['last_heartbeat']
    host = _report(db, 'dst', older, memory_mb_used=0)
    assert host['memory_mb_used'] == 1024 and host['vcpus_used'] == 1
    assert host['last_heartbeat'] >= beat   # the agent is still taken as alive


def test_a_failed_migration_gives_the_room_back_at_once(db, add_instance):
    _host(db, 'src')
    _host(db, 'dst')
    mig = _migration(db, add_instance, 'vm1')
    assert _claim(db, mig, 'dst')
    db.migration_transition(mig['id'], [states.ACCEPTED, states.SCHEDULING], states.FAILED)
    assert db.host_get('dst')['claimed_memory_mb'] == 0
    assert db.claim_get(mig['id']) is None


def test_requeue_gives_the_slot_back(db, add_instance):
    _host(db, 'src')
    _host(db, 'dst')
    mig = _migration(db, add_instance, 'vm1')
    db.slot_acquire(mig['id'], states.ACCEPTED, 2, 5, 'test')
    assert _claim(db, mig, 'dst')
    db.migration_transition(mig['id'], [states.SCHEDULING], states.QUEUED, detail='wait')
    assert db.host_get('src')['outbound_migrations'] == 0
    assert db.host_get('dst')['claimed_memory_mb'] == 0
    assert db.scheduler_active_count() == 0
    assert db.slot_acquire(mig['id'], states.QUEUED, 2, 5, 'test')[0]['status'] == \
        states.SCHEDULING


def test_queue_order_is_priority_then_age(db, add_instance):
    _host(db, 'src')
    low = _migration(db, add_instance, 'low')
    high = _migration(db, add_instance, 'high', priority=10)
    low2 = _migration(db, add_instance, 'low2')
    for mig in (low, high, low2):
        db.migration_transition(mig['id'], [states.ACCEPTED], states.QUEUED)
    assert [m['id'] for m in db.migration_list_queued()] == [high['id'], low['id'], low2['id']]


def _race(server_db, workers, attempt):
    """Runs attempt(i, db) in `workers` threads, each with its own Database (engine and
    connections), all released at once; returns the results."""
    databases = [Database(server_db.url) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    results = [None] * workers

    def run(i):
        barrier.wait()
        try:
            results[i] = attempt(i, databases[i])
        except Exception as exc:  # noqa: BLE001 - reported by the assert
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for database in databases:
        database.dispose()
    return results


def test_racing_conductors_never_overcommit_a_host(db, add_instance):
    """Eight conductors, each on its own connection, claim at the same moment on a host
    with room for exactly one guest: exactly one wins."""
    _host(db, 'src')
    _host(db, 'dst', memory_mb=1024)
    migs = [_migration(db, add_instance, f'vm{i}') for i in range(8)]

    results = _race(db, 8, lambda i, conductor_db: _claim(conductor_db, migs[i], 'dst'))

    assert sorted(map(repr, results)) == sorted(['True'] + ['False'] * 7), results
    host = db.host_get('dst')
    assert host['claimed_memory_mb'] == 1024 and host['inbound_migrations'] == 1


def test_racing_conductors_respect_the_outbound_limit(db, add_instance):
    _host(db, 'src')
    migs = [_migration(db, add_instance, f'vm{i}') for i in range(6)]

    results = _race(db, 6, lambda i, conductor_db: conductor_db.slot_acquire(
        migs[i]['id'], states.ACCEPTED, 2, 5, 'race')[0] is not None)

    assert sorted(map(repr, results)) == sorted(['True'] * 2 + ['False'] * 4), results
    assert db.host_get('src')['outbound_migrations'] == 2
    assert db.scheduler_active_count() == 2


def test_two_conductors_deciding_at_once_place_one_guest_where_one_fits(db, add_instance):
    """Whole decisions, not only claims: conductors on their own DB connections, each with
    its own host cache that still shows room, race for a host with room for one guest."""
    from migrator.conductor import manager
    from migrator.conf import CONF

    _host(db, 'src', memory_mb=16384)
    _host(db, 'dst', memory_mb=1024, cpu_models=['qemu64'])
    migs = [_migration(db, add_instance, f'vm{i}') for i in range(6)]
    instances = [db.instance_get(m['instance_uuid']) for m in migs]
    CONF.set_override('host_cache_refresh_interval', 3600, group='scheduler')
    try:
        conductors = []

        def decide(i, conductor_db):
            conductor = manager.ConductorManager(conductor_db, compute_api=object(),
                                                 host=f'c{i}')
            conductors.append(conductor)
            conductor.scheduler.cache.refresh()
            try:
                return conductor.scheduler.select_destination(instances[i], 'live', None,
                                                              migs[i]['id'])
            except exceptions.NoValidHost as exc:
                return exc

        results = _race(db, 6, decide)
    finally:
        CONF.clear_override('host_cache_refresh_interval', group='scheduler')
        for conductor in conductors:
            conductor.stop()
    winners = [r for r in results if r == 'dst']
    losers = [r for r in results if isinstance(r, exceptions.NoValidHost)]
    assert len(winners) == 1 and len(losers) == 5, results
    assert db.host_get('dst')['claimed_memory_mb'] == 1024
    for loser in losers:
        assert 'MemoryFilter' in str(loser) or 'taken by other migrations' in str(loser)


def _free_vcpus(db, name, ratio=1.0):
    host = db.host_get(name)
    return host['vcpus'] * ratio - host['vcpus_used'] - host['claimed_vcpus']


def test_a_guest_arriving_on_a_full_host_is_counted_once_by_its_claim_or_the_usage(
        db, add_instance):
    """Issue 11's VcpuFilter race: 4 vCPUs, 3 guests back home and one arriving. The agent
    counts the paused incoming domain as an active one; its claim must then stop counting,
    or the host looks over-full and the last guest of a return is refused."""
    _host(db, 'src')
    _host(db, 'dst')
    home = ['uuid-h1', 'uuid-h2', 'uuid-h3']
    _report(db, 'dst', utcnow(), active=home)
    mig = _migration(db, add_instance, 'vm4')
    db.slot_acquire(mig['id'], states.ACCEPTED, 2, 5, 'test')
    assert _claim(db, mig, 'dst')
    assert _free_vcpus(db, 'dst') == 0

    # The incoming domain shows up in a report: the usage counts it, the claim does not.
    _report(db, 'dst', utcnow(), active=home + [mig['instance_uuid']])
    dst = db.host_get('dst')
    assert (dst['vcpus_used'], dst['claimed_vcpus']) == (4, 0)
    assert db.claim_get(mig['id'])['counted'] is True
    # A report without it (the incoming domain went away) counts the claim again.
    _report(db, 'dst', utcnow(), active=home)
    dst = db.host_get('dst')
    assert (dst['vcpus_used'], dst['claimed_vcpus'], dst['inbound_migrations']) == (3, 1, 1)
    _report(db, 'dst', utcnow(), active=home + [mig['instance_uuid']])

    before_landing = utcnow()
    _complete(db, mig, 'dst')
    dst = db.host_get('dst')
    assert (dst['vcpus_used'], dst['claimed_vcpus'], dst['inbound_migrations']) == (4, 0, 0)
    assert db.claim_get(mig['id']) is None, 'the report counts it: nothing left to claim'
    # A late report gathered before the landing neither frees nor double-counts anything.
    _report(db, 'dst', before_landing, active=home + [mig['instance_uuid']])
    assert _free_vcpus(db, 'dst') == 0
    # And the guest leaving again frees exactly its room.
    _report(db, 'dst', utcnow(), active=home)
    assert _free_vcpus(db, 'dst') == 1


def test_a_counted_claim_rolled_back_leaves_the_usage_to_the_next_report(db, add_instance):
    _host(db, 'src')
    _host(db, 'dst')
    mig = _migration(db, add_instance, 'vm1')
    assert _claim(db, mig, 'dst')
    _report(db, 'dst', utcnow(), active=[mig['instance_uuid']])
    db.migration_transition(mig['id'], [states.ACCEPTED], states.FAILED)
    dst = db.host_get('dst')
    assert (dst['claimed_vcpus'], dst['inbound_migrations'], dst['vcpus_used']) == (0, 0, 1)
    _report(db, 'dst', utcnow(), active=[])
    assert _free_vcpus(db, 'dst') == 4
