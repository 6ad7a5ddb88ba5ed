"""The payload types say what the code sends: each is checked against the code that builds
the payload, so a field added there without its type (or the other way round) fails here."""

import typing

from migrator.common import convergence, payloads
from migrator.compute.virt.libvirt import migration as libvirt_migration
from migrator.conductor import progress
from migrator.db import models


def test_a_migration_record_has_the_columns_of_the_migrations_table():
    columns = set(models.Migration.__table__.columns.keys())
    assert payloads.MigrationRecord.__required_keys__ == columns
    assert payloads.MigrationRecord.__optional_keys__ == {'events'}
    assert payloads.MigrationEvent.__required_keys__ == {
        'time', 'from_state', 'to_state', 'detail', *models.REQUESTER_FIELDS}


def test_a_migration_read_from_the_db_is_a_migration_record(db):
    db.host_report('node-1', {'memory_mb': 4096, 'vcpus': 4, 'disk_gb': 100})
    domain = {'uuid': 'uuid-1', 'name': 'vm-1', 'power_state': 'running', 'active': True,
              'incoming': False, 'memory_mb': 512, 'vcpus': 1, 'disk_gb': 1}
    assert set(domain) == payloads.DomainSummary.__required_keys__
    db.instance_sync_host('node-1', [domain])
    created = db.migration_create({'instance_uuid': 'uuid-1', 'type': 'live'})
    record = db.migration_get(created['id'])
    assert set(record) == (payloads.MigrationRecord.__required_keys__
                           | payloads.MigrationRecord.__optional_keys__)
    assert set(record['events'][0]) == payloads.MigrationEvent.__required_keys__


def test_the_controls_are_the_convergence_fields_with_their_types():
    controls = convergence.effective({'max_downtime_ms': 700.0, 'post_copy': True})
    assert set(controls) == set(convergence.FIELDS) == payloads.MigrationControls.__required_keys__
    hints = typing.get_type_hints(payloads.MigrationControls)
    for name, value in controls.items():
        expected = hints[name]
        if typing.get_origin(expected) is typing.Literal:
            assert value in typing.get_args(expected), name
        else:
            assert type(value) is expected, name
    assert controls['max_downtime_ms'] == 700 and controls['post_copy'] is True


def test_job_stats_name_every_statistic_the_agents_send_and_the_conductor_reads():
    keys = set(payloads.JobStats.__annotations__)
    assert set(libvirt_migration.normalise_stats({})) <= keys
    job = libvirt_migration.LiveMigrationJob.__new__(libvirt_migration.LiveMigrationJob)
    job.stepper, job.post_copy, job.forced, job.forced_by = None, False, None, None
    assert set(job._control_stats()) <= keys
    assert set(progress._COPIED) <= keys


def test_a_live_outcome_and_a_copy_outcome_tell_each_other_apart():
    assert 'volumes' in payloads.DiskCopyOutcome.__required_keys__
    assert 'volumes' not in payloads.LiveJobOutcome.__annotations__
    common = {'success', 'error', 'stats'}
    assert common <= payloads.LiveJobOutcome.__required_keys__
    assert common <= payloads.DiskCopyOutcome.__required_keys__
