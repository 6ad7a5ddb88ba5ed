import pytest

from migrator.conductor import manager
from tests.unit.conductor import fakes


@pytest.fixture
def cluster(db):
    """A conductor named conductor1 and three agents on the fake driver, over the real DB;
    /shared is storage every host sees. Modules that need another shape define their own."""
    conductors = []

    def factory(compute_api):
        conductor = manager.ConductorManager(db, compute_api=compute_api, host='conductor1')
        conductors.append(conductor)
        return conductor

    cluster = fakes.FakeCluster(factory)
    cluster.cloud.shared_dirs.add('/shared')
    yield cluster
    cluster.cloud.release_jobs()
    for conductor in conductors:
        conductor.executor.shutdown(wait=True)
