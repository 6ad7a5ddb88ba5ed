"""DELETE /v1/migrations/{id} (abort), and block_migration on POST."""

import json

import oslo_messaging as messaging
import pytest

from migrator.common import exceptions, states
from tests.unit.api import fakes
from tests.unit.api.fakes import assert_error


def _migration(db, name='vm1', path=(), conductor='conductor1', target='host2'):
    """A migration of `name` moved along `path` the way a conductor would."""
    migration = db.migration_create({'instance_uuid': fakes.uuid_of(name), 'type': 'live'})
    for to_state in path:
        values = {'conductor': conductor} if to_state == states.SCHEDULING else None
        if to_state == states.PREPARING:
            values = {'target_host': target}
        migration = db.migration_transition(migration['id'], [migration['status']], to_state,
                                            values=values)
    return migration


RUNNING = (states.SCHEDULING, states.PREPARING, states.RUNNING)


def test_abort_unknown_migration_is_404(client, cluster):
    assert_error(client.request('DELETE', '/v1/migrations/nope'), 404, "'nope'")


def test_abort_takes_no_query_parameters(client, cluster, conductor):
    migration = _migration(cluster)
    assert_error(client.request('DELETE', f"/v1/migrations/{migration['id']}?force=1"), 400,
                 "'force'")
    assert cluster.migration_get(migration['id'])['status'] == states.ACCEPTED


def test_abort_of_an_unstarted_migration_cancels_it_here(client, cluster, conductor):
    migration = _migration(cluster)

    resp = client.request('DELETE', f"/v1/migrations/{migration['id']}")

    assert resp.status_int == 202, resp.text
    body = json.loads(resp.text)
    assert body['status'] == states.CANCELLED
    assert [e['to_state'] for e in body['events']] == ['accepted', 'cancelling', 'cancelled']
    assert 'an operator asked to abort it' in body['error']
    assert conductor.aborts == []
    assert cluster.instance_get('vm1')['migration_id'] is None
    # The instance can be migrated again at once.
    assert client.post('/v1/migrations', {'instance': 'vm1'}).status_int == 202


def test_abort_of_a_running_migration_goes_to_its_conductor(client, cluster, conductor):
    migration = _migration(cluster, path=RUNNING, conductor='conductor7')
    conductor.on_abort = cluster.migration_get

    resp = client.request('DELETE', f"/v1/migrations/{migration['id']}")

    assert resp.status_int == 202, resp.text
    assert json.loads(resp.text)['id'] == migration['id']
    assert conductor.aborts == [('conductor7', migration['id'],
                                 'an operator asked to abort it')]


def test_abort_of_a_migration_a_conductor_took_meanwhile(client, cluster, conductor,
                                                         monkeypatch):
    migration = _migration(cluster)
    conductor.on_abort = cluster.migration_get
    cancel = cluster.migration_cancel_unstarted

    def taken_first(mig_id, reason):
        # A conductor takes the migration between the API's read and its compare-and-swap.
        cluster.migration_transition(mig_id, [states.ACCEPTED], states.SCHEDULING,
                                     values={'conductor': 'conductor2'})
        return cancel(mig_id, reason)

    monkeypatch.setattr(cluster, 'migration_cancel_unstarted', taken_first)
    resp = client.request('DELETE', f"/v1/migrations/{migration['id']}")

    assert resp.status_int == 202, resp.text
    assert [a[0] for a in conductor.aborts] == ['conductor2']


@pytest.mark.parametrize('path,words', [
    (RUNNING + (states.FINISHING,), ('is finishing', 'point of no return', 'host2')),
    (RUNNING + (states.POST_COPY,), ('is post_copy', 'point of no return')),
    (RUNNING + (states.FINISHING, states.COMPLETED), ('already ended completed',)),
    (RUNNING + (states.ROLLING_BACK, states.FAILED), ('already ended failed',)),
    (RUNNING + (states.CANCELLING,), ('already being undone',)),
])
def test_abort_refused_when_it_cannot_be_aborted(client, cluster, conductor, path, words):
    migration = _migration(cluster, path=path)
    before = cluster.migration_get(migration['id'])

    assert_error(client.request('DELETE', f"/v1/migrations/{migration['id']}"), 409, *words)

    assert cluster.migration_get(migration['id']) == before
    assert conductor.aborts == []


def test_abort_refused_by_the_conductor_is_409(client, cluster, conductor):
    migration = _migration(cluster, path=RUNNING)
    conductor.abort_error = exceptions.Conflict('conductor1 does not run it')

    assert_error(client.request('DELETE', f"/v1/migrations/{migration['id']}"), 409,
                 'conductor1 does not run it')


def test_abort_when_the_conductor_is_gone_changes_nothing(client, cluster, conductor):
    migration = _migration(cluster, path=RUNNING)
    conductor.abort_error = messaging.MessagingTimeout('no answer')

    error = assert_error(client.request('DELETE', f"/v1/migrations/{migration['id']}"), 503,
                         'Conductor conductor1', migration['id'], 'nothing was changed')
    assert 'Start that conductor again' in error['message']
    assert cluster.migration_get(migration['id'])['status'] == states.RUNNING


# -- block_migration on POST ----------------------------------------------------------------

@pytest.mark.parametrize('value,stored', [('auto', None), (None, None), (True, True),
                                          (False, False)])
def test_block_migration_values(client, cluster, conductor, value, stored):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'block_migration': value})
    assert resp.status_int == 202, resp.text
    assert json.loads(resp.text)['block_migration'] is stored
    assert conductor.block_migrations == [stored]


def test_block_migration_defaults_to_auto(client, cluster, conductor):
    resp = client.post('/v1/migrations', {'instance': 'vm1'})
    assert resp.status_int == 202, resp.text
    assert json.loads(resp.text)['block_migration'] is None
    assert conductor.block_migrations == [None]


@pytest.mark.parametrize('value', ['yes', 1, 'AUTO'])
def test_block_migration_bad_value(client, cluster, conductor, value):
    resp = client.post('/v1/migrations', {'instance': 'vm1', 'block_migration': value})
    assert_error(resp, 400, "field 'block_migration' must be one of", '"auto"', 'true',
                 'false', json.dumps(value))
    assert cluster.migration_list() == []


def test_shared_storage_only_refused_with_409(client, cluster, conductor):
    conductor.select_error = exceptions.Conflict(
        'block_migration is false (shared storage only), but disks vda (/x/vm1.qcow2) of '
        'instance vm1 are not on storage shared between host1 and host2.')

    resp = client.post('/v1/migrations', {'instance': 'vm1', 'block_migration': False})

    assert_error(resp, 409, 'shared storage only', 'vda')
    assert cluster.migration_list() == []
    assert conductor.casts == []
