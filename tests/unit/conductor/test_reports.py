"""Reports that change nothing are heartbeats, batched; a change is written at once in full
(migrator.conductor.reports)."""

import datetime
import statistics
import threading

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from migrator.conductor import reports
from migrator.db.models import hosts, instances

CONF = cfg.CONF


def guest_rows(db):
    with db.engine.connect() as conn:
        return {r.uuid: r for r in conn.execute(sa.select(instances))}


@pytest.fixture
def batched(cluster):
    """The conductor's report writer with its flusher running, flushing only when told."""
    CONF.set_override('heartbeat_flush_interval', 3600, 'conductor')
    cluster.conductor.reports.start()
    yield cluster.conductor.reports
    cluster.conductor.reports.stop()
    CONF.clear_override('heartbeat_flush_interval', 'conductor')


def statements(db):
    seen = []
    sa.event.listen(db.engine, 'before_cursor_execute',
                    lambda conn, cur, statement, *a: seen.append(statement.split()[0]))
    return seen


def test_an_unchanged_report_rewrites_no_guest_row(cluster, db):
    cluster.drivers['host1'].add_domain('vm1', memory_mb=1024)
    cluster.report_all()
    before = guest_rows(db)
    beat_before = db.host_get('host1')['last_heartbeat']
    cluster.report_all()
    after = guest_rows(db)
    assert {u: r.updated_at for u, r in after.items()} == \
        {u: r.updated_at for u, r in before.items()}
    assert db.host_get('host1')['last_heartbeat'] > beat_before
    assert cluster.conductor.reports.heartbeats == 3


def test_heartbeats_wait_for_the_flush_and_go_in_one_update(cluster, db, batched):
    cluster.report_all()          # first reports: written in full
    beats = {h: db.host_get(h)['last_heartbeat'] for h in ('host1', 'host2', 'host3')}
    cluster.report_all()
    assert {h: db.host_get(h)['last_heartbeat'] for h in beats} == beats
    seen = statements(db)
    assert batched.flush() == 3
    assert [s for s in seen if s.upper() in ('INSERT', 'UPDATE', 'DELETE')] == ['UPDATE']
    flushed = {h: db.host_get(h) for h in beats}
    assert all(flushed[h]['last_heartbeat'] > beats[h] for h in beats)
    # The scheduler's cache sees the heartbeat (HostUpFilter reads it there).
    state = cluster.conductor.scheduler.cache.get('host1')
    assert state.reported_heartbeat == flushed['host1']['last_heartbeat']


def test_a_change_is_written_at_once_not_at_the_flush(cluster, db, batched):
    cluster.report_all()
    cluster.report_all()
    guest = cluster.drivers['host2'].add_domain('vm-new', memory_mb=1536)
    cluster.compute_api.agents['host2']._report()
    assert db.host_get('host2')['memory_mb_used'] == 1536
    assert db.instance_get(guest['uuid'])['host'] == 'host2'
    assert cluster.conductor.scheduler.cache.get('host2').memory_mb_used == 1536
    # And a guest leaving.
    with cluster.cloud.lock:
        cluster.cloud.domains['host2'].pop(guest['uuid'])
    cluster.compute_api.agents['host2']._report()
    assert db.host_get('host2')['memory_mb_used'] == 0
    assert guest['uuid'] not in guest_rows(db)


def test_a_guest_row_changed_behind_the_reports_is_put_right(cluster, db):
    guest = cluster.drivers['host1'].add_domain('vm1', memory_mb=1024)
    cluster.report_all()
    db.instance_set_host(guest['uuid'], 'host3')       # wrong, and newer than the report
    cluster.compute_api.agents['host1']._report()
    assert db.instance_get(guest['uuid'])['host'] == 'host1'


def test_a_report_of_another_conductor_between_makes_the_next_one_full(cluster, db):
    """Two conductors take turns on one agent's reports: the state the agent goes back to
    is written again, though this conductor wrote that very report before."""
    agent = cluster.compute_api.agents['host1']
    other = reports.ReportWriter(db, cluster.conductor.scheduler.cache)
    captured = []
    agent.conductor_api = type('Capture', (), {
        'report_host': lambda self, ctxt, host, inv, doms, at: captured.append(
            (host, inv, doms, at))})()

    def send(writer):
        agent._report()
        host, inv, doms, at = captured.pop()
        writer.handle(host, inv, doms, datetime.datetime.fromisoformat(at))

    mine = cluster.conductor.reports
    send(mine)                                               # state A, by this conductor
    guest = cluster.drivers['host1'].add_domain('vm1', memory_mb=2048)
    send(other)                                              # state B, by the other one
    assert db.host_get('host1')['memory_mb_used'] == 2048
    with cluster.cloud.lock:
        cluster.cloud.domains['host1'].pop(guest['uuid'])
    send(mine)                                               # state A again
    assert db.host_get('host1')['memory_mb_used'] == 0
    assert guest['uuid'] not in guest_rows(db)


def test_two_conductors_taking_turns_write_an_unchanged_host_once(cluster, db):
    """Each conductor's full write used to make the other's next report of the host a full
    one (each remembered only its own writes): with two conductors every report was."""
    take = _captured(cluster.compute_api.agents['host1'])
    cluster.drivers['host1'].add_domain('vm1', memory_mb=1024)
    mine = cluster.conductor.reports
    other = reports.ReportWriter(db, cluster.conductor.scheduler.cache)
    for turn in range(6):
        (mine if turn % 2 else other).handle(*take())
    assert mine.full_writes + other.full_writes == 1
    assert mine.heartbeats + other.heartbeats == 5
    assert db.host_get('host1')['memory_mb_used'] == 1024


def test_after_a_restart_or_a_db_reset_the_first_report_is_full(cluster, db):
    cluster.drivers['host1'].add_domain('vm1', memory_mb=1024)
    cluster.report_all()
    with db.engine.begin() as conn:
        conn.exec_driver_sql('DELETE FROM instances')
        conn.exec_driver_sql('DELETE FROM hosts')
    cluster.report_all()                       # same reports: the swap misses, full writes
    assert db.host_get('host1')['memory_mb_used'] == 1024
    assert len(guest_rows(db)) == 1

def test_a_restarted_or_other_conductor_heartbeats_what_the_db_holds(cluster, db):
    """The host's row says what the DB holds: a conductor that never wrote this host's
    report (new, restarted, or the other one) writes an unchanged report as a heartbeat,
    one statement, without rewriting the host's or its guests' rows."""
    cluster.drivers['host1'].add_domain('vm1', memory_mb=1024)
    cluster.report_all()
    before = guest_rows(db)
    restarted = reports.ReportWriter(db, cluster.conductor.scheduler.cache)
    cluster.conductor.reports = restarted
    seen = statements(db)
    cluster.report_all()
    assert restarted.full_writes == 0 and restarted.heartbeats == 3
    assert [s for s in seen if s.upper() in ('INSERT', 'UPDATE', 'DELETE')] == ['UPDATE'] * 3
    assert {u: r.updated_at for u, r in guest_rows(db).items()} == \
        {u: r.updated_at for u, r in before.items()}
    # And a change is still written at once.
    cluster.drivers['host1'].add_domain('vm2', memory_mb=512)
    cluster.compute_api.agents['host1']._report()
    assert db.host_get('host1')['memory_mb_used'] == 1536
    assert restarted.full_writes == 1


def test_every_report_in_full_after_the_full_write_interval(cluster, db):
    CONF.set_override('report_full_write_interval', 0, 'conductor')
    try:
        cluster.report_all()
        cluster.report_all()
    finally:
        CONF.clear_override('report_full_write_interval', 'conductor')
    assert cluster.conductor.reports.full_writes == 6
    assert cluster.conductor.reports.heartbeats == 0


def test_digest_ignores_guest_order_but_not_content():
    a = {'uuid': 'a', 'memory_mb': 1}
    b = {'uuid': 'b', 'memory_mb': 1}
    inv = {'memory_mb': 4096}
    assert reports.digest(inv, [a, b]) == reports.digest(inv, [b, a])
    assert reports.digest(inv, [a, b]) != reports.digest(inv, [a, {**b, 'memory_mb': 2}])
    assert reports.digest(inv, [a]) != reports.digest({'memory_mb': 4097}, [a])


def test_full_writes_are_bounded_below_the_db_pool(cluster, db):
    """64 RPC threads once raced for 15 DB connections; now at most report_db_workers
    reports are written at once and the rest wait for a turn."""
    CONF.set_override('report_db_workers', 2, 'conductor')
    cond = threading.Condition()
    state = {'inside': 0, 'most': 0}
    release = threading.Event()

    class Slow:
        def __getattr__(self, name):
            return getattr(db, name)

        def host_report(self, *args, **kwargs):
            with cond:
                state['inside'] += 1
                state['most'] = max(state['most'], state['inside'])
                cond.notify_all()
            release.wait(30)
            with cond:
                state['inside'] -= 1
            return db.host_report(*args, **kwargs)

    try:
        writer = reports.ReportWriter(Slow(), cluster.conductor.scheduler.cache)
        now = datetime.datetime.now(datetime.UTC)
        threads = [threading.Thread(target=writer.handle,
                                    args=(f'h{i}', {'memory_mb': 1024}, [], now))
                   for i in range(5)]
        for thread in threads:
            thread.start()
        with cond:
            assert cond.wait_for(lambda: state['inside'] == 2, timeout=30)
            # A third writer would get in now if it could.
            assert not cond.wait_for(lambda: state['inside'] > 2, timeout=0.5)
        release.set()
        for thread in threads:
            thread.join(30)
    finally:
        release.set()
        CONF.clear_override('report_db_workers', 'conductor')
    assert state['most'] == 2
    assert writer.full_writes == 5


def test_a_missed_heartbeat_is_written_in_full_beside_the_flush(cluster, db, batched):
    """The flush's misses (a full write due, a row changed elsewhere) are written by the
    report_db_workers threads, not one after the other by the flusher."""
    cluster.report_all()
    with db.engine.begin() as conn:
        conn.execute(sa.update(hosts).where(hosts.c.name == 'host1').values(
            report_synced_at=datetime.datetime(2000, 1, 1)))     # long due
    full = batched.full_writes
    cluster.report_all()                                          # queued: hints match
    assert batched.flush() == 2
    batched.wait_missed()
    assert batched.full_writes == full + 1
    assert db.host_get('host1')['report_synced_at'] > datetime.datetime(2000, 1, 1)


def test_a_full_write_falls_due_after_the_full_write_interval(cluster, db):
    """Whatever its digest, a host's report is written in full once its last full write is
    older than a random point of the second half of report_full_write_interval; the due
    time is the row's, so any conductor sees it."""
    CONF.set_override('report_full_write_interval', 100, 'conductor')
    try:
        cluster.report_all()
        mine = cluster.conductor.reports
        full = mine.full_writes
        with db.engine.begin() as conn:
            for name, age in (('host1', 101), ('host2', 49)):
                synced = db.host_get(name)['report_synced_at']
                conn.execute(sa.update(hosts).where(hosts.c.name == name).values(
                    report_synced_at=synced - datetime.timedelta(seconds=age)))
        cluster.report_all()
        assert mine.full_writes == full + 1                  # host1's; host2 not yet due
        cluster.report_all()
        assert mine.full_writes == full + 1                  # host1 written afresh
    finally:
        CONF.clear_override('report_full_write_interval', 'conductor')


def test_forced_full_writes_are_spread_over_the_second_half_of_the_interval():
    """After a slow start every host was first written within a few minutes; forced full
    writes falling due all at once swamped the conductor. Each host has its own point of
    the second half of the interval, the same on every conductor."""
    CONF.set_override('report_full_write_interval', 1000, 'conductor')
    try:
        now = datetime.datetime(2026, 1, 1)
        ages = sorted((now - reports._fresh_after(now, f'host{i}')).total_seconds()
                      for i in range(200))
        again = (now - reports._fresh_after(now, 'host7')).total_seconds()
    finally:
        CONF.clear_override('report_full_write_interval', 'conductor')
    assert 500 <= ages[0] and ages[-1] <= 1000
    assert 600 <= statistics.median(ages) <= 900         # evenly, not all early
    assert again in ages


def _captured(agent):
    """The agent's reports, kept to be handed to the conductor in the order a test wants."""
    captured = []
    agent.conductor_api = type('Capture', (), {
        'report_host': lambda self, ctxt, host, inv, doms, at: captured.append(
            (host, inv, doms, datetime.datetime.fromisoformat(at)))})()

    def take():
        agent._report()
        return captured.pop()
    return take


def _live_migration(db, uuid, target):
    """A live migration of uuid held in `running`; returns a function that completes it."""
    from migrator.common import states
    mig = db.migration_create({'instance_uuid': uuid, 'type': 'live'})
    db.migration_transition(mig['id'], [states.ACCEPTED], states.SCHEDULING)
    db.migration_transition(mig['id'], [states.SCHEDULING], states.PREPARING,
                            values={'target_host': target})
    db.migration_transition(mig['id'], [states.PREPARING], states.RUNNING)

    def complete():
        db.migration_transition(mig['id'], [states.RUNNING], states.FINISHING)
        db.migration_transition(mig['id'], [states.FINISHING], states.COMPLETED)
    return complete


def test_a_guest_that_moved_reads_running_on_its_new_host(cluster, db, batched):
    """The CI failure of test_drain: the undrain found a guest that had just moved 'paused'.

    The target's agent sees the incoming domain 'paused' while it starts up (libvirt's pause
    reason is "starting up" before it is "migration", so the driver does not call it
    incoming). That report, handled late (the conductor was behind), was copied into the
    guest's row though a migration held it, stamped with the time it was handled; the
    target's next report, taken before that time but with the guest running, then counted
    as older than the row and was skipped for it; the migration completed onto a row that
    said 'paused'; and the target's reports after that were the same as the one skipped,
    so heartbeats, until one was refused and written in full.
    """
    source = cluster.drivers['host1']
    guest = source.add_domain('vm1', memory_mb=512)
    cluster.report_all()
    complete = _live_migration(db, guest['uuid'], 'host2')
    target = cluster.drivers['host2'].add_domain('vm1', memory_mb=512, uuid=guest['uuid'])
    take = _captured(cluster.compute_api.agents['host2'])
    target['power_state'] = 'paused'            # starting up: active, not "incoming"
    starting = take()
    target['power_state'] = 'running'           # the job's end: resumed on the target
    resumed = take()
    mine = cluster.conductor.reports
    mine.handle(*starting)                      # handled after the next one was taken
    mine.handle(*resumed)
    with cluster.cloud.lock:
        cluster.cloud.domains['host1'].pop(guest['uuid'])
    complete()
    row = db.instance_get(guest['uuid'])
    assert (row['host'], row['power_state']) == ('host2', 'running')
    # And the target's reports from now on keep it so, heartbeats or not.
    for _ in range(3):
        mine.handle(*take())
        batched.flush()
        row = db.instance_get(guest['uuid'])
        assert (row['host'], row['power_state']) == ('host2', 'running')


def test_a_report_the_db_holds_only_in_part_is_written_again(cluster, db):
    """A report whose guest a migration holds elsewhere is not all in the DB: the same
    report again is written in full, not taken for a heartbeat."""
    guest = cluster.drivers['host1'].add_domain('vm1', memory_mb=512)
    cluster.report_all()
    _live_migration(db, guest['uuid'], 'host2')
    cluster.drivers['host2'].add_domain('vm1', memory_mb=512, uuid=guest['uuid'])
    agent = cluster.compute_api.agents['host2']
    mine = cluster.conductor.reports
    full = mine.full_writes
    agent._report()
    agent._report()
    assert mine.full_writes == full + 2


def test_an_older_report_handled_after_a_newer_one_writes_no_guest(cluster, db):
    """Reports of one host handled out of order (several RPC threads): the older one must not
    put the guests back to what the agent saw before, which no heartbeat would notice."""
    driver = cluster.drivers['host1']
    guest = driver.add_domain('vm1', memory_mb=512)
    take = _captured(cluster.compute_api.agents['host1'])
    guest['power_state'] = 'paused'
    older = take()
    guest['power_state'] = 'running'
    newer = take()
    mine = cluster.conductor.reports
    mine.handle(*newer)
    mine.handle(*older)
    assert db.instance_get(guest['uuid'])['power_state'] == 'running'
    mine.handle(*take())
    assert db.instance_get(guest['uuid'])['power_state'] == 'running'


def test_a_heartbeat_queued_before_a_host_down_report_does_not_bring_it_back(cluster, db,
                                                                              batched):
    """The agent lost libvirtd and said so: a heartbeat of a report it sent before, still
    queued for the flush, must not make the host look alive again."""
    cluster.report_all()
    cluster.report_all()                  # queued as heartbeats
    down_at = datetime.datetime.now(datetime.UTC)
    cluster.conductor.report_host_down(None, 'host1', 'libvirtd unreachable: test',
                                       down_at.isoformat())
    marked = db.host_get('host1')['last_heartbeat']
    assert marked < down_at.replace(tzinfo=None) - datetime.timedelta(
        seconds=CONF.conductor.service_down_time)
    batched.flush()
    assert db.host_get('host1')['last_heartbeat'] == marked
    assert db.host_get('host2')['last_heartbeat'] > marked     # the others' beats went in
