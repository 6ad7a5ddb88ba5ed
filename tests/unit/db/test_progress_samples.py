"""Memory and disk percents, samples and the convergence record, on every backend."""

import pytest

from migrator.common import exceptions
from migrator.common import states as s
from tests.unit.db.test_migrations import walk


def _running(db, add_instance, convergence=None):
    add_instance('u1')
    return walk(db, db.migration_create({'instance_uuid': 'u1', 'type': 'live',
                                         'convergence': convergence}),
                [s.SCHEDULING, s.PREPARING, s.RUNNING])


def test_convergence_settings_round_trip(db, add_instance):
    settings = {'max_downtime_ms': 500, 'downtime_steps': 10, 'bandwidth_mib': 0,
                'auto_converge': True, 'post_copy': False, 'completion_timeout_per_gib': 800,
                'timeout_action': 'abort'}
    mig = _running(db, add_instance, settings)
    assert db.migration_get(mig['id'])['convergence'] == settings


def test_memory_and_disk_percents_never_go_backwards_and_samples_keep_history(
        db, add_instance):
    mig = _running(db, add_instance)
    reports = [
        {'progress': 50.0, 'memory_progress': 60.0, 'disk_progress': 10.0,
         'data_remaining': 2 ** 33, 'transfer_rate': 2 ** 34, 'downtime_limit_ms': 50,
         'elapsed_ms': 1000},
        {'progress': 40.0, 'memory_progress': 55.0, 'disk_progress': 20.0,
         'data_remaining': 2 ** 32, 'downtime_limit_ms': 100, 'eta_seconds': None,
         'elapsed_ms': 1500},
    ]
    for report in reports:
        assert db.migration_update_progress(mig['id'], report, sample=True) is True
    got = db.migration_get(mig['id'])
    assert (got['progress'], got['memory_progress'], got['disk_progress']) == (50, 60, 20)
    assert got['transfer_rate'] == 2 ** 34 and got['downtime_limit_ms'] == 100

    samples = db.migration_sample_list(mig['id'])
    assert [x['progress'] for x in samples] == [50, 50]
    assert [x['memory_progress'] for x in samples] == [60, 60]
    assert [x['disk_progress'] for x in samples] == [10, 20]
    assert [x['data_remaining'] for x in samples] == [2 ** 33, 2 ** 32]
    assert [x['elapsed_ms'] for x in samples] == [1000, 1500]
    assert samples[0]['time'] <= samples[1]['time']
    assert db.migration_sample_count(mig['id']) == 2
    assert [x['id'] for x in db.migration_sample_list(mig['id'], limit=1)] == [samples[1]['id']]
    assert db.migration_sample_list(mig['id'], marker=samples[1]['id']) == []

    # Once the migration ended, a late report changes nothing and adds no sample.
    db.migration_transition(mig['id'], [s.RUNNING], s.ERROR)
    assert db.migration_update_progress(mig['id'], reports[0], sample=True) is False
    assert db.migration_sample_count(mig['id']) == 2
    with pytest.raises(exceptions.MigrationNotFound):
        db.migration_sample_list('no-such-id')


def test_observation_overheads_of_a_host_pair_then_of_the_cluster(db):
    for source, target, overhead in (('a', 'b', 4.0), ('a', 'b', None), ('b', 'a', 9.0),
                                     ('a', 'b', 5.0), ('a', 'c', 6.0)):
        db.observation_create({'instance_uuid': 'u', 'migration_id': 'm',
                               'source_host': source, 'target_host': target,
                               'overhead_seconds': overhead})
    assert db.observation_overheads('a', 'b') == [5.0, 4.0]   # newest first, none skipped
    assert db.observation_overheads('a', 'b', limit=1) == [5.0]
    assert db.observation_overheads('c', 'a') == []
    assert db.observation_overheads(limit=3) == [6.0, 5.0, 9.0]
