import datetime
import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from migrator.db import models
from migrator.db.api import Database


def test_sync_from_scratch_concurrently_then_version_and_models_match(server):
    database = Database(server.new_url())
    try:
        assert database.version() is None
        # Two services starting at once both run sync: neither may fail.
        errors = []

        def sync():
            try:
                database.sync()
            except Exception as exc:  # noqa: BLE001 - collected for the assert below
                errors.append(exc)

        threads = [threading.Thread(target=sync) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert database.version() == database.head()
        database.sync()  # idempotent
        assert database.version() == database.head()
        with database.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
        assert diff == []
    finally:
        database.dispose()


def test_datetimes_round_trip_naive_utc_with_microseconds(db):
    naive = datetime.datetime(2024, 2, 29, 23, 59, 58, 123456)
    aware = datetime.datetime(2024, 3, 1, 1, 59, 58, 123456,
                              tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    with db.engine.begin() as conn:
        for name, when in (('naive', naive), ('aware', aware)):
            conn.execute(models.hosts.insert().values(
                name=name, virt_type='kvm', hypervisor_version=0, memory_mb=0,
                memory_mb_used=0, vcpus=0, vcpus_used=0, disk_gb=0, disk_gb_used=0,
                reserved_memory_mb=0, status='enabled', last_heartbeat=when,
                created_at=when, updated_at=when))
    assert db.host_get('naive')['last_heartbeat'] == naive
    assert db.host_get('aware')['last_heartbeat'] == naive  # converted to UTC, naive
    assert db.host_get('naive')['last_heartbeat'].tzinfo is None
