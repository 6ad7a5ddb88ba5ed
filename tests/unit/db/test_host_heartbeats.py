"""Database.host_heartbeats: many hosts' heartbeats in one transaction, each a compare-and-swap
on what the host's row says the DB holds of its reports (run on every backend)."""

import datetime

import sqlalchemy as sa

from migrator.db.models import hosts, instances, scheduler_claims, utcnow


def dom(uuid, **kw):
    return {'uuid': uuid, 'name': 'vm-' + uuid, 'power_state': 'running', 'memory_mb': 256,
            'vcpus': 1, 'disk_gb': 1, 'active': True, **kw}


LONG_AGO = datetime.datetime(2000, 1, 1)


def written(db, name, guests, at, digest='d1'):
    """A host's report written in full, its digest recorded."""
    row = db.host_report(name, {'memory_mb': 4096}, at)
    synced = db.instance_sync_host(name, [dom(g) for g in guests], at, digest)
    assert synced['held']
    return row, synced


def beat(name, at, digest='d1', fresh_after=LONG_AGO):
    return (name, digest, at, fresh_after)


def test_heartbeats_of_unchanged_hosts_are_applied_together(db):
    t0 = utcnow() - datetime.timedelta(seconds=60)
    rows = {n: written(db, n, [f'{n}-a', f'{n}-b'], t0) for n in ('h1', 'h2', 'h3')}
    t1 = t0 + datetime.timedelta(seconds=10)
    now, done = db.host_heartbeats([beat(n, t1) for n in ('h1', 'h2', 'h3')])
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
            for n in ('status', 'newer', 'claimed', 'moved', 'gone', 'other', 'writing',
                      'due', 'older-release', 'down', 'same')}
    t1 = t0 + datetime.timedelta(seconds=10)
    db.host_set_status('status', 'disabled', 'operator')      # not the reports': no matter
    newer = db.host_report('newer', {'memory_mb': 4096}, t1 + datetime.timedelta(seconds=5))
    assert newer['usage_reported_at'] > t1                          # a newer report applied
    db.host_report('writing', {'memory_mb': 4096}, t0 + datetime.timedelta(seconds=5))
    db.host_mark_down('down', t0 + datetime.timedelta(seconds=5), t0)   # its agent said
    with db.engine.begin() as conn:
        # A conductor of the release before wrote a report: it knows no digest to clear.
        conn.execute(sa.update(hosts).where(hosts.c.name == 'older-release').values(
            memory_mb=8192, usage_reported_at=t0 + datetime.timedelta(seconds=5)))
        conn.execute(sa.insert(scheduler_claims).values(           # a claim targets it
            migration_id='m1', instance_uuid='x', source_host='same',
            target_host='claimed'))
        conn.execute(sa.update(instances).where(instances.c.uuid == 'moved-a').values(
            name='renamed', updated_at=utcnow()))                   # a guest's row changed
        conn.execute(sa.delete(instances).where(instances.c.uuid == 'gone-a'))  # one fewer
    beats = [beat(n, t1) for n in rows if n not in ('other', 'due')]
    beats.append(beat('other', t1, digest='d2'))                    # another report
    # The last full write (just now) is older than the full-write interval allows.
    beats.append(beat('due', t1, fresh_after=utcnow() + datetime.timedelta(seconds=1)))
    now, done = db.host_heartbeats(beats)
    assert done == {'same', 'status'}
    assert db.host_get('other')['last_heartbeat'] == rows['other'][0]['last_heartbeat']
    assert db.host_get('same')['last_heartbeat'] == now


def test_an_older_report_held_only_in_part_records_no_digest(db):
    """The digest is recorded only for the newest report applied, taken whole."""
    t0 = utcnow() - datetime.timedelta(seconds=60)
    written(db, 'h1', ['a'], t0)
    t1, t2 = t0 + datetime.timedelta(seconds=10), t0 + datetime.timedelta(seconds=20)
    db.host_report('h1', {'memory_mb': 4096}, t2)                  # newer, being written
    assert not db.instance_sync_host('h1', [dom('a')], t1, 'd-old')['held']
    incoming = dom('b', incoming=True)
    assert not db.instance_sync_host('h1', [dom('a'), incoming], t2, 'd-in')['held']
    assert db.host_heartbeats([beat('h1', t2 + datetime.timedelta(seconds=1), 'd-old'),
                               ])[1] == set()
    assert db.host_get('h1')['report_digest'] is None


def test_a_host_row_that_vanished_is_not_heartbeated(db):
    t0 = utcnow() - datetime.timedelta(seconds=60)
    written(db, 'h1', ['a'], t0)
    with db.engine.begin() as conn:
        conn.exec_driver_sql('DELETE FROM instances')
        conn.exec_driver_sql('DELETE FROM hosts')
    assert db.host_heartbeats([beat('h1', t0 + datetime.timedelta(1))])[1] == set()
