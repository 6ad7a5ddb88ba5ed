"""The audit's bookkeeping repairs on every backend: each re-checks its condition in its own
transaction and leaves work in progress alone."""

import sqlalchemy as sa

from migrator.common import states as s
from migrator.common import timeutils
from migrator.db import models

LIMITS = {'ram_ratio': 1.0, 'cpu_ratio': 4.0, 'disk_ratio': 1.0, 'reserved_disk_gb': 0,
          'inbound': 5}


def _hosts(db):
    now = timeutils.utcnow()
    with db.engine.begin() as conn:
        for name in ('h1', 'h2'):
            conn.execute(sa.insert(models.hosts).values(
                name=name, memory_mb=4096, vcpus=4, status='enabled', last_heartbeat=now,
                created_at=now, updated_at=now))


def _claimed(db, add_instance, uuid):
    add_instance(uuid, host='h1')
    mig = db.migration_create({'instance_uuid': uuid, 'type': 'live'})
    db.slot_acquire(mig['id'], s.ACCEPTED, 5, 5, 'test')
    assert db.claim_target(mig['id'], uuid, 'h1', 'h2', {'memory_mb': 512, 'vcpus': 1},
                           {**LIMITS, 'heartbeat_after': timeutils.utcnow().replace(year=2000)})
    return mig['id']


def _force_status(db, mid, status):
    with db.engine.begin() as conn:
        conn.execute(sa.update(models.migrations).where(models.migrations.c.id == mid)
                     .values(status=status))


def test_recount_puts_counters_back_to_what_the_claims_say(db, add_instance):
    _hosts(db)
    live = _claimed(db, add_instance, 'u1')
    with db.engine.begin() as conn:
        conn.execute(sa.update(models.hosts).values(claimed_memory_mb=9999,
                                                    outbound_migrations=7))
        conn.execute(sa.update(models.scheduler_counters).values(active_migrations=4))

    changes = db.audit_recount()

    assert ('cluster', 'active_migrations', 4, 1) in changes
    assert ('h1', 'outbound_migrations', 7, 1) in changes
    assert ('h2', 'claimed_memory_mb', 9999, 512) in changes
    assert db.audit_recount() == []
    hosts = {h['name']: h for h in db.host_list()}
    assert hosts['h1']['claimed_memory_mb'] == 0 and hosts['h2']['inbound_migrations'] == 1
    assert db.claim_get(live) is not None


def test_claims_and_locks_of_a_migration_in_flight_are_kept(db, add_instance):
    _hosts(db)
    mid = _claimed(db, add_instance, 'u1')
    assert db.audit_drop_claim(mid) is False
    assert db.audit_clear_lock('u1', mid) is False
    assert db.audit_set_host('u1', 'h1', 'h2') is False     # a migration holds it
    assert db.claim_get(mid) is not None
    assert db.instance_get('u1')['migration_id'] == mid


def test_claims_and_locks_of_an_ended_migration_go(db, add_instance):
    _hosts(db)
    mid = _claimed(db, add_instance, 'u1')
    _force_status(db, mid, s.FAILED)

    assert db.audit_drop_claim(mid) is True
    assert db.audit_clear_lock('u1', mid) is True
    db.audit_recount()

    assert db.claim_get(mid) is None
    assert db.instance_get('u1')['migration_id'] is None
    assert db.scheduler_active_count() == 0
    assert all(h['claimed_memory_mb'] == h['inbound_migrations'] == h['outbound_migrations']
               == 0 for h in db.host_list())
    assert db.audit_set_host('u1', 'h1', 'h2') is True
    assert db.audit_set_host('u1', 'h1', 'h2') is False     # it no longer says h1
    assert db.instance_get('u1')['host'] == 'h2'


def test_snapshot_names_the_state_of_every_migration_a_lock_or_claim_holds(db, add_instance):
    _hosts(db)
    mid = _claimed(db, add_instance, 'u1')
    add_instance('u2', host='h1', migration_id='gone')
    snap = db.audit_snapshot()
    assert snap['migration_status'] == {mid: s.SCHEDULING, 'gone': None}
    assert snap['active_migrations'] == 1
    assert [m['id'] for m in snap['unfinished']] == [mid]
