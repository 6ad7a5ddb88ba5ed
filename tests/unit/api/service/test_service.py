"""The service layer called directly, without pecan: what the controllers rely on."""

import logging

import pytest

from migrator.api import schemas
from migrator.api.service import drains, handoff, migrations, plans
from migrator.common import context, exceptions, states
from migrator.conductor.tasks import rebalance
from tests.unit.api import fakes


@pytest.fixture
def cluster(db):
    for name in ('host1', 'host2', 'host3'):
        fakes.add_host(db, name)
    fakes.add_instances(db, 'host1', 'vm1', 'vm2')
    return db


def service(cls, db, conductor):
    return cls(db, conductor, context.get_admin_context())


def request(**body):
    body.setdefault('instance', 'vm1')
    return migrations.MigrationRequest.from_body(schemas.validate(schemas.MIGRATION_CREATE,
                                                                  body))


@pytest.mark.parametrize('given,normalised', [(None, None), ('auto', None), (True, True),
                                              (False, False)])
def test_block_migration_is_normalised_once(given, normalised):
    body = {} if given is None else {'block_migration': given}
    assert request(**body).block_migration is normalised


def test_dry_run_and_request_hand_the_conductor_the_same_arguments(cluster, conductor):
    migration_service = service(migrations.MigrationService, cluster, conductor)
    migration_service.dry_run(request(block_migration='auto', dry_run=True))
    migration_service.create(request(block_migration='auto'))
    assert conductor.dry_runs == [(fakes.uuid_of('vm1'), 'live', None, None)]
    assert conductor.block_migrations == [None]


def test_cold_refuses_block_migration():
    with pytest.raises(exceptions.Invalid, match='applies to live migrations only'):
        request(type='cold', block_migration=True)


def test_hand_over_marks_failed_and_reraises_the_cast_error(caplog):
    failed = []

    def cast():
        raise ConnectionError('broker down')

    with pytest.raises(ConnectionError):
        handoff.hand_over(cast, failed.append, 'job 1')
    assert [str(e) for e in failed] == ['broker down']

    def mark_failed(exc):
        raise RuntimeError('db down too')

    with caplog.at_level(logging.ERROR), pytest.raises(ConnectionError):
        handoff.hand_over(cast, mark_failed, 'job 2')
    assert 'Could not mark job 2 failed' in caplog.text


def test_unsent_migration_ends_failed(cluster, conductor):
    conductor.migrate_error = ConnectionError('broker down')
    with pytest.raises(ConnectionError):
        service(migrations.MigrationService, cluster, conductor).create(request())
    [migration] = cluster.migration_list()
    assert migration['status'] == states.FAILED
    assert 'could not reach migrator-conductor: broker down' in migration['error']


def test_unsent_drain_ends_failed_and_gives_the_host_back(cluster, conductor):
    conductor.drain_error = ConnectionError('broker down')
    with pytest.raises(ConnectionError):
        service(drains.DrainService, cluster, conductor).start('host1', 'live')
    job = cluster.drain_latest('host1')
    assert job['status'] == states.DRAIN_FAILED
    assert cluster.host_get('host1')['status'] == 'enabled'


def test_unsent_plan_ends_failed(cluster, conductor):
    plan_id = rebalance.create_plan(cluster, 'balance')['id']
    conductor.apply_error = ConnectionError('broker down')
    with pytest.raises(ConnectionError):
        service(plans.PlanService, cluster, conductor).apply(plan_id)
    plan = cluster.plan_get(plan_id)
    assert plan['status'] == states.PLAN_FAILED
    assert 'could not reach migrator-conductor: broker down' in plan['error']
