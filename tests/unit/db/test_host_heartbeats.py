"""Database.host_heartbeats: many hosts' heartbeats in one transaction, each a compare-and-swap
on what the DB holds for the host (run on every backend)."""

import datetime

import sqlalchemy as sa

from migrator.db.models import instances, scheduler_claims, utcnow


def dom(uuid, **kw):
    return {'uuid': uuid, 'name': 'vm-' + uuid, 'power_state': 'running', 'memory_mb': 256,
            'vcpus': 1, 'disk_gb': 1, 'active': True, **kw}


def written(db, name, guests, at):
    """A host's report written in full; the beat arguments that stand for it."""
    row = db.host_report(name, {'memory_mb': 4096}, at)
    synced = db.instance_sync_host(name, [dom(g) for g in guests], at)
    return row, synced


def beat(name, row, synced, at):
    return (name, row['updated_at'], at, synced['synced_at'], synced['count'])


def test_heartbeats_of_unchanged_hosts_are_applied_together(db):
    t0 = utcnow() - datetime.timedelta(seconds=60)
    rows = {n: written(db, n, [f'{n}-a', f'{n}-b'], t0) for n in ('h1', 'h2', 'h3')}
    t1 = t0 + datetime.timedelta(seconds=10)
    now, done = db.host_heartbeats([beat(n, *rows[n], t1) for n in ('h1', 'h2', 'h3')])
    assert done == {'h1', 'h2', 'h3'}
    for name in ('h1', 'h2', 'h3'):
        row = db.host_get(name)
        assert row['last_heartbeat'] == now and row['updated_at'] == now
        assert row['usage_reported_at'] == t1
        assert row['last_heartbeat'] > rows[name][0]['last_heartbeat']
    # The guests' rows were not rewritten.
    assert {i['updated_at'] for i in db.instance_list()} == {rows['h1'][1]['synced_at'],
                                                            rows['h2'][1]['synced_at'],
                                                            rows['h3'][1]['synced_at']}


def test_a_host_changed_since_is_not_heartbeated(db):
    t0 = utcnow() - datetime.timedelta(seconds=60)
    rows = {n: written(db, n, [f'{n}-a'], t0)
            for n in ('status', 'newer', 'claimed', 'moved', 'gone', 'same')}
    t1 = t0 + datetime.timedelta(seconds=10)
    db.host_set_status('status', 'disabled', 'operator')            # the row changed
    newer = db.host_report('newer', {'memory_mb': 4096}, t1 + datetime.timedelta(seconds=5))
    assert newer['usage_reported_at'] > t1                          # a newer report applied
    with db.engine.begin() as conn:
        conn.execute(sa.insert(scheduler_claims).values(           # a claim targets it
            migration_id='m1', instance_uuid='x', source_host='same',
            target_host='claimed'))
        conn.execute(sa.update(instances).where(instances.c.uuid == 'moved-a').values(
            name='renamed', updated_at=utcnow()))                   # a guest's row changed
        conn.execute(sa.delete(instances).where(instances.c.uuid == 'gone-a'))  # one fewer
    now, done = db.host_heartbeats([beat(n, *rows[n], t1) for n in rows])
    assert done == {'same'}
    assert db.host_get('status')['last_heartbeat'] == rows['status'][0]['last_heartbeat']
    assert db.host_get('same')['last_heartbeat'] == now


def test_a_host_row_that_vanished_is_not_heartbeated(db):
    t0 = utcnow() - datetime.timedelta(seconds=60)
    row, synced = written(db, 'h1', ['a'], t0)
    with db.engine.begin() as conn:
        conn.exec_driver_sql('DELETE FROM instances')
        conn.exec_driver_sql('DELETE FROM hosts')
    assert db.host_heartbeats([beat('h1', row, synced, t0 + datetime.timedelta(1))])[1] == set()
