import datetime

import pytest

from migrator.common import exceptions


def test_host_report_inserts_then_updates_and_never_touches_status(db):
    first = db.host_report('h1', {'memory_mb': 4096, 'vcpus': 4, 'virt_type': 'qemu',
                                  'address': '127.0.0.2', 'unknown_field': 1})
    assert first['memory_mb'] == 4096 and first['virt_type'] == 'qemu'
    assert first['status'] == 'enabled' and first['memory_mb_used'] == 0
    assert first['last_heartbeat'] is not None
    db.host_set_status('h1', 'maintenance', 'disk swap')
    second = db.host_report('h1', {'memory_mb_used': 1024, 'status': 'enabled',
                                   'status_reason': None})
    assert second['id'] == first['id']
    assert second['status'] == 'maintenance' and second['status_reason'] == 'disk swap'
    assert second['memory_mb'] == 4096 and second['memory_mb_used'] == 1024
    assert second['last_heartbeat'] >= first['last_heartbeat']
    assert second['created_at'] == first['created_at']


def test_host_get_list_and_status_errors(db):
    db.host_report('h2', {})
    db.host_report('h1', {})
    assert [h['name'] for h in db.host_list()] == ['h1', 'h2']
    with pytest.raises(exceptions.HostNotFound):
        db.host_get('nope')
    with pytest.raises(exceptions.HostNotFound):
        db.host_set_status('nope', 'disabled', None)
    with pytest.raises(exceptions.Invalid):
        db.host_set_status('h1', 'broken', None)
    assert db.host_set_status('h1', 'disabled', 'why')['status'] == 'disabled'
    assert db.host_get('h1')['status_reason'] == 'why'


def dom(uuid, active=True, **kw):
    return {'uuid': uuid, 'name': 'vm-' + uuid, 'power_state': 'running' if active else 'shutoff',
            'memory_mb': 256, 'vcpus': 1, 'disk_gb': 1, 'active': active, **kw}


def test_sync_host_active_domains_upsert_and_follow_the_hypervisor(db):
    db.instance_sync_host('h1', [dom('a'), dom('b', active=False)])
    assert {i['uuid']: i['host'] for i in db.instance_list()} == {'a': 'h1', 'b': 'h1'}
    assert db.instance_get('b')['power_state'] == 'shutoff'
    # 'a' now runs on h2 (moved out of band): the hypervisor is the truth.
    db.instance_sync_host('h2', [dom('a', memory_mb=512)])
    a = db.instance_get('a')
    assert a['host'] == 'h2' and a['memory_mb'] == 512
    # h1 no longer reports 'a', but it is h2's now: h1's sync must not delete it.
    db.instance_sync_host('h1', [dom('b', active=False)])
    assert db.instance_get('a')['host'] == 'h2'


def test_sync_host_leaves_instance_with_migration_in_flight_to_its_host(db, add_instance):
    add_instance('a', host='h1', migration_id='m-1')
    # The target's domain, starting up (libvirt: paused, reason "starting up", not yet
    # "migration"): not the guest's state, and not written.
    result = db.instance_sync_host('h2', [dom('a', power_state='paused', vcpus=2)])
    a = db.instance_get('a')
    assert a['host'] == 'h1' and a['power_state'] == 'running' and a['vcpus'] == 1
    assert result['complete'] is False
    # The source's own word still is (a guest paused there to finish the migration).
    result = db.instance_sync_host('h1', [dom('a', power_state='paused', vcpus=2)])
    a = db.instance_get('a')
    assert a['host'] == 'h1' and a['power_state'] == 'paused' and a['vcpus'] == 2
    assert result['complete'] is True


def test_sync_host_of_a_report_older_than_the_applied_one_writes_nothing(db):
    """Reports of one host handled out of order: the older one's sync must not put the
    guests back as the agent saw them before (its rows would also read newer than the
    newer report's, which hides them from the conductor's heartbeat checks)."""
    older = datetime.datetime(2026, 1, 1, 12, 0, 0)
    newer = older + datetime.timedelta(seconds=2)
    db.host_report('h1', {'memory_mb': 4096}, newer)
    db.instance_sync_host('h1', [dom('a'), dom('b')], newer)
    db.host_report('h1', {'memory_mb': 4096}, older)          # dropped: older
    result = db.instance_sync_host('h1', [dom('a', power_state='paused')], older)
    assert result['complete'] is False and result['removed'] == []
    assert db.instance_get('a')['power_state'] == 'running'
    assert db.instance_get('b')['host'] == 'h1'


def test_sync_host_inactive_domain_does_not_steal_an_instance(db, add_instance):
    add_instance('a', host='h1')
    db.instance_sync_host('h2', [dom('a', active=False, memory_mb=1)])
    a = db.instance_get('a')
    assert a['host'] == 'h1' and a['power_state'] == 'running' and a['memory_mb'] == 512
    add_instance('c', host=None)
    db.instance_sync_host('h2', [dom('a', active=False), dom('c', active=False)])
    assert db.instance_get('c')['host'] == 'h2'


def test_sync_host_incoming_domains_are_neither_added_nor_moved(db, add_instance):
    add_instance('a', host='h1', migration_id='m-1')
    db.instance_sync_host('h2', [dom('a', power_state='paused', incoming=True),
                                 dom('new', incoming=True)])
    assert db.instance_get('a')['host'] == 'h1'
    with pytest.raises(exceptions.InstanceNotFound):
        db.instance_get('new')


def test_sync_host_removes_vanished_instances_unless_migrating(db, add_instance):
    add_instance('gone', host='h1')
    add_instance('moving', host='h1', migration_id='m-1')
    add_instance('kept', host='h1')
    add_instance('other', host='h2')
    result = db.instance_sync_host('h1', [dom('kept')])
    assert (result['host'], result['removed'], result['count']) == ('h1', ['gone'], 2)
    assert db.instance_get('kept')['updated_at'] == result['synced_at']
    assert sorted(i['uuid'] for i in db.instance_list()) == ['kept', 'moving', 'other']
    result = db.instance_sync_host('h1', [])
    assert (result['removed'], result['count']) == (['kept'], 1)


def test_instance_get_list_set_host(db, add_instance):
    add_instance('u1', host='h1', name='web')
    add_instance('u2', host='h2', name='db')
    add_instance('u3', host='h2', name='twin')
    add_instance('u4', host='h2', name='twin')
    assert db.instance_get('u1')['name'] == 'web'
    assert db.instance_get('web')['uuid'] == 'u1'
    with pytest.raises(exceptions.InstanceNotFound):
        db.instance_get('WEB')  # case-sensitive on every backend
    with pytest.raises(exceptions.Conflict):
        db.instance_get('twin')
    assert [i['uuid'] for i in db.instance_list(host='h2')] == ['u2', 'u3', 'u4']
    assert db.instance_set_host('u1', 'h3')['host'] == 'h3'
    with pytest.raises(exceptions.InstanceNotFound):
        db.instance_set_host('nope', 'h1')


def test_sync_host_ignores_a_report_older_than_the_instances_last_move(db):
    import datetime
    before = datetime.datetime.now(datetime.UTC)
    db.instance_sync_host('h1', [dom('u1')])
    db.instance_set_host('u1', 'h2')  # e.g. a migration completed after h1 looked
    # h1's report from before the move still lists the domain; h2's omits it.
    db.instance_sync_host('h1', [dom('u1')], reported_at=before)
    db.instance_sync_host('h2', [], reported_at=before)
    assert db.instance_get('u1')['host'] == 'h2'
    # A fresh report is the truth again.
    db.instance_sync_host('h1', [dom('u1')])
    assert db.instance_get('u1')['host'] == 'h1'


def test_a_host_whose_agent_lost_its_hypervisor_is_down_until_a_newer_report(db):
    t0 = datetime.datetime(2026, 11, 29, 12, 0, 0)
    db.host_report('h1', {'memory_mb': 1024}, reported_at=t0)
    down_since = t0 - datetime.timedelta(seconds=31)
    row = db.host_mark_down('h1', t0 + datetime.timedelta(seconds=1), down_since=down_since)
    assert row['last_heartbeat'] == down_since
    # A down report older than the last applied report changes nothing.
    db.host_report('h1', {'memory_mb': 1024}, reported_at=t0 + datetime.timedelta(seconds=5))
    assert db.host_mark_down('h1', t0 + datetime.timedelta(seconds=2), down_since) is None
    assert db.host_mark_down('nope', t0, down_since) is None


def test_a_report_from_before_a_down_mark_does_not_bring_the_host_up_again(db):
    # Two conductors: A marks the host down (its agent lost libvirtd at t0+2); B then writes
    # the agent's report of t0+1, which it had queued. That report is older than the mark:
    # it must neither apply nor refresh the heartbeat the mark set back.
    t0 = datetime.datetime(2026, 12, 7, 12, 0, 0)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    db.host_report('h1', {'memory_mb': 1024}, reported_at=t0)
    down_since = now - datetime.timedelta(seconds=31)
    db.host_mark_down('h1', t0 + datetime.timedelta(seconds=2), down_since=down_since)
    alive_after = now - datetime.timedelta(seconds=30)
    row = db.host_report('h1', {'memory_mb': 2048}, reported_at=t0 + datetime.timedelta(
        seconds=1), alive_after=alive_after)
    assert row['last_heartbeat'] == down_since and row['memory_mb'] == 1024
    # A report from after the mark brings it up.
    row = db.host_report('h1', {'memory_mb': 2048}, reported_at=t0 + datetime.timedelta(
        seconds=3), alive_after=alive_after)
    assert row['last_heartbeat'] >= alive_after and row['memory_mb'] == 2048
    # A host that counts as up: an older report (an agent whose clock stepped back) still
    # says its agent lives.
    stale = db.host_report('h1', {'memory_mb': 4096}, reported_at=t0, alive_after=alive_after)
    assert stale['last_heartbeat'] >= row['last_heartbeat'] and stale['memory_mb'] == 2048


def test_keyset_pages_of_hosts_and_instances(db, add_instance):
    """Pages on every backend: in the listing's order, no row twice or missed, and a marker
    that is not a row of the listing refused."""
    for name in ('h3', 'h1', 'h2'):
        db.host_report(name, {})
    assert [h['name'] for h in db.host_list(limit=2)] == ['h1', 'h2']
    assert [h['name'] for h in db.host_list(limit=2, marker='h2')] == ['h3']
    assert db.host_list(limit=2, marker='h3') == []
    # Two instances share a name: the UUID orders them, and paging keeps both.
    for uuid_, name in (('u3', 'b'), ('u2', 'a'), ('u1', 'a'), ('u4', 'c')):
        add_instance(uuid_, host='h1', name=name)
    first = db.instance_list(limit=2)
    assert [i['uuid'] for i in first] == ['u1', 'u2']
    assert [i['uuid'] for i in db.instance_list(limit=2, marker='u2')] == ['u3', 'u4']
    assert [i['uuid'] for i in db.instance_list(limit=5, marker='u1')] == ['u2', 'u3', 'u4']
    assert db.instance_counts(['h1', 'h2']) == {'h1': 4}
    with pytest.raises(exceptions.Invalid, match="marker 'nope'"):
        db.instance_list(marker='nope')
    with pytest.raises(exceptions.Invalid, match='host name'):
        db.host_list(marker='nope')
