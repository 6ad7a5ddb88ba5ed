"""The conductor does a migration's steps for whoever asked for it: each event records that
requester, also for a migration that waited in the queue and was started later by another
migration's end (in a thread that served someone else)."""

import threading

from migrator.common import context, states

# Its cluster fixture: four hosts on the fake driver, the host cache always fresh.
from tests.unit.conductor.test_scheduling import _ended, _wait, cluster  # noqa: F401


def _user(name):
    return context.from_record({'user_id': f'{name}-id', 'user_name': name,
                                'project_id': 'ops-id', 'request_id': f'req-{name}'})


def test_every_event_is_recorded_for_the_migrations_requester(db, cluster):  # noqa: F811
    names = ['vm0', 'vm1', 'vm2', 'vm3']
    for name in names:
        cluster.drivers['host1'].add_domain(name, memory_mb=128)
    cluster.report_all()
    cluster.cloud.gate = threading.Event()

    ids = {}
    for name in names:
        ctxt = _user(f'user-{name}')
        # As the API does it: the request's context is current when it writes, and goes
        # with the cast.
        with context.acting_for(ctxt):
            instance = db.instance_get(name)
            migration = db.migration_create({
                'instance_uuid': instance['uuid'], 'type': 'live',
                'source_host': instance['host']})
            cluster.conductor.migrate(ctxt, migration['id'])
        ids[name] = migration['id']

    _wait(lambda: len(db.migration_list(status=states.QUEUED, limit=None)) == 2,
          'two queued behind the two running')
    cluster.cloud.gate.set()
    _wait(lambda: _ended(db, list(ids.values())), 'all ended', timeout=30)

    queued_ones = 0
    for name, migration_id in ids.items():
        migration = db.migration_get(migration_id)
        assert migration['status'] == states.COMPLETED
        assert migration['user_name'] == f'user-{name}'
        steps = [e['to_state'] for e in migration['events']]
        queued_ones += states.QUEUED in steps
        assert {(e['user_name'], e['request_id']) for e in migration['events']} == {
            (f'user-{name}', f'req-user-{name}')}, migration['events']
    assert queued_ones == 2

