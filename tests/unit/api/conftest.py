import pytest

from migrator import conf  # noqa: F401 - registers the options
from migrator.api import app as api_app
from tests.unit.api import fakes


@pytest.fixture
def app(db, conductor):
    return api_app.setup_app(db=db, conductor_api=conductor)


@pytest.fixture
def client(app):
    return fakes.WSGIClient(app)


@pytest.fixture
def cluster(db):
    """Three hosts; vm1 and vm2 on host1, vm3 on host2."""
    for name in ('host1', 'host2', 'host3'):
        fakes.add_host(db, name)
    fakes.add_instances(db, 'host1', 'vm1', 'vm2')
    fakes.add_instances(db, 'host2', 'vm3')
    return db
