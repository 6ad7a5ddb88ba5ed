"""The conductor's DB steps outlive a database outage (db_retry.py), over a real SQLite DB
whose connections fail while the 'outage' lasts."""

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from migrator.common import exceptions, states
from migrator.conductor import db_retry

CONF = cfg.CONF


class Outage:
    """Makes the DB's new transactions fail as a lost server does, `failures` times."""

    def __init__(self, db, failures, after_commit=False):
        self.failures = failures
        self.seen = 0
        real_write, self.real_write = db._write, db._write

        def write():
            if self.failures:
                self.failures -= 1
                self.seen += 1
                if after_commit:
                    # The transaction commits, then the answer is lost with the connection.
                    return _commit_then_fail(real_write())
                raise sa.exc.OperationalError(
                    'BEGIN', {}, Exception('server closed the connection unexpectedly'))
            return real_write()
        db._write = write


class _commit_then_fail:
    def __init__(self, ctx):
        self.ctx = ctx

    def __enter__(self):
        return self.ctx.__enter__()

    def __exit__(self, *exc):
        self.ctx.__exit__(*exc)
        raise sa.exc.OperationalError('COMMIT', {}, Exception('connection reset'))


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(db_retry, 'FIRST_DELAY', 0.01)


def _migration(db):
    db.host_report('h1', {'memory_mb': 1024, 'vcpus': 2})
    db.instance_sync_host('h1', [{'uuid': 'u1', 'name': 'vm1', 'active': True,
                                  'memory_mb': 256, 'vcpus': 1}])
    return db.migration_create({'instance_uuid': 'u1', 'type': 'live'})


def test_a_transition_during_an_outage_happens_once_the_db_returns(db, quick):
    migration = _migration(db)
    retrying = db_retry.RetryingDatabase(db)
    outage = Outage(db, failures=3)
    moved = retrying.migration_transition(migration['id'], [states.ACCEPTED], states.FAILED,
                                          detail='test')
    assert outage.seen == 3 and moved['status'] == states.FAILED
    assert [e['to_state'] for e in db.migration_get(migration['id'])['events']] == \
        [states.ACCEPTED, states.FAILED], 'recorded once'


def test_a_transition_whose_answer_was_lost_counts_as_done(db, quick):
    migration = _migration(db)
    retrying = db_retry.RetryingDatabase(db)
    Outage(db, failures=1, after_commit=True)
    moved = retrying.migration_transition(migration['id'], [states.ACCEPTED], states.FAILED)
    assert moved['status'] == states.FAILED


def test_an_outage_longer_than_the_limit_fails_the_step(db, quick):
    migration = _migration(db)
    CONF.set_override('db_retry_limit', 0, group='conductor')
    try:
        Outage(db, failures=100)
        with pytest.raises(sa.exc.OperationalError):
            db_retry.RetryingDatabase(db).migration_transition(
                migration['id'], [states.ACCEPTED], states.FAILED)
    finally:
        CONF.clear_override('db_retry_limit', group='conductor')


def test_mistakes_and_reports_are_not_retried(db, quick):
    migration = _migration(db)
    retrying = db_retry.RetryingDatabase(db)
    with pytest.raises(exceptions.InvalidStateTransition):
        retrying.migration_transition(migration['id'], [states.ACCEPTED], states.COMPLETED)
    outage = Outage(db, failures=2)
    with pytest.raises(sa.exc.OperationalError):
        retrying.host_report('h1', {'memory_mb': 1024})   # the next report replaces it
    assert outage.seen == 1
